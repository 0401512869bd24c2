/**
 * `recover`: verifies a backup (ours or the seed's) and writes its keyset to the store through
 * compare-and-set. It refuses, unless --force, when that would lose keys the store has and the backup
 * lacks, replace a version with other material, or bring back a destroyed version's material.
 */
import { promises as fs } from 'node:fs';
import { isSafeRecovery, MAX_BACKUP_TOKEN_CHARS, openBackup, recoveryLosses, type RecoveryLosses } from '../../lambda/keys/backup';
import { KeyManagementError } from '../../lambda/keys/errors';
import { serializeKeyset } from '../../lambda/keys/keyset';
import type { KeysetSnapshot } from '../../lambda/stores/store';
import { audited } from '../audited';
import { hiddenAlias, parsePositiveWholeNumber, usage } from '../parse';
import { type CommandRegistrar, emit } from '../runtime';
import { readBackupKey } from './export';

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

function describeLosses(l: RecoveryLosses): string {
  const parts: string[] = [];
  if (l.missing.length) parts.push(`the store has version(s) ${l.missing.join(', ')} that the backup lacks (data under them would no longer decrypt)`);
  if (l.differing.length) parts.push(`version(s) ${l.differing.join(', ')} hold different key material in the backup (it is of another keyset)`);
  if (l.resurrected.length) parts.push(`version(s) ${l.resurrected.join(', ')} were destroyed and the backup would bring their material back`);
  if (l.reenabled.length) parts.push(`version(s) ${l.reenabled.join(', ')} are disabled in the store and the backup would enable them again (data under them would decrypt)`);
  return parts.join('; ');
}

export const registerRecover: CommandRegistrar = (program, run) => {
  const command = program
    .command('recover')
    .description('verify a backup (from export, or the seed\'s Python procedure) and write its keyset to the store')
    .requiredOption('--in <file>', 'the encrypted backup')
    .requiredOption('--backup-key-file <file>', 'the backup key written by export (or the seed\'s Fernet key)')
    .option('--max-age-days <days>', 'refuse a backup older than this', usage((v) => parsePositiveWholeNumber(v, '--max-age-days', 5, ' of days')))
    .option('--force', 'write even if versions in the store would be lost, replaced or brought back');
  hiddenAlias(command, '--backup-file <file>', 'in');
  command.action((opts: { in: string; backupKeyFile: string; maxAgeDays?: number; force?: boolean }) =>
    run(async (rt) => {
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
        try {
          current = await rt.store.read();
        } catch (err) {
          if (!(err instanceof KeyManagementError) || err.code !== 'KEYSET_NOT_FOUND') throw err;
        }
        const losses = current ? recoveryLosses(current.keyset, backup.keyset) : { missing: [], differing: [], resurrected: [], reenabled: [] };
        if (!isSafeRecovery(losses) && !force) {
          throw new KeyManagementError('INVALID_TRANSITION', `refusing to recover: ${describeLosses(losses)}; nothing was written — rerun with --force only if those keys are meant to go`);
        }
        const unchanged = current !== undefined && serializeKeyset(current.keyset) === serializeKeyset(backup.keyset);
        if (!unchanged) await rt.store.write(backup.keyset, current?.handle ?? null);
        rt.manager.clearCache();
        const summary = {
          recovered: true,
          unchanged,
          format: backup.kind,
          backupCreatedAt: backup.createdAt,
          primary: backup.keyset.primary,
          versions: backup.keyset.versions.map((v) => v.version),
          forced: force && !isSafeRecovery(losses),
          overridden: losses,
        };
        const detail = `${backup.kind} backup of ${backup.createdAt.slice(0, 40)}, ${backup.keyset.versions.length} versions${summary.forced ? `, forced over: ${describeLosses(losses)}` : ''}${unchanged ? ', store already held it' : ''}`;
        return { result: summary, audit: { version: backup.keyset.primary, detail: detail.slice(0, 500) }, outcome: unchanged ? ('skipped' as const) : ('success' as const) };
      });
      const lines = [
        out.unchanged
          ? `the store already holds this keyset (primary ${out.primary}); nothing was written`
          : `recovered ${out.versions.length} versions (primary ${out.primary}) from a ${out.format === 'seed' ? "seed-format (Python) " : ''}backup dated ${out.backupCreatedAt} into ${rt.store.location}`,
      ];
      if (out.forced) lines.push(`forced: ${describeLosses(out.overridden)}`);
      emit(rt, out, lines);
    }),
  );
};
