/**
 * How the CLI reports on stderr. stdout carries only a command's result (data, or one JSON object with
 * --json); errors and warnings go to stderr, one line each: `error [CODE]: message` and
 * `warning: message`, or with --json `{"error":{"code","message"}}` and `{"warning":{"code","message"}}`.
 */
import type { CliIo, GlobalOptions } from './runtime';

type Json = Pick<GlobalOptions, 'json'>;

export function printError(options: Json, io: Pick<CliIo, 'stderr'>, code: string, message: string): void {
  io.stderr.write(options.json ? `${JSON.stringify({ error: { code, message } })}\n` : `error [${code}]: ${message}\n`);
}

export function printWarning(options: Json, io: Pick<CliIo, 'stderr'>, code: string, message: string): void {
  io.stderr.write(options.json ? `${JSON.stringify({ warning: { code, message } })}\n` : `warning: ${message}\n`);
}
