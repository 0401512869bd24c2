import { parseVersionArg } from '../parse';
import { type CommandRegistrar, emit } from '../runtime';

export const registerEnableVersion: CommandRegistrar = (program, run) => {
  program
    .command('enable-version')
    .description('enable a disabled version again (a destroyed version cannot be enabled)')
    .requiredOption('--version <n>', 'the version to enable', parseVersionArg)
    .action((opts: { version: number }) =>
      run(async (rt) => {
        await rt.manager.enableVersion(opts.version);
        emit(rt, { enabled: opts.version }, `enabled version ${opts.version}: data under it decrypts again`);
      }),
    );
};
