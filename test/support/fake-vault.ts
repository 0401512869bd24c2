/**
 * A stand-in for HashiCorp Vault, for tests: an HTTP(S) server on 127.0.0.1 (ephemeral port) that
 * implements the KV v2 endpoints the Vault store uses, as Vault answers them:
 *
 * - `GET  /v1/MOUNT/data/PATH[?version=N]`: 200 with `data.data` and `data.metadata` (version,
 *   created_time, deletion_time, destroyed); 404 `{"errors":[]}` for no such secret or version, and
 *   404 with the metadata (and `data: null`) for a deleted or destroyed version.
 * - `POST|PUT /v1/MOUNT/data/PATH` with `{data, options: {cas}}`: check-and-set against the current
 *   version (400 "check-and-set parameter did not match the current version"), new version = current + 1.
 * - `GET /v1/MOUNT/metadata/PATH` (version list) and `POST /v1/MOUNT/destroy/PATH` `{versions}` (204;
 *   the versions' data is gone for good), used to purge history after a key version is destroyed.
 * - ACL policies per token, with Vault's path globs (`*` suffix, `+` segment); `read` for GET, `create`
 *   for a write to a path with no secret, `update` for one with: anything else is 403 "permission denied".
 * - Namespaces (`X-Vault-Namespace`): each namespace has its own secrets.
 * - Sealed: 503 "Vault is sealed" for every request. Unmounted path: 404 "no handler for route".
 * - Faults, queued per request, to exercise retries: an HTTP status, a connection reset before or after
 *   the write is applied, a write held without answer and applied just before the next write, or a
 *   side effect (another writer) just before a request is handled.
 *
 * It is not Vault: no auth methods, leases, metadata writes, delete/undelete endpoints or max_versions pruning.
 */
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';

export type Capability = 'create' | 'read' | 'update' | 'delete' | 'list';
/** Vault policy rules: path glob → capabilities. */
export type Policy = Record<string, readonly Capability[]>;

export type Fault =
  /** Answer with this status; `applied`: handle the request first, as a gateway that times out upstream would. */
  | { readonly status: number; readonly errors?: readonly string[]; readonly applied?: boolean }
  /** Drop the connection without touching the secret. `then` runs first (e.g. another writer lands). */
  | { readonly reset: 'before-apply'; readonly then?: () => void }
  /** Apply the write, then drop the connection: the client never learns it landed. */
  | { readonly reset: 'after-apply'; readonly then?: () => void }
  /** Never answer; the write is applied just before the next write request is handled. */
  | { readonly hold: true }
  /** Run `first` (e.g. another writer lands), then answer normally. */
  | { readonly first: () => void };

export interface FakeRequest {
  readonly method: string;
  readonly path: string;
  readonly namespace?: string;
  readonly token?: string;
  readonly body?: unknown;
}

interface StoredVersion {
  data: Record<string, unknown>;
  readonly createdTime: string;
  deletionTime: string;
  destroyed: boolean;
}

interface Secret {
  currentVersion: number;
  readonly versions: Map<number, StoredVersion>;
}

/** The rules the seed's policy grants, enough for everything but destroy. */
export const SEED_POLICY: Policy = { 'alphapulse/data/encryption/*': ['read', 'create', 'update'] };
/** The seed's policy plus destroy and metadata read: what a key administrator needs to destroy versions. */
export const ADMIN_POLICY: Policy = { ...SEED_POLICY, 'alphapulse/destroy/encryption/*': ['update'], 'alphapulse/metadata/encryption/*': ['read'] };
const CAS_MISMATCH = 'check-and-set parameter did not match the current version';
export const TLS_FIXTURES = path.join(__dirname, '..', 'fixtures', 'vault-tls');

export class FakeVault {
  sealed = false;
  /** Every request, in order (the token is kept so tests can assert it was sent). */
  readonly requests: FakeRequest[] = [];
  private readonly tokens = new Map<string, Policy>();
  private readonly mounts = new Set<string>();
  private readonly secrets = new Map<string, Secret>();
  private readonly faults: Fault[] = [];
  private held?: () => void;
  private clock = Date.parse('2026-01-01T00:00:00.000Z');

  private constructor(
    private readonly server: http.Server,
    readonly address: string,
  ) {}

