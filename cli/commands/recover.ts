/**
 * `recover`: verifies a backup (ours or the seed's) and writes its keyset to the store through
 * compare-and-set. It refuses, unless --force, when that would lose keys the store has and the backup
 * lacks, replace a version with other material, or bring back a destroyed version's material; and when
 * the store's keyset is unreadable, since then nothing can be checked. With --force an unreadable file
 * keyset is first copied aside (`keyset.json.corrupt-<time>`), then replaced.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { isSafeRecovery, MAX_BACKUP_TOKEN_CHARS, openBackup, recoveryLosses } from '../../lambda/keys/backup';
import { describeLosses } from '../../lambda/keys/guarded-write';
import { errorCode, KeyManagementError } from '../../lambda/keys/errors';
import { type Keyset, serializeKeyset } from '../../lambda/keys/keyset';
import { contentHandle } from '../../lambda/stores/content-handle';
import type { KeysetSnapshot, KeysetStore } from '../../lambda/stores/store';
import { syncDirectory } from '../../lambda/stores/sync-directory';
import { audited } from '../audited';
import { usageError } from '../failure';
import { dateLegacyVersions } from '../legacy-dates';
import { hiddenAlias, parseIsoTime, parsePositiveWholeNumber, usage } from '../parse';
import { type CommandRegistrar, emit } from '../runtime';
import { readBackupKey, writeNewFile } from './export';

async function readToken(file: string): Promise<string> {
  try {
    const stat = await fs.stat(file);
    if (stat.size > MAX_BACKUP_TOKEN_CHARS + 16) {
      throw new KeyManagementError('BACKUP_INVALID', `${file} is ${stat.size} bytes, too large for a keyset backup; check the path`);
    }
    return (await fs.readFile(file, 'utf8')).trim();
  } catch (err) {
    if (err instanceof KeyManagementError) throw err;
    throw new KeyManagementError('INVALID_INPUT', `cannot read the backup file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'read error'}`);
  }
}

/** A keyset the store holds but cannot parse: its text, and the handle a compare-and-set over it needs. */
interface UnreadableKeyset {
  readonly text: string;
  readonly handle: string;
}

/**
 * The store's unreadable keyset, to be replaced under --force. Only a file store can hand it over: its
 * compare-and-set handle is the hash of the text (content-handle.ts), which recover can compute itself.
 * Secrets Manager and Vault keep the earlier versions, which is the way back there.
 */
async function unreadableKeyset(store: KeysetStore, err: KeyManagementError, force: boolean): Promise<UnreadableKeyset> {
  const problem = err.message.split(';')[0];
  if (store.kind === 'aws') {
    throw new KeyManagementError('KEYSET_INVALID', `the keyset in ${store.location} is unreadable (${problem}); nothing was written — Secrets Manager keeps the versions before it: find the last good one with 'aws secretsmanager list-secret-version-ids --secret-id ${store.location}' and make it AWSCURRENT with 'aws secretsmanager update-secret-version-stage --secret-id ${store.location} --version-stage AWSCURRENT --move-to-version-id <good> --remove-from-version-id <current>'`, { cause: err });
  }
  if (store.kind !== 'file') {
    throw new KeyManagementError('KEYSET_INVALID', `the keyset in ${store.location} is unreadable (${problem}); nothing was written — ${store.kind === 'vault' ? "Vault KV keeps the versions before it: restore the last good one with 'vault kv rollback -version=<good> <mount>/<path>'" : 'restore it where it is kept'}`, { cause: err });
  }
  if (!force) {
    throw new KeyManagementError('KEYSET_INVALID', `the keyset in ${store.location} is unreadable (${problem}), so recover cannot check what the backup would replace; nothing was written — rerun with --force to keep it aside as ${path.basename(store.location)}.corrupt-<time> and write the backup in its place`, { cause: err });
  }
  let text: string;
  try {
    text = await fs.readFile(store.location, 'utf8');
  } catch (readErr) {
    throw new KeyManagementError('STORE_UNAVAILABLE', `cannot read ${store.location} to keep it aside: ${(readErr as NodeJS.ErrnoException).code ?? 'read error'}; nothing was written`, { cause: readErr });
  }
  return { text, handle: contentHandle(text) };
}

/** Copies the unreadable keyset to `<keyset>.corrupt-<UTC time>` (0600, never replacing a file) and returns that path. */
async function keepAside(location: string, text: string, now: Date): Promise<string> {
  const aside = `${location}.corrupt-${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}`;
  await writeNewFile(aside, text);
  await syncDirectory(path.dirname(aside));
  return aside;
}

/**
 * A seed backup's keyset dated by the backup's own timestamp (as the seed wrote it: UTC, without a zone),
 * except versions the store already holds, which keep the store's date so that they compare equal.
 */
function datedSeedKeyset(keyset: Keyset, timestamp: string, current: Keyset | undefined): Keyset {
  let when: string;
  try {
    when = parseIsoTime(timestamp, "the backup's timestamp").toISOString();
  } catch {
    return keyset;
  }
  return dateLegacyVersions(keyset, (v) => {
    const held = current?.versions.find((c) => c.version === v.version && c.material === v.material && c.kdf === v.kdf);
    return held?.createdAt ?? when;
  });
}

