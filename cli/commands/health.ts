import { type CommandRegistrar, emit, EXIT_FAILED, EXIT_OK } from '../runtime';

export const registerHealth: CommandRegistrar = (program, run) => {
  program
    .command('health')
    .description('check the keyset is readable, keys derive and an encrypt/decrypt round trip works; exit 1 on failure')
    .action(() =>
      run(async (rt) => {
        const report = await rt.manager.health();
        emit(rt, report, report.checks.map((c) => `${c.ok ? '✓' : '✗'} ${c.name}: ${c.detail}`));
        return report.ok ? EXIT_OK : EXIT_FAILED;
      }),
    );
};