  /** Starts a fake Vault with a kv-v2 engine at `alphapulse/`; `tls` serves HTTPS with the fixture certificate. */
  static async start(options: { tls?: boolean } = {}): Promise<FakeVault> {
    const server = options.tls
      ? https.createServer({ key: readFileSync(path.join(TLS_FIXTURES, 'server-key.pem')), cert: readFileSync(path.join(TLS_FIXTURES, 'server.pem')) })
      : http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const fake = new FakeVault(server, `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`);
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => fake.handle(req, res));
    fake.mount('alphapulse');
    return fake;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Enables a kv-v2 engine at `mount` (in `namespace`). */
  mount(mount: string, namespace = ''): void {
    this.mounts.add(`${namespace}|${mount}`);
  }

  addToken(token: string, policy: Policy): void {
    this.tokens.set(token, policy);
  }

  /** Queues faults for the next requests, one per request. */
  fail(...faults: Fault[]): void {
    this.faults.push(...faults);
  }

  /** Writes a version directly, as an operator's `vault kv put` would; returns its number. */
  put(secretPath: string, data: Record<string, unknown>, namespace = ''): number {
    const secret = this.secret(secretPath, namespace, true) as Secret;
    secret.currentVersion += 1;
    this.clock += 1_000;
    secret.versions.set(secret.currentVersion, { data, createdTime: new Date(this.clock).toISOString(), deletionTime: '', destroyed: false });
    return secret.currentVersion;
  }

  /** The data of `version` (default: the current one), or undefined. */
  get(secretPath: string, version?: number, namespace = ''): Record<string, unknown> | undefined {
    const secret = this.secret(secretPath, namespace);
    return secret?.versions.get(version ?? secret.currentVersion)?.data;
  }

  currentVersion(secretPath: string, namespace = ''): number {
    return this.secret(secretPath, namespace)?.currentVersion ?? 0;
  }

  /** Soft-deletes the current version, as `vault kv delete` does. */
  deleteLatest(secretPath: string, namespace = ''): void {
    const secret = this.secret(secretPath, namespace) as Secret;
    (secret.versions.get(secret.currentVersion) as StoredVersion).deletionTime = new Date(this.clock).toISOString();
  }

