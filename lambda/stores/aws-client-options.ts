/**
 * Settings every AWS SDK client here shares. The SDK's default `requestTimeout` is 0 (none), so a
 * service brownout (a connection accepted, then silence) would stall a caller until the Lambda or the
 * operator gave up; with these a stalled attempt fails and the client's retry policy takes over.
 *
 * `throwOnRequestTimeout` is what makes the request timeout a timeout: without it the installed
 * @smithy/node-http-handler only logs a warning when `requestTimeout` passes and keeps waiting (the
 * option was long a socket idle timeout, so failing became opt-in).
 */

/** Connect within 3 s, and get the whole answer within 10 s, per attempt (NodeHttpHandler options). */
export const AWS_REQUEST_HANDLER = { connectionTimeout: 3_000, requestTimeout: 10_000, throwOnRequestTimeout: true } as const;
