import { type CommandRegistrar, emit } from '../runtime';

export const registerRotate: CommandRegistrar = (program, run) => {
  program
    .command('rotate')
    .description('add a version with fresh key material and make it primary')
    .option('--emergency', 'also disable the previous primary in the same write (key compromise)')
    .option('--reason <text>', 'why (recorded on the disabled version and in the audit log)')
    .action((opts: { emergency?: boolean; reason?: string }) =>
      run(async (rt) => {
        const r = await rt.manager.rotate({ emergency: opts.emergency, reason: opts.reason });
        const lines = [`rotated: version ${r.fromVersion} -> ${r.toVersion} (primary)`];
        if (r.disabledVersion !== undefined) {
          lines.push(`disabled version ${r.disabledVersion}: data under it no longer decrypts; re-encrypt it (key-manager reencrypt) before destroying the version`);
        }
        emit(rt, { ...r, emergency: Boolean(opts.emergency) }, lines);
      }),
    );
};
