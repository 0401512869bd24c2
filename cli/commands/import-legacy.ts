/**
 * `import-legacy`: the AlphaPulse Python system's master key and version counter become legacy
 * versions 1..N (PBKDF2, as that system derived them) in a writable store, so data it wrote decrypts
 * here. Refuses with KEYSET_EXISTS if the store already has a keyset: merging key histories is a
 * decision for an operator, not a default.
 */
import { KeyManagementError } from '../../lambda/keys/errors';
import type { Keyset } from '../../lambda/keys/keyset';
import { legacyKeyset } from '../../lambda/keys/legacy';
import { EnvStore, KEY_VERSION_VAR, MASTER_KEY_VAR } from '../../lambda/stores/env-store';
import { audited } from '../audited';
import { usageError } from '../failure';
import { dateLegacyVersions } from '../legacy-dates';
import { parseIsoTime, parseVersionArg, usage } from '../parse';
import { type CommandRegistrar, emit } from '../runtime';
import { readKeyFile } from '../secret-file';

async function keysetFromFile(file: string, version: number, createdAt: string): Promise<Keyset> {
  return readKeyFile(file, 'master key file', 'one base64 key of 32 bytes', (text) => legacyKeyset(text, version, createdAt));
}

export const registerImportLegacy: CommandRegistrar = (program, run) => {
  const command = program
    .command('import-legacy')
    .description('import the AlphaPulse Python master key and version counter as legacy versions 1..N into an empty writable store')
    .option('--from-env', `read ${MASTER_KEY_VAR} and ${KEY_VERSION_VAR}`)
    .option('--master-key-file <file>', 'a file holding the base64 master key')
    .option('--version <n>', 'the Python system\'s current key version (with --master-key-file)', parseVersionArg)
    .option('--created-at <iso>', 'creation date recorded on the imported versions, e.g. when the Python key was made (default: now)', usage((v) => parseIsoTime(v, '--created-at')));
  command.action((opts: { fromEnv?: boolean; masterKeyFile?: string; version?: number; createdAt?: Date }) => {
    const fromFile = opts.masterKeyFile !== undefined;
    if (Boolean(opts.fromEnv) === fromFile) throw usageError('USAGE', 'give exactly one of --from-env or --master-key-file FILE --version N');
    if (fromFile && opts.version === undefined) throw usageError('USAGE', `--master-key-file needs --version N (the Python system's ${KEY_VERSION_VAR})`);
    if (!fromFile && opts.version !== undefined) throw usageError('USAGE', `--version goes with --master-key-file; with --from-env the version comes from ${KEY_VERSION_VAR}`);
    return run(async (rt) => {
      const source = fromFile ? `file ${opts.masterKeyFile}` : 'environment';
      const keyset = await audited(rt, 'import_legacy', { detail: `from ${source}` }, async () => {
        if (!rt.store.writable) {
          throw new KeyManagementError('STORE_READ_ONLY', `the ${rt.store.kind} store is read-only; import into a writable store (--store file:PATH, aws:SECRET_ID or vault:MOUNT/PATH)`);
        }
        // A real date (the Python system kept none): stored undated, the versions would read as decades overdue.
        const createdAt = (opts.createdAt ?? new Date()).toISOString();
        const imported = fromFile
          ? await keysetFromFile(opts.masterKeyFile as string, opts.version as number, createdAt)
          : dateLegacyVersions((await new EnvStore(rt.io.env).read()).keyset, () => createdAt);
        // Into an empty store only: an existing keyset is never replaced.
        await rt.manager.importKeyset(imported);
        return { result: imported, audit: { version: imported.primary, detail: `legacy versions 1..${imported.primary} from ${source}` } };
      });
      emit(rt, { imported: true, versions: keyset.versions.map((v) => v.version), primary: keyset.primary, kdf: 'legacy-pbkdf2', store: rt.store.kind, location: rt.store.location }, [
        `imported legacy versions 1..${keyset.primary} (PBKDF2, primary ${keyset.primary}) into ${rt.store.location}`,
        `next: 'key-manager rotate' to make an HKDF version primary; the legacy versions keep decrypting old data`,
      ]);
    });
  });
};
