/**
 * HashiCorp Vault KV v2 store, for staging: `vault:MOUNT/PATH`, default `vault:alphapulse/encryption/master_key`.
 *
 * The keyset is the JSON string in the secret's `value` field. The secret the seed wrote holds a bare
 * base64 master key there instead (and optionally `version`, the legacy counter): that is read as the
 * legacy keyset (versions 1..N of that key, `legacy-pbkdf2`), and the first write replaces it with the
 * keyset document.
 *
 * Compare-and-set is KV v2's `options.cas`: the handle is the KV version read, a write sends it as
 * `cas` (0 to create), and Vault refuses the write if another landed in between.
 *
 * Normal operation uses only `GET` and `POST` on `MOUNT/data/PATH`, so the seed's policy (`read`,
 * `create`, `update` on `alphapulse/data/encryption/*`) is enough. Destroying a key version is the one
 * exception: KV v2 keeps earlier versions of the secret, which still hold the destroyed material, so
 * those are destroyed too (`MOUNT/destroy/PATH`, listed through `MOUNT/metadata/PATH` when readable).
 *
 * Retries: reads retry transient failures (sealed, unreachable, 5xx, 429, timeout) with jittered
 * exponential backoff. A write whose outcome is unknown (timeout, reset, 500/502/504) is never blindly
 * resent: the version it would have created is read back first; if it holds this document the write
 * landed and is reported as done, if it holds another the write lost a race (CONFLICT), and only if it
 * does not exist is the write resent, still with the same `cas`, so it can land at most once.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { readFileSync } from 'node:fs';
import { checkEndpointUrl } from './endpoint-url';
import { ConflictError, KeyManagementError, KeysetInvalidError } from '../keys/errors';
import { type Keyset, keysetText, parseKeyset } from '../keys/keyset';
import { legacyKeyset, MAX_LEGACY_VERSIONS } from '../keys/legacy';
import { isPlainObject } from '../keys/json';
import type { KeysetSnapshot, KeysetStore } from './store';

export const DEFAULT_VAULT_TARGET = 'alphapulse/encryption/master_key';
export const VAULT_ADDR_VAR = 'VAULT_ADDR';
export const VAULT_TOKEN_VAR = 'VAULT_TOKEN';
export const VAULT_NAMESPACE_VAR = 'VAULT_NAMESPACE';
export const VAULT_CACERT_VAR = 'VAULT_CACERT';

/** KV v2's answer to a `cas` that is not the current version. */
const CAS_MISMATCH = 'check-and-set parameter did not match the current version';
/** A keyset is at most 64 KB; anything much larger than that from Vault is not ours to parse. */
const MAX_RESPONSE_BYTES = 512 * 1024;
const SEGMENT = /^[A-Za-z0-9_.@-]+$/;

