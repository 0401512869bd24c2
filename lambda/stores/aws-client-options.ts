/**
 * Settings every AWS SDK client here shares. The SDK's default `requestTimeout` is 0 (none), so a
 * service brownout (a connection accepted, then silence) would stall a caller until the Lambda or the
 * operator gave up; with these a stalled attempt fails and the client's retry policy takes over.
 *
 * `throwOnRequestTimeout` is what makes the request timeout a timeout: without it the installed
 * @smithy/node-http-handler only logs a warning when `requestTimeout` passes and keeps waiting (the
 * option was long a socket idle timeout, so failing became opt-in).
 *
 * How many attempts a client makes is the SDK's own setting, `AWS_MAX_ATTEMPTS`; a client given an explicit
 * `maxAttempts` no longer reads it, so clients here take theirs from `awsMaxAttempts(default)`. The SDK has no
 * setting for the per-attempt timeout, so `KEY_MANAGER_AWS_REQUEST_TIMEOUT_MS` is ours, read here only
 * (`awsRequestHandler()`): shorter for a service that would rather fall back to its cached keyset than wait 10 s
 * per attempt, longer for a slow link.
 */
import { KeyManagementError } from '../keys/errors';

/** Connect within 3 s, and get the whole answer within 10 s, per attempt (NodeHttpHandler options). */
export const AWS_REQUEST_HANDLER = { connectionTimeout: 3_000, requestTimeout: 10_000, throwOnRequestTimeout: true } as const;

/** Overrides the per-attempt request timeout, in milliseconds. */
export const REQUEST_TIMEOUT_ENV_VAR = 'KEY_MANAGER_AWS_REQUEST_TIMEOUT_MS';
export const MIN_REQUEST_TIMEOUT_MS = 100;
export const MAX_REQUEST_TIMEOUT_MS = 300_000;

/**
 * The request-handler options for a new client: AWS_REQUEST_HANDLER, with the request timeout from
 * KEY_MANAGER_AWS_REQUEST_TIMEOUT_MS when it is set. A value out of range is an error naming the variable.
 */
export function awsRequestHandler(env: NodeJS.ProcessEnv = process.env): { readonly connectionTimeout: number; readonly requestTimeout: number; readonly throwOnRequestTimeout: true } {
  const raw = env[REQUEST_TIMEOUT_ENV_VAR]?.trim();
  if (!raw) return AWS_REQUEST_HANDLER;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < MIN_REQUEST_TIMEOUT_MS || n > MAX_REQUEST_TIMEOUT_MS) {
    throw new KeyManagementError('INVALID_INPUT', `${REQUEST_TIMEOUT_ENV_VAR} must be a whole number of milliseconds from ${MIN_REQUEST_TIMEOUT_MS} to ${MAX_REQUEST_TIMEOUT_MS} (the time each attempt of an AWS call may take), got '${raw.slice(0, 20)}'; fix or unset it`);
  }
  return { ...AWS_REQUEST_HANDLER, requestTimeout: n };
}

/** The SDK's documented setting for the attempts a client makes (first try and retries). */
export const MAX_ATTEMPTS_ENV_VAR = 'AWS_MAX_ATTEMPTS';

/**
 * The attempts a client makes: `AWS_MAX_ATTEMPTS` when it is set (as the SDK itself would read it), else `fallback`,
 * the client's own default. A value that is not a whole number from 1 is an error naming the variable, not a default.
 */
export function awsMaxAttempts(fallback: number, env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[MAX_ATTEMPTS_ENV_VAR]?.trim();
  if (!raw) return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < 1) {
    throw new KeyManagementError('INVALID_INPUT', `${MAX_ATTEMPTS_ENV_VAR} must be a whole number of attempts from 1 (the first try and its retries), got '${raw.slice(0, 20)}'; fix or unset it`);
  }
  return n;
}