export const registerRecover: CommandRegistrar = (program, run) => {
  const command = program
    .command('recover')
    .description('verify a backup (from export, or the seed\'s Python procedure) and write its keyset to the store')
    .requiredOption('--in <file>', 'the encrypted backup')
    .requiredOption('--backup-key-file <file>', 'the backup key written by export (or the seed\'s Fernet key)')
    .option('--max-age-days <days>', 'refuse a backup older than this', usage((v) => parsePositiveWholeNumber(v, '--max-age-days', 5, ' of days')))
    .option('--force', 'write even if versions in the store would be lost, replaced or brought back, or the store\'s keyset is unreadable (kept aside)');
  hiddenAlias(command, '--backup-file <file>', 'in');
  command.action(async (opts: { in: string; backupKeyFile: string; maxAgeDays?: number; force?: boolean }) => {
    for (const [flag, file] of [['--in', opts.in], ['--backup-key-file', opts.backupKeyFile]]) {
      if (!(await fs.stat(file).then((st) => st.isFile(), () => false))) throw usageError('INVALID_INPUT', `${flag} ${file} is not a file that exists; check the path`);
    }
    return run(async (rt) => {
      const force = Boolean(opts.force);
      const out = await audited(rt, 'recover', { detail: `from ${opts.in}` }, async () => {
        const maxAgeSeconds = opts.maxAgeDays === undefined ? undefined : opts.maxAgeDays * 86_400;
        const token = await readToken(opts.in);
        const key = await readBackupKey(opts.backupKeyFile);
        let backup;
        try {
          backup = openBackup(token, key, { now: new Date(), maxAgeSeconds });
        } finally {
          key.destroy();
        }
        if (!rt.store.writable) {
          throw new KeyManagementError('STORE_READ_ONLY', `the ${rt.store.kind} store is read-only; recover into a writable store (--store file:PATH, aws:SECRET_ID or vault:MOUNT/PATH)`);
        }
        let current: KeysetSnapshot | undefined;
        let unreadable: UnreadableKeyset | undefined;
        try {
          current = await rt.store.read();
        } catch (err) {
          if (errorCode(err) === 'KEYSET_INVALID') unreadable = await unreadableKeyset(rt.store, err as KeyManagementError, force);
          else if (errorCode(err) !== 'KEYSET_NOT_FOUND') throw err;
        }
        const keyset = backup.kind === 'seed' ? datedSeedKeyset(backup.keyset, backup.createdAt, current?.keyset) : backup.keyset;
        // What the backup overrides, for the summary; the administration path's guard refuses it unless --force.
        const losses = current ? recoveryLosses(current.keyset, keyset) : { missing: [], differing: [], rederived: [], redated: [], resurrected: [], reenabled: [] };
        const unchanged = current !== undefined && serializeKeyset(current.keyset) === serializeKeyset(keyset);
        let keptAt: string | undefined;
        if (unreadable) {
          keptAt = await keepAside(rt.store.location, unreadable.text, new Date());
          await rt.manager.recover(keyset, { unreadableHandle: unreadable.handle, force });
        } else if (!unchanged) {
          await rt.manager.recover(keyset, { ...(current ? { current } : {}), force });
        }
        const summary = {
          recovered: true,
          unchanged,
          format: backup.kind,
          backupCreatedAt: backup.createdAt,
          primary: keyset.primary,
          versions: keyset.versions.map((v) => v.version),
          forced: force && (!isSafeRecovery(losses) || unreadable !== undefined),
          overridden: losses,
          ...(keptAt !== undefined ? { unreadableKeptAt: keptAt } : {}),
        };
        const detail = [
          `${backup.kind} backup of ${backup.createdAt.slice(0, 40)}, ${keyset.versions.length} versions`,
          !isSafeRecovery(losses) ? `forced over: ${describeLosses(losses)}` : undefined,
          keptAt !== undefined ? `unreadable keyset kept at ${keptAt}` : undefined,
          unchanged ? 'store already held it' : undefined,
        ].filter(Boolean).join(', ');
        return { result: summary, audit: { version: keyset.primary, detail: detail.slice(0, 500) }, outcome: unchanged ? ('skipped' as const) : ('success' as const) };
      });
      const lines = [
        out.unchanged
          ? `the store already holds this keyset (primary ${out.primary}); nothing was written`
          : `recovered ${out.versions.length} versions (primary ${out.primary}) from a ${out.format === 'seed' ? 'seed-format (Python) ' : ''}backup dated ${out.backupCreatedAt} into ${rt.store.location}`,
      ];
      if (!isSafeRecovery(out.overridden)) lines.push(`forced: ${describeLosses(out.overridden)}`);
      if (out.unreadableKeptAt !== undefined) lines.push(`the unreadable keyset it replaced is kept at ${out.unreadableKeptAt} (mode 0600; it may hold key material: delete it once it is no longer needed)`);
      emit(rt, out, lines);
    });
  });
};
