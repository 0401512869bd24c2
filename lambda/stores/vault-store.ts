/**
 * HashiCorp Vault KV v2 store, for staging: `vault:MOUNT/PATH`, default `vault:alphapulse/encryption/master_key`.
 *
 * The keyset is the JSON string in the secret's `value` field, or the seed's bare master key
 * (vault/legacy-secret.ts). HTTP, retries and transport errors are vault/transport.ts.
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
import { readFileSync } from 'node:fs';
import { ConflictError, KeyManagementError } from '../keys/errors';
import { type Keyset, keysetText } from '../keys/keyset';
import { isPlainObject } from '../keys/json';
import type { KeysetSnapshot, KeysetStore } from './store';
import { keysetOfSecretData } from './vault/legacy-secret';
import { isTransient, mayHaveLanded, type Outcome, VAULT_ADDR_VAR, VAULT_CACERT_VAR, VAULT_NAMESPACE_VAR, VAULT_TOKEN_VAR, type VaultAnswer, type VaultConnectionOptions, vaultErrors, VaultTransport } from './vault/transport';

export { VAULT_ADDR_VAR, VAULT_CACERT_VAR, VAULT_NAMESPACE_VAR, VAULT_TOKEN_VAR } from './vault/transport';
export const DEFAULT_VAULT_TARGET = 'alphapulse/encryption/master_key';

/** KV v2's answer to a `cas` that is not the current version. */
const CAS_MISMATCH = 'check-and-set parameter did not match the current version';
const SEGMENT = /^[A-Za-z0-9_.@-]+$/;

/** How to reach Vault: its address, token, namespace, CA, and the request deadline and retry policy. */
export type VaultStoreOptions = VaultConnectionOptions;

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

/** What reading one KV version found. */
type VersionRead =
  | { readonly found: true; readonly data: Record<string, unknown>; readonly version: number }
  | { readonly found: false; readonly body: unknown };

export class VaultStore implements KeysetStore {
  readonly kind = 'vault';
  readonly writable = true;
  readonly location: string;
  private readonly paths: { readonly data: string; readonly metadata: string; readonly destroy: string };
  private readonly policyPath: string;
  private readonly vault: VaultTransport;

  constructor(
    readonly target: VaultPath,
    options: VaultStoreOptions,
  ) {
    this.vault = new VaultTransport(options);
    this.location = `vault:${target.mount}/${target.path}`;
    this.policyPath = `${target.mount}/data/${target.path}`;
    const api = (endpoint: string): string => `/v1/${encodeURIComponent(target.mount)}/${endpoint}/${target.path.split('/').map(encodeURIComponent).join('/')}`;
    this.paths = { data: api('data'), metadata: api('metadata'), destroy: api('destroy') };
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
      const outcome = await this.vault.send('POST', this.paths.data, body);
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
      if (attempt >= this.vault.maxAttempts) {
        throw this.vault.unavailable(
          outcome,
          attempt,
          uncertain
            ? "an attempt got no answer and had not landed when checked: check the keyset's status before retrying"
            : 'the keyset was not written; retry when Vault is back',
        );
      }
      await this.vault.sleep(this.vault.backoff(attempt));
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

  /** A request safe to repeat, retried on transient failures; a failure not worth retrying is `unexpected`. */
  private repeatable(method: 'GET' | 'POST', apiPath: string, capability: string, body?: string): Promise<VaultAnswer> {
    return this.vault.repeatable(method, apiPath, (outcome) => this.unexpected(outcome, capability), body);
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
          "the write may or may not have landed: check the keyset's status before retrying",
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
    return { keyset: keysetOfSecretData(data, this.location), handle: String(version) };
  }

  private notFound(body: unknown): KeyManagementError {
    const errors = vaultErrors(body);
    if (/no handler for route/i.test(errors)) {
      return new KeyManagementError('KEYSET_NOT_FOUND', `Vault has no KV v2 engine mounted at '${this.target.mount}'${this.inNamespace()}; enable one (vault secrets enable -path=${this.target.mount} kv-v2), then create the keyset`);
    }
    const meta = responseMetadata(body);
    if (meta !== undefined) {
      const what = meta.destroyed === true ? 'destroyed' : 'deleted';
      const fix = meta.destroyed === true ? 'restore the keyset from a backup' : `undelete it (vault kv undelete -mount=${this.target.mount} -versions=${meta.version} ${this.target.path})`;
      return new KeyManagementError('KEYSET_NOT_FOUND', `the latest version (${meta.version}) of the Vault secret ${this.location}${this.inNamespace()} was ${what}; ${fix}`);
    }
    return new KeyManagementError('KEYSET_NOT_FOUND', `no keyset in Vault at ${this.location}${this.inNamespace()}`);
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

  private unexpected(outcome: Outcome, capability: string, policyPath = this.policyPath): KeyManagementError {
    if (outcome.kind === 'failure' && outcome.tls) return this.vault.tlsFailed(outcome);
    if (outcome.kind === 'failure') return this.vault.unavailable(outcome, 1);
    const errors = this.vault.safeErrors(outcome.body);
    return new KeyManagementError('STORE_UNAVAILABLE', `Vault refused '${capability}' on ${policyPath}${this.inNamespace()} with HTTP ${outcome.status}${errors ? ` (${errors})` : ''}`);
  }

  private where(): string {
    return `${this.location}${this.inNamespace()}`;
  }

  private inNamespace(): string {
    return this.vault.namespace ? ` (namespace ${this.vault.namespace})` : '';
  }
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

/** `encryption/master_key` → `encryption/*`, the shape of the seed's policy. */
function parentGlob(path: string): string {
  const i = path.lastIndexOf('/');
  return i === -1 ? path : `${path.slice(0, i)}/*`;
}
