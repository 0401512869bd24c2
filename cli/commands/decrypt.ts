import { MAX_ENVELOPE_CHARS } from '../../lambda/keys/envelope';
import { KeyManagementError } from '../../lambda/keys/errors';
import { type CommandRegistrar, emit, type InputKind, readInput } from '../runtime';

const ENVELOPE: InputKind = {
  limit: MAX_ENVELOPE_CHARS,
  tooLarge: (source, limit) => new KeyManagementError('INVALID_ENVELOPE', `the input (${source}) is over ${limit} bytes, larger than any envelope (one holds at most 64 MiB of plaintext); check that it is an envelope written by encrypt`),
  empty: (source) => new KeyManagementError('INVALID_ENVELOPE', `the input (${source}) is empty: there is no envelope to decrypt — pipe one in or pass --in FILE`),
  blankIsEmpty: true,
};

export const registerDecrypt: CommandRegistrar = (program, run) => {
  program
    .command('decrypt')
    .description('decrypt an envelope (record, compact or legacy AlphaPulse record) from stdin or --in FILE; prints the plaintext bytes')
    .option('--in <file>', 'read the envelope from a file instead of stdin')
    .action((opts: { in?: string }) =>
      run(async (rt) => {
        const envelope = await readInput(rt.io, opts.in, ENVELOPE);
        const result = await rt.manager.decryptDetailed(envelope);
        // The plaintext's bytes exactly as they were, so not through emit's lines.
        if (rt.options.json) emit(rt, { version: result.version, context: result.context, kind: result.kind, plaintextBase64: result.plaintext.toString('base64') }, []);
        else rt.io.stdout.write(result.plaintext);
      }),
    );
};
