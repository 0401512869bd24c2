/** The NodeHttpHandler options an AWS SDK client was built with. */
export interface RequestHandlerOptions {
  readonly connectionTimeout?: number;
  readonly requestTimeout?: number;
}

/**
 * Reads them from the client's handler. The SDK resolves a plain-object `requestHandler` into a
 * NodeHttpHandler whose options settle asynchronously (`configProvider`) and are copied to its public
 * `httpHandlerConfigs()` only on the first request, so this awaits the provider.
 */
export async function requestHandlerOptions(client: { config: { requestHandler: unknown } }): Promise<RequestHandlerOptions> {
  const handler = client.config.requestHandler as { configProvider?: Promise<RequestHandlerOptions> };
  if (handler.configProvider === undefined) throw new Error('the client has no NodeHttpHandler with pending options');
  return handler.configProvider;
}
