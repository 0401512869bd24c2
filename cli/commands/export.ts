/**
 * `export`: the whole keyset sealed in a Fernet token under a backup key kept apart from it. The
 * plaintext keyset is never written anywhere: the only bytes that leave the process are the token
 * (to a file or S3) and, with --backup-key-out, a newly generated backup key (to its own 0600 file).
 *
 * The operations guide asks for the backup and its key to be stored separately, under different access
 * controls: whoever can copy the backups must not get their key with them. So the key never goes into the
 * backup's directory (or below it); the operator names where it goes, or which existing key to use.
 */
import { randomBytes } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { sealBackup } from '../../lambda/keys/backup';
import { KeyManagementError } from '../../lambda/keys/errors';
import { FernetKey } from '../../lambda/keys/fernet';
import { systemRandom } from '../../lambda/keys/random';
import { awsRequestHandler } from '../../lambda/stores/aws-client-options';
import { awsErrorName, isAnswerLost } from '../../lambda/stores/secrets-manager-errors';
import { roleFor } from '../advice';
import { audited } from '../audited';
import { mapAwsError } from '../aws-errors';
import { usageError } from '../failure';
import { hiddenAlias, usage } from '../parse';
import { readKeyFile } from '../secret-file';
import { type CommandRegistrar, emit, type Runtime } from '../runtime';

export interface S3Location {
  readonly bucket: string;
  readonly key: string;
}

/** `s3://bucket/key/with/slashes` → {bucket, key}; anything else is a local path (undefined). */
export function parseS3Uri(uri: string): S3Location | undefined {
  if (!uri.startsWith('s3://')) return undefined;
  const match = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/(.+)$/.exec(uri);
  if (!match) throw new KeyManagementError('INVALID_INPUT', `'${uri.slice(0, 200)}' is not an S3 location; write s3://BUCKET/KEY`);
  return { bucket: match[1], key: match[2] };
}

/** `--out`: an S3 location must be well formed; checked while the command line is read. */
function checkDestination(value: string): string {
  parseS3Uri(value);
  return value;
}

interface ExportTarget {
  /** The backup: a local path or an S3 location. */
  readonly output: string;
  readonly s3?: S3Location;
  /** The backup key's file, existing (`generate` false) or to be created. */
  readonly keyFile: string;
  readonly generate: boolean;
}

/**
 * Checks where the backup and its key go before anything is read or written (usage errors, exit 2): the
 * backup's directory exists and the backup does not; exactly one of --backup-key-file (an existing key)
 * and --backup-key-out (a new one, not yet there); and the key outside the backup's directory tree.
 */
async function exportTarget(opts: { out: string; backupKeyFile?: string; backupKeyOut?: string }): Promise<ExportTarget> {
  const s3 = parseS3Uri(opts.out);
  if (opts.backupKeyFile === undefined && opts.backupKeyOut === undefined) {
    throw usageError('USAGE', 'export needs a backup key kept apart from the backup: --backup-key-file F (an existing key) or --backup-key-out F (a new key to create), outside the directory of --out');
  }
  if (opts.backupKeyFile !== undefined && opts.backupKeyOut !== undefined) {
    throw usageError('USAGE', 'give one backup key: --backup-key-file (an existing key) or --backup-key-out (a new key), not both');
  }
  const generate = opts.backupKeyOut !== undefined;
  const keyFile = path.resolve((opts.backupKeyOut ?? opts.backupKeyFile) as string);
  const flag = generate ? '--backup-key-out' : '--backup-key-file';
  if (generate && (await exists(keyFile))) throw usageError('INVALID_INPUT', `${keyFile} already exists; a new backup key never replaces a file — choose another ${flag}`);
  if (!generate && !(await exists(keyFile))) throw usageError('INVALID_INPUT', `the backup key file ${keyFile} does not exist; give an existing key, or create one with --backup-key-out`);
  const keyDir = await realDirectory(keyFile, flag);
  if (s3) return { output: `s3://${s3.bucket}/${s3.key}`, s3, keyFile, generate };
  const output = path.resolve(opts.out);
  if (await exists(output)) throw usageError('INVALID_INPUT', `${output} already exists; it was not overwritten — choose another --out`);
  const backupDir = await realDirectory(output, '--out');
  if (keyDir === backupDir || keyDir.startsWith(`${backupDir}${path.sep}`)) {
    throw usageError('INVALID_INPUT', `the backup key ${keyFile} would sit with the backup in ${backupDir}; keep the key in another directory (under other access controls), so that a copy of the backups does not carry their key`);
  }
  return { output, keyFile, generate };
}

async function exists(file: string): Promise<boolean> {
  return fs.lstat(file).then(() => true, () => false);
}

/** The real path of the directory `file` is in (symlinks resolved, so two spellings of one directory compare equal). */
async function realDirectory(file: string, flag: string): Promise<string> {
  try {
    return await fs.realpath(path.dirname(file));
  } catch {
    throw usageError('INVALID_INPUT', `the directory of ${flag} ${file} does not exist; create it first`);
  }
}

/** Reads a backup key file (at most a few hundred bytes); the buffer is zeroed once parsed. */
export async function readBackupKey(file: string): Promise<FernetKey> {
  return readKeyFile(file, 'backup key file', 'one 44-character key', (text) => FernetKey.parse(text));
}

