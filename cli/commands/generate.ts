import { randomBytes } from 'node:crypto';
import type { CommandRegistrar } from '../runtime';

/** `generate`: a new base64 256-bit key, as `openssl rand -base64 32` prints one. Touches no store. */
export const registerGenerate: CommandRegistrar = (program, _run, io) => {
  program
    .command('generate')
    .description('print a new random 256-bit key, base64 (for a legacy master key or a backup key); touches no store')
    .action(() => {
      const key = randomBytes(32);
      const text = key.toString('base64');
      key.fill(0);
      io.stdout.write(program.opts().json ? `${JSON.stringify({ key: text, bits: 256, encoding: 'base64' })}\n` : `${text}\n`);
    });
};