export interface VaultStoreOptions {
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

export interface VaultPath {
  /** The KV v2 mount (the first segment of the target). */
  readonly mount: string;
  /** The secret's path inside the mount. */
  readonly path: string;
}

/**
 * Splits `MOUNT/PATH`. The mount is the first segment (`alphapulse`), the rest the secret's path
 * (`encryption/master_key`); segments are letters, digits and `_ . @ -`.
 */
export function parseVaultTarget(target: string): VaultPath {
  const segments = target.trim().replace(/^\/+|\/+$/g, '').split('/');
  if (segments.length < 2 || segments.some((s) => !SEGMENT.test(s) || s === '.' || s === '..')) {
    throw new KeyManagementError(
      'INVALID_INPUT',
      `vault store target '${target.slice(0, 100)}' must be MOUNT/PATH with plain segments (letters, digits, _ . @ -), e.g. vault:${DEFAULT_VAULT_TARGET}`,
    );
  }
  return { mount: segments[0], path: segments.slice(1).join('/') };
}

/** Builds the store's connection options from VAULT_ADDR, VAULT_TOKEN, VAULT_NAMESPACE and VAULT_CACERT. */
export function vaultOptionsFromEnv(env: NodeJS.ProcessEnv): VaultStoreOptions {
  const address = env[VAULT_ADDR_VAR]?.trim();
  if (!address) throw new KeyManagementError('INVALID_INPUT', `${VAULT_ADDR_VAR} is not set; export the Vault address, e.g. ${VAULT_ADDR_VAR}=https://vault.example.com:8200`);
  const token = env[VAULT_TOKEN_VAR]?.trim();
  if (!token) throw new KeyManagementError('INVALID_INPUT', `${VAULT_TOKEN_VAR} is not set; export a Vault token whose policy grants read, create and update on the keyset path (vault login, then export ${VAULT_TOKEN_VAR})`);
  const caPath = env[VAULT_CACERT_VAR]?.trim();
  let caCert: Buffer | undefined;
  if (caPath) {
    try {
      caCert = readFileSync(caPath);
    } catch (err) {
      throw new KeyManagementError('INVALID_INPUT', `cannot read ${VAULT_CACERT_VAR} file ${caPath}: ${(err as NodeJS.ErrnoException).code ?? 'read error'}`);
    }
  }
  const namespace = env[VAULT_NAMESPACE_VAR]?.trim();
  return { address, token, ...(namespace ? { namespace } : {}), ...(caCert ? { caCert } : {}) };
}

/** Opens `vault:TARGET` with its connection settings from the environment. */
export function openVaultStore(target: string, env: NodeJS.ProcessEnv): VaultStore {
  return new VaultStore(parseVaultTarget(target), vaultOptionsFromEnv(env));
}

/** One HTTP exchange: an answer from Vault, or a transport failure. */
type Outcome =
  | { readonly kind: 'response'; readonly status: number; readonly body: unknown }
  | { readonly kind: 'failure'; readonly code: string; readonly mayHaveLanded: boolean; readonly tls: boolean };

type VaultAnswer = Extract<Outcome, { kind: 'response' }>;

/** What reading one KV version found. */
type VersionRead =
  | { readonly found: true; readonly data: Record<string, unknown>; readonly version: number }
  | { readonly found: false; readonly body: unknown };

export class VaultStore implements KeysetStore {
  readonly kind = 'vault';
  readonly writable = true;
  readonly location: string;
  private readonly base: URL;
  private readonly displayAddress: string;
  private readonly paths: { readonly data: string; readonly metadata: string; readonly destroy: string };
  private readonly policyPath: string;
  private readonly token: string;
  private readonly namespace?: string;
  private readonly agent: http.Agent;
  private readonly timeoutMs: number;
  private readonly maxAttempts: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    readonly target: VaultPath,
    options: VaultStoreOptions,
  ) {
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
    this.location = `vault:${target.mount}/${target.path}`;
    this.policyPath = `${target.mount}/data/${target.path}`;
    const api = (endpoint: string): string => `/v1/${encodeURIComponent(target.mount)}/${endpoint}/${target.path.split('/').map(encodeURIComponent).join('/')}`;
    this.paths = { data: api('data'), metadata: api('metadata'), destroy: api('destroy') };
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

  async read(): Promise<KeysetSnapshot> {
    const got = await this.readVersion();
    if (!got.found) throw this.notFound(got.body);
    return this.snapshot(got.data, got.version);
  }

  async write(next: Keyset, expected: string | null): Promise<KeysetSnapshot> {
    const text = keysetText(next);
    const cas = expected === null ? 0 : parseHandle(expected);
    const version = await this.put(text, cas, expected);
    // The keyset is written whatever happens next: a failed purge of old KV versions is a warning to act on,
    // not a failed write (the caller must adopt the new keyset and audit the change as made).
    const warning = await this.destroyHistory(next, cas, version).then(
      () => undefined,
      (err: unknown) => {
        if (err instanceof KeyManagementError) return `[${err.code}] ${err.message}`;
        throw err;
      },
    );
    return { keyset: next, handle: String(version), ...(warning ? { warnings: [warning] } : {}) };
  }

  /** Writes `text` with `cas`, at most once whatever the network does; returns the KV version written. */
  private async put(text: string, cas: number, expected: string | null): Promise<number> {
    // KV v2 numbers versions consecutively, so a write with cas N creates version N+1.
    const ours = cas + 1;
    const capability = expected === null ? 'create' : 'update';
    const body = JSON.stringify({ options: { cas }, data: { value: text } });
    let uncertain = false;
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.send('POST', this.paths.data, body);
      if (outcome.kind === 'response') {
        if (outcome.status === 200 || outcome.status === 204) {
          return kvVersion((outcome.body as { data?: unknown } | undefined)?.data) ?? ours;
        }
        if (outcome.status === 400 && vaultErrors(outcome.body).includes(CAS_MISMATCH)) {
          // Our own earlier attempt may be the write that moved the version on.
          if (uncertain && (await this.whoWrote(ours, text)) === 'us') return ours;
          throw this.lostRace(expected);
        }
        if (outcome.status === 403) throw this.denied(capability);
      }
      if (!isTransient(outcome)) throw this.unexpected(outcome, capability);
      if (mayHaveLanded(outcome)) {
        uncertain = true;
        const writer = await this.whoWrote(ours, text);
        if (writer === 'us') return ours;
        if (writer === 'another') throw this.lostRace(expected);
      }
      if (attempt >= this.maxAttempts) {
        throw this.unavailable(
          outcome,
          attempt,
          uncertain
            ? `an attempt got no answer and had not landed when checked; run 'key-manager --store ${this.location} status' before retrying`
            : 'the keyset was not written; retry when Vault is back',
        );
      }
      await this.sleep(this.backoff(attempt));
    }
  }