  private secret(secretPath: string, namespace: string, create = false): Secret | undefined {
    const key = `${namespace}|${secretPath}`;
    let secret = this.secrets.get(key);
    if (!secret && create) {
      secret = { currentVersion: 0, versions: new Map() };
      this.secrets.set(key, secret);
    }
    return secret;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = text === '' ? undefined : JSON.parse(text);
      } catch {
        body = text;
      }
      const header = (name: string): string | undefined => {
        const v = req.headers[name];
        return Array.isArray(v) ? v[0] : v;
      };
      const request: FakeRequest = { method: req.method ?? '', path: req.url ?? '', namespace: header('x-vault-namespace'), token: header('x-vault-token'), body };
      this.requests.push(request);
      const isWrite = request.method === 'POST' || request.method === 'PUT';
      if (isWrite && this.held) {
        const apply = this.held;
        this.held = undefined;
        apply();
      }
      const fault = this.faults.shift();
      const send = (status: number, json: unknown): void => {
        if (status === 204) {
          res.writeHead(204).end();
          return;
        }
        res.writeHead(status, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(json));
      };
      if (fault && 'status' in fault) {
        if (fault.applied) this.route(request, () => undefined);
        return send(fault.status, { errors: fault.errors ?? [] });
      }
      if (fault && 'first' in fault) fault.first();
      if (fault && 'reset' in fault) {
        if (fault.reset === 'after-apply') this.route(request, () => undefined);
        fault.then?.();
        req.socket.destroy();
        return;
      }
      if (fault && 'hold' in fault) {
        this.held = () => this.route(request, () => undefined);
        return;
      }
      this.route(request, send);
    });
  }

  private route(req: FakeRequest, send: (status: number, json: unknown) => void): void {
    if (this.sealed) return send(503, { errors: ['Vault is sealed'] });
    const url = new URL(req.path, 'http://vault');
    const apiPath = url.pathname.replace(/^\/v1\//, '');
    const policy = req.token === undefined ? undefined : this.tokens.get(req.token);
    const namespace = req.namespace ?? '';
    const denied = (): void => send(403, { errors: ['1 error occurred:\n\t* permission denied\n\n'] });
    if (!policy) return send(403, { errors: ['permission denied'] });
    const match = /^\/v1\/([^/]+)\/(data|metadata|destroy)\/(.+)$/.exec(url.pathname);
    if (!match || !this.mounts.has(`${namespace}|${decodeURIComponent(match[1])}`)) {
      if (!allows(policy, apiPath, req.method === 'GET' ? 'read' : 'update')) return denied();
      return send(404, { errors: [`no handler for route "${apiPath}". route entry not found.`] });
    }
    const endpoint = match[2];
    const secretPath = `${decodeURIComponent(match[1])}/${match[3].split('/').map(decodeURIComponent).join('/')}`;
    const secret = this.secret(secretPath, namespace);
    const write = req.method === 'POST' || req.method === 'PUT';

    if (endpoint === 'data' && req.method === 'GET') {
      if (!allows(policy, apiPath, 'read')) return denied();
      const version = url.searchParams.has('version') ? Number(url.searchParams.get('version')) : (secret?.currentVersion ?? 0);
      const stored = secret?.versions.get(version);
      if (!stored) return send(404, { errors: [] });
      const metadata = { created_time: stored.createdTime, custom_metadata: null, deletion_time: stored.deletionTime, destroyed: stored.destroyed, version };
      if (stored.deletionTime !== '' || stored.destroyed) return send(404, { request_id: 'fake', data: { data: null, metadata } });
      return send(200, { request_id: 'fake', lease_id: '', renewable: false, lease_duration: 0, data: { data: stored.data, metadata } });
    }
    if (endpoint === 'data' && write) {
      const capability: Capability = secret && secret.currentVersion > 0 ? 'update' : 'create';
      if (!allows(policy, apiPath, capability)) return denied();
      const body = req.body as { data?: unknown; options?: { cas?: unknown } } | undefined;
      if (typeof body?.data !== 'object' || body.data === null || Array.isArray(body.data)) return send(400, { errors: ['no data provided'] });
      const cas = body.options?.cas;
      if (cas !== undefined && cas !== (secret?.currentVersion ?? 0)) return send(400, { errors: [CAS_MISMATCH] });
      const version = this.put(secretPath, body.data as Record<string, unknown>, namespace);
      const stored = this.secret(secretPath, namespace)?.versions.get(version) as StoredVersion;
      return send(200, { request_id: 'fake', data: { created_time: stored.createdTime, custom_metadata: null, deletion_time: '', destroyed: false, version } });
    }
    if (endpoint === 'metadata' && req.method === 'GET') {
      if (!allows(policy, apiPath, 'read')) return denied();
      if (!secret) return send(404, { errors: [] });
      const versions = Object.fromEntries(
        [...secret.versions].map(([v, stored]) => [String(v), { created_time: stored.createdTime, deletion_time: stored.deletionTime, destroyed: stored.destroyed }]),
      );
      return send(200, { request_id: 'fake', data: { cas_required: false, current_version: secret.currentVersion, max_versions: 0, oldest_version: 0, versions } });
    }
    if (endpoint === 'destroy' && write) {
      if (!allows(policy, apiPath, 'update')) return denied();
      const versions = (req.body as { versions?: unknown } | undefined)?.versions;
      if (!Array.isArray(versions) || versions.length === 0) return send(400, { errors: ['no version number provided'] });
      for (const v of versions) {
        const stored = secret?.versions.get(Number(v));
        if (stored) {
          stored.data = {};
          stored.destroyed = true;
        }
      }
      return send(204, undefined);
    }
    send(405, { errors: ['unsupported operation'] });
  }

  /** KV versions of `secretPath` that Vault still holds data for (not destroyed). */
  liveVersions(secretPath: string, namespace = ''): number[] {
    return [...(this.secret(secretPath, namespace)?.versions ?? [])].filter(([, v]) => !v.destroyed).map(([n]) => n);
  }
}

/** Vault's ACL globbing: exact path, `prefix*`, and `+` for one whole segment. */
function allows(policy: Policy, apiPath: string, capability: Capability): boolean {
  return Object.entries(policy).some(([glob, caps]) => caps.includes(capability) && globMatches(glob, apiPath));
}

function globMatches(glob: string, apiPath: string): boolean {
  const pattern = glob
    .split('/')
    .map((seg) => (seg === '+' ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\\\*$/, '.*')))
    .join('/');
  return new RegExp(`^${pattern}$`).test(apiPath);
}
