import { Option } from 'commander';
import { MAX_PLAINTEXT_BYTES, parseEnvelope } from '../../lambda/keys/envelope';
import { KeyManagementError } from '../../lambda/keys/errors';
import { parseContext, usage } from '../parse';
import { type CommandRegistrar, emit, type InputKind, readInput } from '../runtime';

const PLAINTEXT: InputKind = {
  limit: MAX_PLAINTEXT_BYTES,
  tooLarge: (source, limit) => new KeyManagementError('PLAINTEXT_TOO_LARGE', `the input (${source}) is over ${limit} bytes, the most one envelope holds; encrypt it in parts of at most that size`),
  empty: (source) => new KeyManagementError('INVALID_INPUT', `the input (${source}) is empty: nothing to encrypt — pipe the plaintext in or pass --in FILE`),
};

export const registerEncrypt: CommandRegistrar = (program, run) => {
  program
    .command('encrypt')
    .description('encrypt stdin (or --in FILE) under the primary version; prints the envelope')
    .requiredOption('--context <name>', 'e.g. trading_data, user_pii, api_credentials', usage(parseContext))
    .option('--in <file>', 'read the plaintext from a file instead of stdin')
    .addOption(new Option('--format <form>', 'envelope form').choices(['record', 'compact']).default('record'))
    .action((opts: { context: string; in?: string; format: 'record' | 'compact' }) =>
      run(async (rt) => {
        const plaintext = await readInput(rt.io, opts.in, PLAINTEXT);
        const envelope = opts.format === 'compact' ? await rt.manager.encryptCompact(plaintext, opts.context) : await rt.manager.encrypt(plaintext, opts.context);
        plaintext.fill(0);
        const version = typeof envelope === 'string' ? parseEnvelope(envelope).version : envelope.key_version;
        // Without --json the envelope itself is the output (`encrypt > a.json`); with it, the envelope is one field.
        emit(rt, { version, context: opts.context, format: opts.format, envelope }, typeof envelope === 'string' ? envelope : JSON.stringify(envelope));
      }),
    );
};
