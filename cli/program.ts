/**
 * The `key-manager` command line: global options, command registration, error handling and exit codes
 * (0 ok, 1 the operation failed, 2 usage error).
 */
import { Command, CommanderError } from 'commander';
import { isKeyManagementError, KeyManagementError } from '../lambda/keys/errors';
import { registerAudit } from './commands/audit';
import { registerDestroyVersion } from './commands/destroy-version';
import { registerDisableVersion } from './commands/disable-version';
import { registerEnableVersion } from './commands/enable-version';
import { registerExport } from './commands/export';
import { registerImportLegacy } from './commands/import-legacy';
import { registerReencrypt } from './commands/reencrypt';
import { registerRecover } from './commands/recover';
import { registerDecrypt } from './commands/decrypt';
import { registerDerive } from './commands/derive';
import { registerEncrypt } from './commands/encrypt';
import { registerGenerate } from './commands/generate';
import { registerHealth } from './commands/health';
import { registerInit } from './commands/init';
import { registerRotate } from './commands/rotate';
import { registerStatus } from './commands/status';
import { type CliIo, type CommandRegistrar, EXIT_FAILED, EXIT_OK, EXIT_USAGE, type GlobalOptions, openRuntime, type Runtime, type RunWith } from './runtime';

const registrars: CommandRegistrar[] = [
  registerGenerate,
  registerInit,
  registerStatus,
  registerRotate,
  registerDerive,
  registerEncrypt,
  registerDecrypt,
  registerHealth,
  registerDisableVersion,
  registerEnableVersion,
  registerDestroyVersion,
  registerReencrypt,
  registerExport,
  registerRecover,
  registerImportLegacy,
  registerAudit,
];

/** A KeyManagementError found while reading the command line and its settings: exit 2, not 1. */
class UsageError extends KeyManagementError {
  constructor(cause: KeyManagementError) {
    super(cause.code, cause.message, { cause });
    this.name = 'UsageError';
  }
}

export function processIo(): CliIo {
  return { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env, isTTY: Boolean(process.stdout.isTTY) };
}

export function buildProgram(io: CliIo, setExit: (code: number) => void): Command {
  const program = new Command('key-manager')
    .description('AlphaPulse key management: versioned master keys, data-key derivation, envelopes, rotation')
    .option('--store <uri>', 'keyset store: file:PATH | env: | aws:SECRET_ID | vault:MOUNT/PATH (default: $KEY_MANAGER_STORE or file:.alphapulse/keyset.json)')
    .option('--json', 'machine-readable output')
    .option('--debug', 'print stack traces on failure')
    .option('--audit-log <file>', 'audit log file (default: audit.jsonl beside a file keyset, else ./.alphapulse/audit.jsonl)')
    .option('--region <region>', 'AWS region for the aws store')
    .option('--endpoint-url <url>', 'AWS-compatible endpoint for Secrets Manager (the aws store; else $AWS_ENDPOINT_URL); other services follow AWS_ENDPOINT_URL_<SERVICE>')
    .option('--rotation-days <days>', 'rotation period used for deadlines')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    });

  const run: RunWith = async (body) => {
    let rt: Runtime;
    try {
      rt = await openRuntime(program.opts<GlobalOptions>(), io);
    } catch (err) {
      // A bad --store, --rotation-days or store setting is found before anything is touched: a usage error.
      if (isKeyManagementError(err) && err.code === 'INVALID_INPUT') throw new UsageError(err);
      throw err;
    }
    try {
      const code = await body(rt);
      setExit(typeof code === 'number' ? code : EXIT_OK);
    } finally {
      await rt.metrics.flush();
    }
  };
  for (const register of registrars) register(program, run, io);
  return program;
}

/** Parses `argv` (as process.argv: node, script, ...args), runs the command, returns the exit code. */
export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  let exitCode = EXIT_OK;
  const program = buildProgram(io, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT_OK;
      return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    const debug = program.opts<GlobalOptions>().debug;
    if (err instanceof UsageError) {
      io.stderr.write(`error [${err.code}]: ${err.message}\n`);
      return EXIT_USAGE;
    }
    if (isKeyManagementError(err)) {
      io.stderr.write(`error [${err.code}]: ${err.message}\n`);
    } else {
      const code = (err as NodeJS.ErrnoException).code;
      io.stderr.write(`error [INTERNAL]: ${err instanceof Error ? err.name : 'unexpected failure'}${code ? ` (${code})` : ''}; rerun with --debug for details\n`);
    }
    if (debug && err instanceof Error && err.stack) io.stderr.write(`${err.stack}\n`);
    return EXIT_FAILED;
  }
}