  /** Reads the latest KV version, or `version`. */
  private async readVersion(version?: number): Promise<VersionRead> {
    const query = version === undefined ? '' : `?version=${version}`;
    const res = await this.repeatable('GET', `${this.paths.data}${query}`, 'read');
    if (res.status === 200) return this.parseRead(res.body);
    if (res.status === 404) return { found: false, body: res.body };
    if (res.status === 403) throw this.denied('read');
    throw this.unexpected(res, 'read');
  }

  /**
   * KV v2 keeps earlier versions of the secret, and those still hold the material of a key version
   * this write marks destroyed: destroy them too (KV `destroy`), or destroy would not mean gone. Runs
   * only when the version this write replaced still held such material, so later writes cost nothing.
   * Needs `update` on MOUNT/destroy/PATH, which the seed's policy deliberately lacks; `read` on
   * MOUNT/metadata/PATH lists the versions when granted, else every earlier version is read.
   */
  private async destroyHistory(next: Keyset, base: number, written: number): Promise<void> {
    const destroyed = next.versions.filter((v) => v.state === 'destroyed').map((v) => v.version);
    if (destroyed.length === 0 || base === 0) return;
    const command = (versions: number[]): string => `vault kv destroy -mount=${this.target.mount} -versions=${versions.join(',')} ${this.target.path}`;
    const done = `key version${destroyed.length === 1 ? '' : 's'} ${destroyed.join(', ')} ${destroyed.length === 1 ? 'is' : 'are'} destroyed in the keyset (KV version ${written}), but`;
    const holding: number[] = [];
    try {
      if (!(await this.holdsMaterial(base, destroyed))) return;
      for (const kv of await this.earlierVersions(written)) {
        if (await this.holdsMaterial(kv, destroyed)) holding.push(kv);
      }
      if (holding.length === 0) return;
      const res = await this.repeatable('POST', this.paths.destroy, 'update', JSON.stringify({ versions: holding }));
      if (res.status === 200 || res.status === 204) return;
      if (res.status === 403) {
        throw new KeyManagementError(
          'ACCESS_DENIED',
          `${done} earlier KV versions ${holding.join(', ')} of ${this.where()} still hold that material and Vault denied 'update' on ${this.target.mount}/destroy/${this.target.path} ` +
            `(the seed policy does not grant destroy); run '${command(holding)}' with a token allowed to`,
        );
      }
      throw this.unexpected(res, 'update', `${this.target.mount}/destroy/${this.target.path}`);
    } catch (err) {
      if (!(err instanceof KeyManagementError) || err.message.startsWith(done)) throw err;
      const which = holding.length > 0 ? `KV versions ${holding.join(', ')}` : `the earlier KV versions (1 to ${written - 1})`;
      const versions = holding.length > 0 ? holding : Array.from({ length: written - 1 }, (_, i) => i + 1);
      throw new KeyManagementError(err.code, `${done} destroying ${which}, which may still hold that material, failed (${err.message}); finish with '${command(versions)}'`, {
        cause: err,
      });
    }
  }

