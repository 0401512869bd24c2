/**
 * The `key-manager` command line: global options, command registration, error handling and exit codes
 * (0 ok, 1 the operation failed, 2 usage error).
 */
import { Command, CommanderError, Help, Option } from 'commander';
import { isKeyManagementError } from '../lambda/keys/errors';
import { packageVersion } from '../lambda/package-info';
import { registerAudit } from './commands/audit';
import { registerDestroyVersion } from './commands/destroy-version';
import { registerDisableVersion } from './commands/disable-version';
import { registerEnableVersion } from './commands/enable-version';
import { registerExport } from './commands/export';
import { registerImportLegacy } from './commands/import-legacy';
import { registerPurgeHistory } from './commands/purge-history';
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
import { withAdvice } from './advice';
import { printError } from './output';
import { CliFailure, EXIT_FAILED, EXIT_OK, EXIT_USAGE, usageError } from './failure';
import { type CliIo, type CommandRegistrar, type GlobalOptions, openRuntime, type Runtime, type RunWith, storeContext } from './runtime';

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
  registerPurgeHistory,
  registerReencrypt,
  registerExport,
  registerRecover,
  registerImportLegacy,
  registerAudit,
];

export function processIo(): CliIo {
  return { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env, isTTY: Boolean(process.stdout.isTTY) };
}

/** CloudWatch gets this long after a command; its result is printed before, whatever CloudWatch does. */
export const METRICS_FLUSH_TIMEOUT_MS = 3_000;

/**
 * `-V, --version`, shown in the top-level help but read by main() itself, only before the command name:
 * registered with commander it would also swallow the `--version N` of derive, disable-version and the rest.
 */
const VERSION_OPTION = new Option('-V, --version', 'print the version of key-manager');

/** What a run leaves for main(): its exit code, the command that ran, and once it opened one, its runtime. */
interface Session {
  exitCode: number;
  command?: Command;
  runtime?: Runtime;
}

export function buildProgram(io: CliIo, session: Session): Command {
  const program = new Command('key-manager')
    .description('AlphaPulse key management: versioned master keys, data-key derivation, envelopes, rotation')
    .option('--store <uri>', 'keyset store: file:PATH | env: | aws:SECRET_ID | vault:MOUNT/PATH (default: $KEY_MANAGER_STORE or file:.alphapulse/keyset.json)')
    .option('--json', 'machine-readable output: one JSON object on stdout, errors as {"error":{"code","message"}} on stderr')
    .option('--debug', 'print stack traces on failure')
    .option('--audit-log <file>', 'audit log file (default: audit.jsonl beside a file keyset, else a file named for the store under $XDG_STATE_HOME/alphapulse-keys/audit)')
    .option('--region <region>', 'AWS region for the aws store')
    .option('--endpoint-url <url>', 'AWS-compatible endpoint for Secrets Manager (the aws store; else $AWS_ENDPOINT_URL); other services follow AWS_ENDPOINT_URL_<SERVICE>')
    .option('--rotation-days <days>', 'rotation period used for deadlines')
    .configureHelp({
      showGlobalOptions: true,
      visibleOptions(cmd) {
        const options = Help.prototype.visibleOptions.call(this, cmd);
        return cmd.parent ? options : [VERSION_OPTION, ...options];
      },
      optionDescription(option) {
        const text = Help.prototype.optionDescription.call(this, option);
        return option.mandatory ? `${text} (required)` : text;
      },
    })
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      // main() reports every error itself: one line (or JSON object) and a pointer to --help.
      outputError: () => undefined,
    });

  const run: RunWith = async (body) => {
    let rt: Runtime;
    try {
      rt = await openRuntime(program.opts<GlobalOptions>(), io);
    } catch (err) {
      // A bad --store, --rotation-days or store setting is found before anything is touched: a usage error.
      if (isKeyManagementError(err) && err.code === 'INVALID_INPUT') throw usageError(err);
      throw err;
    }
    session.runtime = rt;
    const code = await body(rt);
    session.exitCode = typeof code === 'number' ? code : EXIT_OK;
  };
  for (const register of registrars) register(program, run, io);
  // Remember which command a parse error or action belongs to, so its usage error can point at its help.
  for (const command of [program, ...program.commands]) {
    command.exitOverride((err) => {
      session.command ??= command;
      throw err;
    });
  }
  // Before the command's own options are parsed, so that a bad argument's usage error names it too.
  program.hook('preSubcommand', (_program, subcommand) => {
    session.command = subcommand;
  });
  return program;
}

/** Parses `argv` (as process.argv: node, script, ...args), runs the command, returns the exit code. */
export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  const session: Session = { exitCode: EXIT_OK };
  const program = buildProgram(io, session);
  const args = argv.slice(2);
  if (asksForVersion(program, args)) {
    const version = packageVersion();
    io.stdout.write(args.includes('--json') ? `${JSON.stringify({ version })}\n` : `${version}\n`);
    return EXIT_OK;
  }
  const code = await runProgram(program, argv, io, session);
  // Only now, with the command's output and error line already out: metrics must never hold up or hide
  // the result. The flush is bounded; what it could not send is a warning line (the sink's onError).
  await session.runtime?.metrics.flush({ timeoutMs: METRICS_FLUSH_TIMEOUT_MS });
  return code;
}

/** True when -V/--version comes before any command name, after global options only. */
function asksForVersion(program: Command, args: readonly string[]): boolean {
  const named = (o: Option, arg: string) => arg === o.long || arg === o.short;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (named(VERSION_OPTION, arg)) return true;
    const option = program.options.find((o) => named(o, arg.split('=')[0]));
    if (!option) return false;
    if ((option.required || option.optional) && !arg.includes('=')) i++;
  }
  return false;
}

async function runProgram(program: Command, argv: string[], io: CliIo, session: Session): Promise<number> {
  const options = (): GlobalOptions => ({ ...program.opts<GlobalOptions>(), json: program.opts<GlobalOptions>().json || argv.slice(2).includes('--json') });
  try {
    await program.parseAsync(argv);
    return session.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.exitCode === 0) return EXIT_OK;
      return reportUsage(options(), io, session, 'USAGE', err.message.replace(/^error: /, ''));
    }
    const failed = { command: session.command?.parent ? session.command.name() : undefined, ...(session.runtime ? storeContext(session.runtime) : {}) };
    if (err instanceof CliFailure) {
      if (err.exitCode === EXIT_USAGE) return reportUsage(options(), io, session, err.code, err.message);
      printError(options(), io, err.code, withAdvice(err.code, err.message, failed));
      return err.exitCode;
    }
    if (isKeyManagementError(err)) {
      printError(options(), io, err.code, withAdvice(err.code, err.message, failed));
    } else {
      const code = (err as NodeJS.ErrnoException).code;
      printError(options(), io, 'INTERNAL', `${err instanceof Error ? err.name : 'unexpected failure'}${code ? ` (${code})` : ''}; rerun with --debug for details`);
    }
    if (options().debug && err instanceof Error && err.stack) io.stderr.write(`${err.stack}\n`);
    return EXIT_FAILED;
  }
}

/** A usage error: its line, then (as text) where the command's help is. */
function reportUsage(options: GlobalOptions, io: CliIo, session: Session, code: string, message: string): number {
  printError(options, io, code, message);
  if (!options.json) {
    const command = session.command?.parent ? `key-manager ${session.command.name()} --help` : 'key-manager --help';
    io.stderr.write(`see '${command}'\n`);
  }
  return EXIT_USAGE;
}
