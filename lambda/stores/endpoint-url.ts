/**
 * Where a store may send a keyset: an endpoint URL given by an operator (`--endpoint-url`, `VAULT_ADDR`,
 * `AWS_ENDPOINT_URL`) must be https, or plain http to this host only — a keyset or a token must never
 * cross a network in cleartext — and must not carry credentials.
 */
import { isIPv4 } from 'node:net';
import { KeyManagementError } from '../keys/errors';

/** `localhost`, `[::1]` or 127.0.0.0/8 (WHATWG URL parsing has already normalised forms such as 127.1 or 0x7f.1). */
export function isLoopback(hostname: string): boolean {
  const host = hostname.toLowerCase();
  if (host === 'localhost' || host === '[::1]') return true;
  return isIPv4(host) && host.startsWith('127.');
}

/**
 * The parsed URL, or INVALID_INPUT naming `setting` and saying what to use instead (`example`). `carries` says what
 * would travel in cleartext, for the message.
 */
export function checkEndpointUrl(value: string, setting: string, carries: string, example: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new KeyManagementError('INVALID_INPUT', `${setting} is not a URL; use e.g. ${example}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new KeyManagementError('INVALID_INPUT', `${setting} must be an http:// or https:// URL, got ${url.protocol}`);
  if (url.protocol === 'http:' && !isLoopback(url.hostname)) {
    throw new KeyManagementError('INVALID_INPUT', `${setting} is http:// to ${url.hostname}, which would send ${carries} in cleartext; use https:// (plain http is accepted only for a loopback address)`);
  }
  if (url.username || url.password) throw new KeyManagementError('INVALID_INPUT', `${setting} must not carry credentials`);
  return url;
}
