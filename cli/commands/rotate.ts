/**
 * `rotate`: a new primary version, through the one rotator. On the aws store Secrets Manager runs the
 * rotation (RotateSecret, then its rotation function's four steps) and this command waits, with progress on
 * stderr, until the new version is AWSCURRENT; an emergency rotation pre-stages its keyset (old primary
 * disabled) under the rotation's token first. Elsewhere the rotation is proved and written in-process.
 */
import { Option } from 'commander';
import { parseSecondsArg } from '../parse';
import { type CommandRegistrar, emit } from '../runtime';

export const registerRotate: CommandRegistrar = (program, run, io) => {
  program
    .command('rotate')
    .description('add a version with fresh key material and make it primary (on the aws store, through Secrets Manager\'s rotation)')
    .option('--emergency', 'also disable the previous primary in the same rotation (key compromise); needs --reason')
    .option('--reason <text>', 'why (an incident id): recorded on the disabled version and in the audit log')
    .addOption(new Option('--wait <seconds>', 'on the aws store, how long to wait for Secrets Manager to finish').default(300).argParser(parseSecondsArg))
    .action((opts: { emergency?: boolean; reason?: string; wait: number }) =>
      run(async (rt) => {
        const r = await rt.manager.rotate({
          emergency: opts.emergency,
          reason: opts.reason,
          timeoutMs: opts.wait * 1000,
          onProgress: (message) => {
            if (!rt.options.json) io.stderr.write(`${message}\n`);
          },
        });
        const lines = [`rotated: version ${r.fromVersion} -> ${r.toVersion} (primary)${r.via === 'backend' ? `; Secrets Manager version ${r.rotationId} is AWSCURRENT` : ''}`];
        if (r.disabledVersion !== undefined) {
          lines.push(`disabled version ${r.disabledVersion}: data under it no longer decrypts; re-encrypt it (key-manager reencrypt) before destroying the version`);
        }
        emit(rt, { fromVersion: r.fromVersion, toVersion: r.toVersion, ...(r.disabledVersion !== undefined ? { disabledVersion: r.disabledVersion } : {}), rotationId: r.rotationId, via: r.via, emergency: Boolean(opts.emergency) }, lines);
      }),
    );
};
