import { KeyManagementError } from './errors';

/**
 * A context names what a data key protects (`trading_data`, `user_pii`, ...). It is validated rather
 * than passed through, so a typo is an error instead of a silently different key. `:` is excluded
 * because the legacy salt is `<context>:v<version>` and the compact envelope is `:`-separated.
 */
export const CONTEXT_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
export const MAX_CONTEXT_LENGTH = 64;

export function validateContext(context: unknown): string {
  if (typeof context !== 'string' || !CONTEXT_PATTERN.test(context)) {
    const shown = typeof context === 'string' ? JSON.stringify(context.length > 80 ? `${context.slice(0, 80)}…` : context) : typeof context;
    throw new KeyManagementError(
      'INVALID_CONTEXT',
      `context ${shown} is not valid: use 1-${MAX_CONTEXT_LENGTH} ASCII letters, digits, '_', '.' or '-', starting with a letter, digit or '_' (e.g. trading_data)`,
    );
  }
  return context;
}