/** Creates `file` with mode 0600, refusing to replace anything, and fsyncs it. */
export async function writeNewFile(file: string, data: string): Promise<void> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new KeyManagementError('INVALID_INPUT', `${file} already exists; it was not overwritten — choose another path or move it away`);
    throw new KeyManagementError('STORE_UNAVAILABLE', `cannot create ${file}: ${code ?? 'I/O error'}`);
  }
  try {
    await handle.writeFile(data, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** `newKeyFile`: the backup key generated for this backup, named when the upload's outcome is unknown (it may be the only way in). */
async function putS3(rt: Runtime, target: S3Location, body: string, newKeyFile?: string): Promise<void> {
  // Loaded only here: every other command starts without the S3 client.
  const { S3Client, PutObjectCommand } = await import('@aws-sdk/client-s3');
  // Not --endpoint-url: that names the Secrets Manager endpoint. The SDK itself honours AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL.
  const client = new S3Client({ region: rt.options.region, requestHandler: awsRequestHandler(rt.io.env) });
  try {
    // IfNoneMatch: an existing backup is never replaced (and the write-only Backup Service role needs nothing more).
    await client.send(new PutObjectCommand({ Bucket: target.bucket, Key: target.key, Body: body, ContentType: 'application/octet-stream', IfNoneMatch: '*' }));
  } catch (err) {
    const name = awsErrorName(err);
    const where = `s3://${target.bucket}/${target.key}`;
    if (name === 'PreconditionFailed') throw new KeyManagementError('INVALID_INPUT', `${where} already exists; it was not overwritten — choose another key`);
    if (name === 'NoSuchBucket') throw new KeyManagementError('INVALID_INPUT', `the bucket ${target.bucket} does not exist; check --out (the stack's BackupBucketName output) and --region`);
    if (isAnswerLost(err)) {
      throw new KeyManagementError(
        'STORE_UNAVAILABLE',
        `S3 did not answer s3:PutObject on ${where} (${name}) after the SDK's retries, so whether the backup was stored is unknown${newKeyFile ? `; its new backup key stays at ${newKeyFile}, the one key that would open it` : ''} — look (aws s3api head-object --bucket ${target.bucket} --key ${target.key}) before exporting again; check the network path and any endpoint override (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL)`,
        { cause: err },
      );
    }
    throw mapAwsError(err, { service: 'S3', action: 's3:PutObject', resource: where, role: roleFor('export'), endpointVariable: 'AWS_ENDPOINT_URL_S3' });
  } finally {
    client.destroy();
  }
}

export const registerExport: CommandRegistrar = (program, run) => {
  const command = program
    .command('export')
    .description('back up the whole keyset as a Fernet token (readable by the seed\'s Python recovery) to FILE or s3://BUCKET/KEY, under a backup key kept in another directory')
    .requiredOption('--out <file|s3://bucket/key>', 'where the encrypted backup goes (never overwritten)', usage(checkDestination))
    .option('--backup-key-file <file>', 'an existing backup key (Fernet key), outside the directory of --out')
    .option('--backup-key-out <file>', 'create a new backup key in this new 0600 file, outside the directory of --out');
  hiddenAlias(command, '--output <file|s3://bucket/key>', 'out');
  command.action(async (opts: { out: string; backupKeyFile?: string; backupKeyOut?: string }) => {
    const target = await exportTarget(opts);
    return run(async (rt) => {
      const keyset = await audited(rt, 'export', { detail: `to ${target.output}` }, async () => {
        let keyText: string | undefined;
        let key: FernetKey;
        if (target.generate) {
          keyText = FernetKey.generate(systemRandom);
          key = FernetKey.parse(keyText);
        } else {
          key = await readBackupKey(target.keyFile);
        }
        const { keyset } = await rt.manager.readFresh();
        let token: string;
        try {
          token = sealBackup(keyset, { source: { store: rt.store.kind, location: rt.store.location }, key, now: new Date(), iv: randomBytes(16) });
        } finally {
          key.destroy();
        }
        // The key first: a backup whose key failed to land would open for nobody.
        if (keyText !== undefined) await writeNewFile(target.keyFile, `${keyText}\n`);
        try {
          if (target.s3) await putS3(rt, target.s3, token, keyText !== undefined ? target.keyFile : undefined);
          else await writeNewFile(target.output, token);
        } catch (err) {
          // An upload whose answer never came may have stored the backup: its key stays, or that backup would open for nobody.
          const maybeStored = target.s3 !== undefined && isAnswerLost((err as KeyManagementError).cause);
          if (keyText !== undefined && !maybeStored) await fs.rm(target.keyFile, { force: true });
          throw err;
        }
        return { result: keyset, audit: { version: keyset.primary, detail: `to ${target.output}, ${keyset.versions.length} versions, backup key ${target.generate ? 'generated' : 'given'}` } };
      });
      emit(
        rt,
        { exported: true, output: target.output, backupKeyFile: target.keyFile, backupKeyGenerated: target.generate, versions: keyset.versions.length, primary: keyset.primary },
        [
          `exported ${keyset.versions.length} versions (primary ${keyset.primary}) to ${target.output}`,
          `backup key: ${target.keyFile}${target.generate ? ' (new, mode 0600)' : ''} — keep it apart from the backup; without it the backup cannot be opened`,
        ],
      );
    });
  });
};
