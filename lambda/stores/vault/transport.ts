/**
 * Vault's HTTP API as the KV store uses it: one request at a time with a deadline covering connect, headers and body
 * (never throwing: an answer or a transport failure), repeatable requests retried on transient failures with
 * jittered exponential backoff, and the errors for a Vault that cannot be reached, is sealed or rate-limits. The
 * token travels only in the `X-Vault-Token` header and is masked in any text of Vault's that is passed on.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { KeyManagementError } from '../../keys/errors';
import { isPlainObject } from '../../keys/json';
import { checkEndpointUrl } from '../endpoint-url';

export const VAULT_ADDR_VAR = 'VAULT_ADDR';
export const VAULT_TOKEN_VAR = 'VAULT_TOKEN';
export const VAULT_NAMESPACE_VAR = 'VAULT_NAMESPACE';
export const VAULT_CACERT_VAR = 'VAULT_CACERT';

/** A keyset is at most 64 KB; anything much larger than that from Vault is not ours to parse. */
const MAX_RESPONSE_BYTES = 512 * 1024;

export interface VaultConnectionOptions {
  /** Vault's address, as `VAULT_ADDR`: `https://vault.example.com:8200`. */
  readonly address: string;
  /** The Vault token (`VAULT_TOKEN`). Sent only as the `X-Vault-Token` header; never in a message. */
  readonly token: string;
  /** Vault Enterprise namespace, sent as `X-Vault-Namespace`. @default none */
  readonly namespace?: string;
  /** PEM of the CA(s) that signed Vault's TLS certificate (the contents of `VAULT_CACERT`). @default the system roots */
  readonly caCert?: string | Buffer;
  /** Deadline for each HTTP request, connect to last byte. @default 5000 */
  readonly timeoutMs?: number;
  /** Attempts per operation when Vault is sealed, unreachable or failing transiently. @default 4 */
  readonly maxAttempts?: number;
  /** Backoff before the first retry; doubles each retry, with full jitter. @default 200 */
  readonly backoffMs?: number;
  /** Cap on one backoff. @default 3000 */
  readonly maxBackoffMs?: number;
  /** Waits between retries; tests pass one that does not wait. @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** One HTTP exchange: an answer from Vault, or a transport failure. */
export type Outcome =
  | { readonly kind: 'response'; readonly status: number; readonly body: unknown }
  | { readonly kind: 'failure'; readonly code: string; readonly mayHaveLanded: boolean; readonly tls: boolean };

export type VaultAnswer = Extract<Outcome, { kind: 'response' }>;

export class VaultTransport {
  /** The address without credentials or query, for messages. */
  readonly displayAddress: string;
  readonly maxAttempts: number;
  readonly namespace?: string;
  private readonly base: URL;
  private readonly token: string;
  private readonly agent: http.Agent;
  private readonly timeoutMs: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;
  readonly sleep: (ms: number) => Promise<void>;

  constructor(options: VaultConnectionOptions) {
    const base = checkEndpointUrl(options.address, VAULT_ADDR_VAR, 'the Vault token', 'https://vault.example.com:8200');
    // Checked here because Node rejects such header values only when the request is made.
    if (!/^[\x21-\x7e]+$/.test(options.token)) {
      throw new KeyManagementError('INVALID_INPUT', `the Vault token is empty or has spaces or characters outside printable ASCII; check ${VAULT_TOKEN_VAR}`);
    }
    if (options.namespace !== undefined && !/^[\x20-\x7e]+$/.test(options.namespace)) {
      throw new KeyManagementError('INVALID_INPUT', `${VAULT_NAMESPACE_VAR} must be printable ASCII on one line`);
    }
    this.base = base;
    this.displayAddress = `${base.origin}${base.pathname.replace(/\/+$/, '')}`;
    this.token = options.token;
    this.namespace = options.namespace;
    this.agent =
      base.protocol === 'https:'
        ? new https.Agent({ keepAlive: false, ...(options.caCert !== undefined ? { ca: options.caCert } : {}) })
        : new http.Agent({ keepAlive: false });
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 4);
    this.backoffMs = options.backoffMs ?? 200;
    this.maxBackoffMs = options.maxBackoffMs ?? 3_000;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /**
   * Sends a request that is safe to repeat, retrying transient failures with backoff; returns Vault's answer.
   * `refused` makes the error for a failure that is not worth retrying (TLS, an oversized answer).
   */
  async repeatable(method: 'GET' | 'POST', apiPath: string, refused: (outcome: Outcome) => KeyManagementError, body?: string): Promise<VaultAnswer> {
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.send(method, apiPath, body);
      if (!isTransient(outcome)) {
        if (outcome.kind === 'response') return outcome;
        throw refused(outcome);
      }
      if (attempt >= this.maxAttempts) throw this.unavailable(outcome, attempt);
      await this.sleep(this.backoff(attempt));
    }
  }

