import { MAX_ENVELOPE_CHARS } from '../../lambda/keys/envelope';
import { type CommandRegistrar, emit, readInput } from '../runtime';

export const registerDecrypt: CommandRegistrar = (program, run) => {
  program
    .command('decrypt')
    .description('decrypt an envelope (record, compact or legacy AlphaPulse record) from stdin or --in FILE; prints the plaintext bytes')
    .option('--in <file>', 'read the envelope from a file instead of stdin')
    .action((opts: { in?: string }) =>
      run(async (rt) => {
        const envelope = await readInput(rt.io, opts.in, MAX_ENVELOPE_CHARS);
        const result = await rt.manager.decryptDetailed(envelope);
        // The plaintext's bytes exactly as they were, so not through emit's lines.
        if (rt.options.json) emit(rt, { version: result.version, context: result.context, kind: result.kind, plaintextBase64: result.plaintext.toString('base64') }, []);
        else rt.io.stdout.write(result.plaintext);
      }),
    );
};
