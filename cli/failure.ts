/**
 * What the CLI reports when a command does not do its job: a code (an ErrorCode, or INTERNAL / USAGE),
 * a message, and the exit status (1 failed, 2 usage).
 */
import { isKeyManagementError, type KeyManagementError } from '../lambda/keys/errors';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export class CliFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode: number = EXIT_FAILED,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CliFailure';
  }
}

/** A bad argument, store URI or setting, found before anything is read or written: exit 2. */
export function usageError(cause: KeyManagementError): CliFailure;
export function usageError(code: string, message: string): CliFailure;
export function usageError(a: KeyManagementError | string, message?: string): CliFailure {
  if (isKeyManagementError(a)) return new CliFailure(a.code, a.message, EXIT_USAGE, { cause: a });
  return new CliFailure(a, message as string, EXIT_USAGE);
}