  /** Whether KV version `kv` still holds the material of any of `versions`; a deleted but undestroyed version counts. */
  private async holdsMaterial(kv: number, versions: readonly number[]): Promise<boolean> {
    const got = await this.readVersion(kv);
    if (!got.found) {
      const meta = responseMetadata(got.body);
      return meta !== undefined && meta.destroyed !== true;
    }
    let keyset: Keyset;
    try {
      keyset = this.snapshot(got.data, kv).keyset;
    } catch {
      return false; // not a keyset this store can read, so not one it wrote: not ours to destroy
    }
    return keyset.versions.some((v) => versions.includes(v.version) && v.material !== undefined);
  }

  /** KV versions before `written` not yet destroyed: from the metadata endpoint, or all of them if that is denied. */
  private async earlierVersions(written: number): Promise<number[]> {
    const res = await this.repeatable('GET', this.paths.metadata, 'read');
    const data = isPlainObject(res.body) && isPlainObject(res.body.data) ? res.body.data : undefined;
    if (res.status === 200 && data && isPlainObject(data.versions)) {
      return Object.entries(data.versions)
        .filter(([, meta]) => !(isPlainObject(meta) && meta.destroyed === true))
        .map(([v]) => Number(v))
        .filter((v) => Number.isSafeInteger(v) && v >= 1 && v < written)
        .sort((a, b) => a - b);
    }
    if (res.status !== 403) throw this.unexpected(res, 'read', `${this.target.mount}/metadata/${this.target.path}`);
    return Array.from({ length: written - 1 }, (_, i) => i + 1);
  }

