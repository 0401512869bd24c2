/**
 * How the CLI reports on stderr. stdout carries only a command's result (data, or one JSON object with
 * --json); errors and warnings go to stderr, one line each: `error [CODE]: message` and
 * `warning: message`, or with --json `{"error":{"code","message"}}` and `{"warning":{"code","message"}}`.
 * As text each is exactly one line: whatever a message quotes is escaped (terminal-text.ts).
 */
import type { CliIo, GlobalOptions } from './runtime';
import { printable } from './terminal-text';

type Json = Pick<GlobalOptions, 'json'>;

export function printError(options: Json, io: Pick<CliIo, 'stderr'>, code: string, message: string): void {
  io.stderr.write(options.json ? `${JSON.stringify({ error: { code, message } })}\n` : `error [${printable(code)}]: ${printable(message)}\n`);
}

export function printWarning(options: Json, io: Pick<CliIo, 'stderr'>, code: string, message: string): void {
  io.stderr.write(options.json ? `${JSON.stringify({ warning: { code, message } })}\n` : `warning: ${printable(message)}\n`);
}
