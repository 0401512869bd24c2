import { CliFailure, EXIT_OK } from '../failure';
import { type CommandRegistrar, emit } from '../runtime';

export const registerHealth: CommandRegistrar = (program, run) => {
  program
    .command('health')
    .description('check the keyset is readable, keys derive and an encrypt/decrypt round trip works; exit 1 with the failing check\'s error')
    .action(() =>
      run(async (rt) => {
        const report = await rt.manager.health();
        const failed = report.checks.find((c) => !c.ok);
        // An unreadable keyset leaves nothing to report: health fails as any command would, with that error.
        if (failed && report.checks.length === 1) throw new CliFailure(failed.code ?? 'INTERNAL', failed.detail);
        emit(rt, report, report.checks.map((c) => `${c.ok ? '✓' : '✗'} ${c.name}: ${c.ok ? '' : `[${c.code}] `}${c.detail}`));
        if (failed) throw new CliFailure(failed.code ?? 'INTERNAL', `health check '${failed.name}' failed: ${failed.detail}`);
        return EXIT_OK;
      }),
    );
};