  /** Sends a request that is safe to repeat, retrying transient failures with backoff; returns Vault's answer. */
  private async repeatable(method: 'GET' | 'POST', apiPath: string, capability: string, body?: string): Promise<VaultAnswer> {
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.send(method, apiPath, body);
      if (!isTransient(outcome)) {
        if (outcome.kind === 'response') return outcome;
        throw this.unexpected(outcome, capability);
      }
      if (attempt >= this.maxAttempts) throw this.unavailable(outcome, attempt);
      await this.sleep(this.backoff(attempt));
    }
  }

  /**
   * After a write whose answer was lost: who wrote KV version `version`? `us` if it holds `text`,
   * `nobody` if it does not exist yet, `another` otherwise (another document, or deleted since).
   * If Vault cannot be asked, the outcome is unknown and the operator must look.
   */
  private async whoWrote(version: number, text: string): Promise<'us' | 'nobody' | 'another'> {
    let got: VersionRead;
    try {
      got = await this.readVersion(version);
    } catch (err) {
      const code = err instanceof KeyManagementError ? err.code : 'STORE_UNAVAILABLE';
      throw new KeyManagementError(
        code === 'ACCESS_DENIED' ? 'ACCESS_DENIED' : 'STORE_UNAVAILABLE',
        `a write to ${this.where()} got no answer and checking whether it landed failed too (${err instanceof Error ? err.message : code}); ` +
          `the write may or may not have landed: run 'key-manager --store ${this.location} status' before retrying`,
        { cause: err },
      );
    }
    if (got.found) return got.data.value === text ? 'us' : 'another';
    return responseMetadata(got.body) === undefined ? 'nobody' : 'another';
  }

  private parseRead(body: unknown): VersionRead {
    const outer = isPlainObject(body) && isPlainObject(body.data) ? body.data : undefined;
    const version = kvVersion(outer?.metadata);
    if (!outer || version === undefined) {
      throw new KeyManagementError('STORE_UNAVAILABLE', `Vault's answer for ${this.where()} is not a KV v2 read; check that ${this.target.mount} is a kv-v2 mount (vault secrets enable -path=${this.target.mount} kv-v2)`);
    }
    if (!isPlainObject(outer.data)) return { found: false, body };
    return { found: true, data: outer.data, version };
  }

  /** The keyset in `data.value`: a keyset document, or the seed's bare master key. */
  private snapshot(data: Record<string, unknown>, version: number): KeysetSnapshot {
    const value = data.value;
    if (typeof value !== 'string') {
      throw new KeysetInvalidError('data.value', `of the Vault secret ${this.location} must be a string holding the keyset JSON (or the legacy base64 master key)`);
    }
    const handle = String(version);
    if (value.trim().startsWith('{')) return { keyset: parseKeyset(value), handle };
    return { keyset: this.legacy(value, data.version), handle };
  }

  private legacy(masterKey: string, counter: unknown): Keyset {
    let current = 1;
    if (counter !== undefined) {
      const text = typeof counter === 'number' ? String(counter) : typeof counter === 'string' ? counter.trim() : '';
      current = /^\d{1,4}$/.test(text) ? Number(text) : NaN;
      if (!(current >= 1 && current <= MAX_LEGACY_VERSIONS)) {
        throw new KeysetInvalidError('data.version', `of the Vault secret ${this.location} must be the legacy key version, an integer from 1 to ${MAX_LEGACY_VERSIONS}`);
      }
    }
    try {
      return legacyKeyset(masterKey, current);
    } catch (err) {
      if (err instanceof KeyManagementError) {
        throw new KeysetInvalidError('data.value', `of the Vault secret ${this.location} is neither a keyset JSON document nor a legacy master key (${err.message})`);
      }
      throw err;
    }
  }

  private notFound(body: unknown): KeyManagementError {
    const errors = vaultErrors(body);
    if (/no handler for route/i.test(errors)) {
      return new KeyManagementError('KEYSET_NOT_FOUND', `Vault has no KV v2 engine mounted at '${this.target.mount}'${this.inNamespace()}; enable one (vault secrets enable -path=${this.target.mount} kv-v2), then run 'key-manager --store ${this.location} init'`);
    }
    const meta = responseMetadata(body);
    if (meta !== undefined) {
      const what = meta.destroyed === true ? 'destroyed' : 'deleted';
      const fix = meta.destroyed === true ? 'restore the keyset from a backup' : `undelete it (vault kv undelete -mount=${this.target.mount} -versions=${meta.version} ${this.target.path})`;
      return new KeyManagementError('KEYSET_NOT_FOUND', `the latest version (${meta.version}) of the Vault secret ${this.location}${this.inNamespace()} was ${what}; ${fix}`);
    }
    return new KeyManagementError('KEYSET_NOT_FOUND', `no keyset in Vault at ${this.location}${this.inNamespace()}; run 'key-manager --store ${this.location} init' to create one`);
  }

  private lostRace(expected: string | null): KeyManagementError {
    if (expected === null) {
      return new KeyManagementError('KEYSET_EXISTS', `a secret already exists in Vault at ${this.location}${this.inNamespace()} (possibly with its latest version deleted); it was not overwritten`);
    }
    return new ConflictError(`the Vault secret ${this.location} changed since it was read (it is no longer at version ${expected})`);
  }

  private denied(capability: 'read' | 'create' | 'update'): KeyManagementError {
    return new KeyManagementError(
      'ACCESS_DENIED',
      `Vault denied '${capability}' on ${this.policyPath}${this.inNamespace()}: the token's policy lacks the '${capability}' capability on that path, or the token is expired or revoked; ` +
        `grant path "${this.target.mount}/data/${parentGlob(this.target.path)}" { capabilities = ["read", "create", "update"] }, or log in again`,
    );
  }

  private unavailable(outcome: Outcome, attempts: number, consequence?: string): KeyManagementError {
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

  private unexpected(outcome: Outcome, capability: string, policyPath = this.policyPath): KeyManagementError {
    if (outcome.kind === 'failure' && outcome.tls) {
      return new KeyManagementError('STORE_UNAVAILABLE', `TLS verification of Vault at ${this.displayAddress} failed (${outcome.code}); set ${VAULT_CACERT_VAR} to the PEM file of the CA that signed Vault's certificate`);
    }
    if (outcome.kind === 'failure') return this.unavailable(outcome, 1);
    const errors = this.safeErrors(outcome.body);
    return new KeyManagementError('STORE_UNAVAILABLE', `Vault refused '${capability}' on ${policyPath}${this.inNamespace()} with HTTP ${outcome.status}${errors ? ` (${errors})` : ''}`);
  }

  /** Vault's own error strings, trimmed, on one line, without the token should a proxy echo it. */
  private safeErrors(body: unknown): string {
    const text = vaultErrors(body).split(this.token).join('[token]');
    return text.replace(/\s+/g, ' ').trim().slice(0, 300);
  }

  private where(): string {
    return `${this.location}${this.inNamespace()}`;
  }

  private inNamespace(): string {
    return this.namespace ? ` (namespace ${this.namespace})` : '';
  }

  private backoff(attempt: number): number {
    const ceiling = Math.min(this.maxBackoffMs, this.backoffMs * 2 ** (attempt - 1));
    return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
  }

  /** One request with a deadline covering connect, headers and body. Never throws. */
  private send(method: 'GET' | 'POST', apiPath: string, body?: string): Promise<Outcome> {
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

/** Whether a URL hostname is this machine: `localhost`, 127.0.0.0/8 or `[::1]`. */
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
function isTransient(outcome: Outcome): boolean {
  if (outcome.kind === 'failure') return !outcome.tls && outcome.code !== 'RESPONSE_TOO_LARGE';
  return outcome.status === 412 || outcome.status === 429 || outcome.status >= 500;
}

/**
 * Whether a failed write may nonetheless have been applied. Sealed (503), rate-limited (429) and
 * consistency (412) answers are given before the write; a 500, a gateway error or a lost connection
 * after sending are not proof of anything.
 */
function mayHaveLanded(outcome: Outcome): boolean {
  if (outcome.kind === 'failure') return outcome.mayHaveLanded;
  return outcome.status !== 503 && outcome.status !== 429 && outcome.status !== 412;
}

function parseHandle(handle: string): number {
  if (!/^\d{1,15}$/.test(handle)) {
    throw new KeyManagementError('INVALID_INPUT', `'${handle.slice(0, 40)}' is not a Vault KV version; pass the handle returned by this store's read()`);
  }
  return Number(handle);
}

function kvVersion(metadata: unknown): number | undefined {
  if (!isPlainObject(metadata)) return undefined;
  const v = metadata.version;
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 1 ? v : undefined;
}

/** The version metadata Vault includes with a 404 when the version exists but was deleted or destroyed. */
function responseMetadata(body: unknown): { version: number; destroyed?: unknown } | undefined {
  if (!isPlainObject(body) || !isPlainObject(body.data) || !isPlainObject(body.data.metadata)) return undefined;
  const version = kvVersion(body.data.metadata);
  return version === undefined ? undefined : { version, destroyed: body.data.metadata.destroyed };
}

function vaultErrors(body: unknown): string {
  if (!isPlainObject(body) || !Array.isArray(body.errors)) return '';
  return body.errors.filter((e): e is string => typeof e === 'string').join('; ');
}

/** `encryption/master_key` → `encryption/*`, the shape of the seed's policy. */
function parentGlob(path: string): string {
  const i = path.lastIndexOf('/');
  return i === -1 ? path : `${path.slice(0, i)}/*`;
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

