import { parseReason, parseVersionArg, usage } from '../parse';
import { type CommandRegistrar, emit } from '../runtime';

export const registerDisableVersion: CommandRegistrar = (program, run) => {
  program
    .command('disable-version')
    .description('disable a version: decrypting under it then fails with VERSION_DISABLED (the primary cannot be disabled: rotate first, or rotate --emergency)')
    .requiredOption('--version <n>', 'the version to disable', parseVersionArg)
    .requiredOption('--reason <text>', 'why (recorded on the version and in the audit log)', usage(parseReason))
    .action((opts: { version: number; reason: string }) =>
      run(async (rt) => {
        await rt.manager.disableVersion(opts.version, opts.reason);
        emit(rt, { disabled: opts.version, reason: opts.reason }, [
          `disabled version ${opts.version}: data under it no longer decrypts`,
          `next: re-encrypt that data (key-manager reencrypt), then destroy the version (key-manager destroy-version --version ${opts.version} --reason TEXT --confirm), or undo with enable-version`,
        ]);
      }),
    );
};