  /** The error for Vault failing `attempts` times in a row; `consequence` says what that means for the operation. */
  unavailable(outcome: Outcome, attempts: number, consequence?: string): KeyManagementError {
    const tail = `after ${attempts} attempt${attempts === 1 ? '' : 's'}${consequence ? `; ${consequence}` : ''}`;
    if (outcome.kind === 'failure') {
      const why =
        outcome.code === 'TIMEOUT'
          ? `did not answer within ${this.timeoutMs} ms`
          : outcome.code === 'ECONNREFUSED' || outcome.code === 'ENOTFOUND' || outcome.code === 'EAI_AGAIN'
            ? `cannot be reached (${outcome.code}); check ${VAULT_ADDR_VAR} and that Vault is running`
            : `failed (${outcome.code})`;
      return new KeyManagementError('STORE_UNAVAILABLE', `Vault at ${this.displayAddress} ${why} ${tail}`);
    }
    const errors = this.safeErrors(outcome.body);
    if (outcome.status === 503 && /sealed/i.test(errors)) {
      return new KeyManagementError('STORE_UNAVAILABLE', `Vault at ${this.displayAddress} is sealed ${tail}; unseal it (vault operator unseal) and retry`);
    }
    if (outcome.status === 429) {
      return new KeyManagementError('THROTTLED', `Vault at ${this.displayAddress} is rate-limiting requests (HTTP 429) ${tail}; retry later`);
    }
    return new KeyManagementError('STORE_UNAVAILABLE', `Vault at ${this.displayAddress} answered HTTP ${outcome.status}${errors ? ` (${errors})` : ''} ${tail}`);
  }

  /** The error for a TLS failure: the CA to trust. */
  tlsFailed(outcome: Extract<Outcome, { kind: 'failure' }>): KeyManagementError {
    return new KeyManagementError('STORE_UNAVAILABLE', `TLS verification of Vault at ${this.displayAddress} failed (${outcome.code}); set ${VAULT_CACERT_VAR} to the PEM file of the CA that signed Vault's certificate`);
  }

  /** Vault's own error strings, trimmed, on one line, without the token should a proxy echo it. */
  safeErrors(body: unknown): string {
    const text = vaultErrors(body).split(this.token).join('[token]');
    return text.replace(/\s+/g, ' ').trim().slice(0, 300);
  }

  backoff(attempt: number): number {
    const ceiling = Math.min(this.maxBackoffMs, this.backoffMs * 2 ** (attempt - 1));
    return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
  }

  /** One request with a deadline covering connect, headers and body. Never throws. */
  send(method: 'GET' | 'POST', apiPath: string, body?: string): Promise<Outcome> {
    const url = new URL(`${this.base.pathname.replace(/\/+$/, '')}${apiPath}`, this.base);
    const headers: http.OutgoingHttpHeaders = { 'X-Vault-Token': this.token, 'X-Vault-Request': 'true', Accept: 'application/json' };
    if (this.namespace) headers['X-Vault-Namespace'] = this.namespace;
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = Buffer.byteLength(body);
    }
    const transport = url.protocol === 'https:' ? https : http;
    return new Promise<Outcome>((resolve) => {
      let settled = false;
      const finish = (outcome: Outcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(outcome);
      };
      const req = transport.request(url, { method, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) {
            req.destroy();
            finish({ kind: 'failure', code: 'RESPONSE_TOO_LARGE', mayHaveLanded: true, tls: false });
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => finish({ kind: 'response', status: res.statusCode ?? 0, body: parseJson(Buffer.concat(chunks).toString('utf8')) }));
        res.on('error', (err: NodeJS.ErrnoException) => finish(failure(err, true)));
      });
      const timer = setTimeout(() => {
        finish({ kind: 'failure', code: 'TIMEOUT', mayHaveLanded: true, tls: false });
        req.destroy();
      }, this.timeoutMs);
      req.on('error', (err: NodeJS.ErrnoException) => finish(failure(err, requestSent(req))));
      req.end(body);
    });
  }
}

/** A transport failure as an outcome: whether the request may have reached Vault, whether TLS refused it. */
function failure(err: NodeJS.ErrnoException, sent: boolean): Outcome {
  const code = err.code ?? 'ERROR';
  const tls = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL/.test(code);
  const neverSent = tls || code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN';
  return { kind: 'failure', code, mayHaveLanded: sent && !neverSent, tls };
}

/** True once the request has a socket that connected: from then on, a write may have reached Vault. */
function requestSent(req: http.ClientRequest): boolean {
  return req.socket !== null && req.socket !== undefined && !req.socket.connecting;
}

/** Failures worth another attempt: Vault sealed or standby, overloaded, rate limiting, unreachable, timed out. */
export function isTransient(outcome: Outcome): boolean {
  if (outcome.kind === 'failure') return !outcome.tls && outcome.code !== 'RESPONSE_TOO_LARGE';
  return outcome.status === 412 || outcome.status === 429 || outcome.status >= 500;
}

/**
 * Whether a failed write may nonetheless have been applied. Sealed (503), rate-limited (429) and
 * consistency (412) answers are given before the write; a 500, a gateway error or a lost connection
 * after sending are not proof of anything.
 */
export function mayHaveLanded(outcome: Outcome): boolean {
  if (outcome.kind === 'failure') return outcome.mayHaveLanded;
  return outcome.status !== 503 && outcome.status !== 429 && outcome.status !== 412;
}

export function vaultErrors(body: unknown): string {
  if (!isPlainObject(body) || !Array.isArray(body.errors)) return '';
  return body.errors.filter((e): e is string => typeof e === 'string').join('; ');
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
