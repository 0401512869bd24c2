import { type CommandRegistrar, emit } from '../runtime';

export const registerInit: CommandRegistrar = (program, run) => {
  program
    .command('init')
    .description('create a keyset with version 1 (refuses to overwrite an existing keyset)')
    .action(() =>
      run(async (rt) => {
        const keyset = await rt.manager.init();
        emit(rt, { created: true, store: rt.store.kind, location: rt.store.location, primary: keyset.primary }, `created keyset in ${rt.store.location} (${rt.store.kind}), primary version ${keyset.primary}`);
      }),
    );
};
