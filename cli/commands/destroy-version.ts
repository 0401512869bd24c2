/**
 * `destroy-version`: removes a disabled version's material for good. The key manager writes the keyset
 * without it (metadata kept, `destroyedAt` set), zeroes every data key it had cached for the version
 * and appends the destruction record (`destroy_version`, with the reason) to the audit log.
 */
import { EXIT_FAILED, EXIT_OK, usageError } from '../failure';
import { parseReason, parseVersionArg, usage } from '../parse';
import { warningWithAdvice } from '../advice';
import { type CommandRegistrar, emit, storeContext } from '../runtime';

export const registerDestroyVersion: CommandRegistrar = (program, run) => {
  program
    .command('destroy-version')
    .description('destroy a disabled version: its key material is removed for good, its metadata stays (needs --confirm)')
    .requiredOption('--version <n>', 'the version to destroy', parseVersionArg)
    .requiredOption('--reason <text>', 'why (recorded in the audit log with the destruction)', usage(parseReason))
    .option('--confirm', 'yes: data still encrypted under this version becomes unreadable forever')
    .action((opts: { version: number; reason: string; confirm?: boolean }) => {
      if (!opts.confirm) {
        // A usage error (exit 2): nothing is read or written without --confirm.
        throw usageError('USAGE', `destroy-version removes version ${opts.version}'s key material for good; re-encrypt its data first (key-manager reencrypt), then rerun with --confirm`);
      }
      return run(async (rt) => {
        const warnings = (await rt.manager.destroyVersion(opts.version, opts.reason)).map((w) => warningWithAdvice(w, { command: 'destroy-version', ...storeContext(rt) }));
        const { keyset } = await rt.manager.readFresh();
        const v = keyset.versions.find((x) => x.version === opts.version);
        if (warnings.length > 0) {
          // The keyset no longer holds the material, but the store still does somewhere: not done until that is cleared.
          emit(rt, { destroyed: opts.version, destroyedAt: v?.destroyedAt, complete: false, warnings }, [
            `destroyed version ${opts.version} in the keyset at ${v?.destroyedAt}, but its material is not gone everywhere yet:`,
            ...warnings.map((w) => `  ${w}`),
          ]);
          return EXIT_FAILED;
        }
        emit(rt, { destroyed: opts.version, destroyedAt: v?.destroyedAt, complete: true }, `destroyed version ${opts.version} at ${v?.destroyedAt}: its material is gone; the destruction is recorded in the audit log`);
        return EXIT_OK;
      });
    });
};
