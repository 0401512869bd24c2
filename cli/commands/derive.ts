import { parseContext, parseVersionArg, usage } from '../parse';
import { type CommandRegistrar, emit } from '../runtime';

export const registerDerive: CommandRegistrar = (program, run) => {
  program
    .command('derive')
    .description('derive the data key for a context and print its version and fingerprint (never the key)')
    .requiredOption('--context <name>', 'e.g. trading_data, user_pii, api_credentials', usage(parseContext))
    .option('--version <n>', 'key version (default: the primary)', parseVersionArg)
    .action((opts: { context: string; version?: number }) =>
      run(async (rt) => {
        const dk = await rt.manager.deriveDataKey(opts.context, opts.version);
        dk.key.fill(0);
        emit(rt, { context: opts.context, version: dk.version, fingerprint: dk.fingerprint }, `context ${opts.context}, version ${dk.version}, fingerprint ${dk.fingerprint}`);
      }),
    );
};
