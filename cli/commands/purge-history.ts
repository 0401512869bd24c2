/**
 * `purge-history`: finishes a `destroy-version` on a store that keeps earlier keysets (Secrets Manager keeps
 * older secret versions until the secret holds more than 100, and never one younger than a day). It stores
 * copies of the current keyset until no older version holds a destroyed version's material.
 */
import { KeyManagementError } from '../../lambda/keys/errors';
import { audited } from '../audited';
import { EXIT_OK, usageError } from '../failure';
import { type CommandRegistrar, emit } from '../runtime';

export const registerPurgeHistory: CommandRegistrar = (program, run, io) => {
  program
    .command('purge-history')
    .description("remove destroyed versions' material from the store's older keysets (the aws store; run a day after destroy-version; needs --confirm)")
    .option('--confirm', 'yes: up to about 100 copies of the current keyset are written as new secret versions')
    .action((opts: { confirm?: boolean }) => {
      if (!opts.confirm) throw usageError('USAGE', 'purge-history writes up to about 100 new versions of the keyset secret to push the old ones out; rerun with --confirm');
      return run(async (rt) => {
        const purge = rt.store.purgeHistory?.bind(rt.store);
        if (!purge) {
          throw new KeyManagementError('INVALID_INPUT', `the ${rt.store.kind} store keeps no history to purge (a file store replaces the file; the vault store destroys old KV versions in the write that destroys a version)`);
        }
        const result = await audited(rt, 'purge_history', {}, async () => {
          const done = await purge((message) => {
            if (!rt.options.json) io.stderr.write(`${message}\n`);
          });
          return { result: done, audit: { detail: `${done.removed} older version(s) holding destroyed material removed; ${done.written} copies of the current keyset written` } };
        });
        emit(
          rt,
          result,
          result.removed === 0 ? 'no older version holds destroyed material: nothing to purge' : `purged: ${result.removed} older version(s) that held destroyed material are gone (${result.written} copies of the current keyset written)`,
        );
        return EXIT_OK;
      });
    });
};
