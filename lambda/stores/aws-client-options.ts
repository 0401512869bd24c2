/**
 * Settings every AWS SDK client here shares. The SDK's default `requestTimeout` is 0 (none), so a
 * service brownout (a connection accepted, then silence) would stall a caller until the Lambda or the
 * operator gave up; with these a stalled attempt fails and the client's retry policy takes over.
 */

/** Connect within 3 s, and get the whole answer within 10 s, per attempt (NodeHttpHandler options). */
export const AWS_REQUEST_HANDLER = { connectionTimeout: 3_000, requestTimeout: 10_000 } as const;
