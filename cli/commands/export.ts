/**
 * `export`: the whole keyset sealed in a Fernet token under a backup key kept apart from it. The
 * plaintext keyset is never written anywhere: the only bytes that leave the process are the token
 * (to a file or S3) and, when none was given, a newly generated backup key (to its own 0600 file).
 */
import { randomBytes } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { sealBackup } from '../../lambda/keys/backup';
import { KeyManagementError } from '../../lambda/keys/errors';
import { FernetKey } from '../../lambda/keys/fernet';
import { systemRandom } from '../../lambda/keys/random';
import { AWS_REQUEST_HANDLER } from '../../lambda/stores/aws-client-options';
import { awsErrorName } from '../../lambda/stores/secrets-manager-errors';
import { roleFor } from '../advice';
import { audited } from '../audited';
import { mapAwsError } from '../aws-errors';
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

/** Where a generated backup key goes: beside a local output, or in the working directory for S3. */
export function defaultKeyFile(output: string, s3: S3Location | undefined): string {
  return s3 ? path.resolve(`${path.posix.basename(s3.key)}.key`) : `${path.resolve(output)}.key`;
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

async function putS3(rt: Runtime, target: S3Location, body: string): Promise<void> {
  // Loaded only here: every other command starts without the S3 client.
  const { S3Client, PutObjectCommand } = await import('@aws-sdk/client-s3');
  // Not --endpoint-url: that names the Secrets Manager endpoint. The SDK itself honours AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL.
  const client = new S3Client({ region: rt.options.region, requestHandler: AWS_REQUEST_HANDLER });
  try {
    // IfNoneMatch: an existing backup is never replaced (and the write-only Backup Service role needs nothing more).
    await client.send(new PutObjectCommand({ Bucket: target.bucket, Key: target.key, Body: body, ContentType: 'application/octet-stream', IfNoneMatch: '*' }));
  } catch (err) {
    const name = awsErrorName(err);
    const where = `s3://${target.bucket}/${target.key}`;
    if (name === 'PreconditionFailed') throw new KeyManagementError('INVALID_INPUT', `${where} already exists; it was not overwritten — choose another key`);
    if (name === 'NoSuchBucket') throw new KeyManagementError('INVALID_INPUT', `the bucket ${target.bucket} does not exist; check --out (the stack's BackupBucketName output) and --region`);
    throw mapAwsError(err, { service: 'S3', action: 's3:PutObject', resource: where, role: roleFor('export'), endpointVariable: 'AWS_ENDPOINT_URL_S3' });
  } finally {
    client.destroy();
  }
}

export const registerExport: CommandRegistrar = (program, run) => {
  const command = program
    .command('export')
    .description('back up the whole keyset as a Fernet token (readable by the seed\'s Python recovery) to FILE or s3://BUCKET/KEY')
    .requiredOption('--out <file|s3://bucket/key>', 'where the encrypted backup goes (never overwritten)', usage(checkDestination))
    .option('--backup-key-file <file>', 'an existing backup key (Fernet key); default: generate one into a new 0600 file beside the output');
  hiddenAlias(command, '--output <file|s3://bucket/key>', 'out');
  command.action((opts: { out: string; backupKeyFile?: string }) =>
    run(async (rt) => {
      const s3 = parseS3Uri(opts.out);
      const outputPath = s3 ? undefined : path.resolve(opts.out);
      const given = opts.backupKeyFile !== undefined;
      const keyFile = path.resolve(opts.backupKeyFile ?? defaultKeyFile(opts.out, s3));
      if (keyFile === outputPath) {
        throw new KeyManagementError('INVALID_INPUT', 'the backup key file and the backup are the same file; keep the key apart from the backup it opens');
      }
      const destination = s3 ? `s3://${s3.bucket}/${s3.key}` : (outputPath as string);
      const keyset = await audited(rt, 'export', { detail: `to ${destination}` }, async () => {
        let keyText: string | undefined;
        let key: FernetKey;
        if (given) {
          key = await readBackupKey(keyFile);
        } else {
          keyText = FernetKey.generate(systemRandom);
          key = FernetKey.parse(keyText);
        }
        const { keyset } = await rt.manager.readFresh();
        let token: string;
        try {
          token = sealBackup(keyset, { source: { store: rt.store.kind, location: rt.store.location }, key, now: new Date(), iv: randomBytes(16) });
        } finally {
          key.destroy();
        }
        // The key first: a backup whose key failed to land would open for nobody.
        if (keyText !== undefined) await writeNewFile(keyFile, `${keyText}\n`);
        try {
          if (s3) await putS3(rt, s3, token);
          else await writeNewFile(outputPath as string, token);
        } catch (err) {
          if (keyText !== undefined) await fs.rm(keyFile, { force: true });
          throw err;
        }
        return { result: keyset, audit: { version: keyset.primary, detail: `to ${destination}, ${keyset.versions.length} versions, backup key ${given ? 'given' : 'generated'}` } };
      });
      emit(
        rt,
        { exported: true, output: destination, backupKeyFile: keyFile, backupKeyGenerated: !given, versions: keyset.versions.length, primary: keyset.primary },
        [
          `exported ${keyset.versions.length} versions (primary ${keyset.primary}) to ${destination}`,
          `backup key: ${keyFile}${given ? '' : ' (new, mode 0600)'} — store it apart from the backup; without it the backup cannot be opened`,
        ],
      );
    }),
  );
};
