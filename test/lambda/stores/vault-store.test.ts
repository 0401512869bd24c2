/**
 * The Vault KV v2 store, against a local stand-in for Vault (test/support/fake-vault.ts): no Vault
 * binary can run here, so the fake implements the KV v2 endpoints the store uses, with Vault's answers.
 */
import { promises as fs, readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { KeyManager } from '../../../lambda/key-manager';
import { createKeyset, rotateKeyset, type Keyset, serializeKeyset } from '../../../lambda/keys/keyset';
import { legacyKeyset } from '../../../lambda/keys/legacy';
import { openStore } from '../../../lambda/stores/open-store';
import {
  DEFAULT_VAULT_TARGET,
  parseVaultTarget,
  VaultStore,
  type VaultStoreOptions,
  vaultOptionsFromEnv,
} from '../../../lambda/stores/vault-store';
import { ADMIN_POLICY, FakeVault, SEED_POLICY, TLS_FIXTURES } from '../../support/fake-vault';
import { runCli } from '../../support/cli';
import { material, SeededRandom, TestClock } from '../../support/fixed';

const T = '2026-01-01T00:00:00.000Z';
const TOKEN = 'hvs.test-token-DO-NOT-ECHO-4f1c';
const SECRET = 'alphapulse/encryption/master_key';
const TARGET = parseVaultTarget(DEFAULT_VAULT_TARGET);

let vault: FakeVault;
let sleeps: number[];

beforeEach(async () => {
  vault = await FakeVault.start();
  vault.addToken(TOKEN, SEED_POLICY);
  sleeps = [];
});
afterEach(() => vault.stop());

/** A store on the fake with retries that do not wait (the waits asked for are recorded in `sleeps`). */
function store(options: Partial<VaultStoreOptions> = {}): VaultStore {
  return new VaultStore(TARGET, {
    address: vault.address,
    token: TOKEN,
    timeoutMs: 2_000,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    ...options,
  });
}

function stored(version?: number): Keyset {
  return JSON.parse(vault.get(SECRET, version)?.value as string) as Keyset;
}

const v1 = (): Keyset => createKeyset({ material: material(1), now: T });
const writes = (): number => vault.requests.filter((r) => r.method === 'POST').length;

async function errorOf(p: Promise<unknown>): Promise<Error & { code: string }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code: string };
  }
  throw new Error('expected the promise to reject');
}

describe('parseVaultTarget', () => {
  it('takes the first segment as the mount and the rest as the path', () => {
    expect(parseVaultTarget('alphapulse/encryption/master_key')).toEqual({ mount: 'alphapulse', path: 'encryption/master_key' });
  });

  it.each(['alphapulse', 'alphapulse/../sys/seal', 'a//b', 'a/b c', 'a/b?x=1'])('refuses %p', (target) => {
    expect(() => parseVaultTarget(target)).toThrow(expect.objectContaining({ code: 'INVALID_INPUT', message: expect.stringContaining(`vault:${DEFAULT_VAULT_TARGET}`) }));
  });
});

describe('vaultOptionsFromEnv', () => {
  it('reads VAULT_ADDR, VAULT_TOKEN, VAULT_NAMESPACE and the VAULT_CACERT file', () => {
    const ca = path.join(TLS_FIXTURES, 'ca.pem');
    const options = vaultOptionsFromEnv({ VAULT_ADDR: 'https://vault:8200', VAULT_TOKEN: TOKEN, VAULT_NAMESPACE: 'team', VAULT_CACERT: ca });
    expect(options).toEqual({ address: 'https://vault:8200', token: TOKEN, namespace: 'team', caCert: readFileSync(ca) });
  });

  it('says which variable is missing', () => {
    expect(() => vaultOptionsFromEnv({ VAULT_TOKEN: TOKEN })).toThrow(expect.objectContaining({ code: 'INVALID_INPUT', message: expect.stringContaining('VAULT_ADDR is not set') }));
    expect(() => vaultOptionsFromEnv({ VAULT_ADDR: 'http://x' })).toThrow(expect.objectContaining({ code: 'INVALID_INPUT', message: expect.stringContaining('VAULT_TOKEN is not set') }));
  });

  it('refuses an unreadable VAULT_CACERT', () => {
    expect(() => vaultOptionsFromEnv({ VAULT_ADDR: 'https://x', VAULT_TOKEN: TOKEN, VAULT_CACERT: '/nonexistent/ca.pem' })).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT', message: expect.stringContaining('ENOENT') }),
    );
  });

  it.each([
    ['a token with a line break', { token: 'hvs.abc\nX-Injected: 1' }],
    ['an empty token', { token: '' }],
    ['a namespace with a line break', { namespace: 'team\r\nX: 1' }],
    ['a non-http address', { address: 'ftp://vault:21' }],
  ])('refuses %s before any request', (_what, bad) => {
    expect(() => new VaultStore(TARGET, { address: 'http://127.0.0.1:8200', token: TOKEN, ...bad })).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
  });

  it('refuses credentials in VAULT_ADDR and never echoes them', () => {
    const err = (() => {
      try {
        return new VaultStore(TARGET, { address: 'https://user:s3cret@vault:8200', token: TOKEN });
      } catch (e) {
        return e as Error;
      }
    })() as Error & { code: string };
    expect(err.code).toBe('INVALID_INPUT');
    expect(err.message).not.toContain('s3cret');
  });
});

describe('VAULT_ADDR scheme', () => {
  it.each(['http://vault.example.com:8200', 'http://10.0.0.5:8200', 'http://127.0.0.1.example.com:8200', 'http://[::2]:8200'])(
    'refuses %s: plain http would send the token in cleartext',
    (address) => {
      expect(() => new VaultStore(TARGET, { address, token: TOKEN })).toThrow(
        expect.objectContaining({ code: 'INVALID_INPUT', message: expect.stringMatching(/cleartext; use https:\/\//) }),
      );
    },
  );

  it.each(['http://127.0.0.1:8200', 'http://127.3.4.5:8200', 'http://localhost:8200', 'http://[::1]:8200', 'https://vault.example.com:8200'])('accepts %s', (address) => {
    expect(new VaultStore(TARGET, { address, token: TOKEN }).kind).toBe('vault');
  });
});

describe('openStore vault:', () => {
  it('opens vault:MOUNT/PATH with the VAULT_* variables, for every command and the facade', async () => {
    const s = openStore(`vault:${SECRET}`, { env: { VAULT_ADDR: vault.address, VAULT_TOKEN: TOKEN } });
    expect(s).toMatchObject({ kind: 'vault', writable: true, location: `vault:${SECRET}` });
    await s.write(v1(), null);
    expect((await s.read()).keyset).toEqual(v1());
  });

  it("does not take 'vault:' alone: it names the default target to write", () => {
    expect(() => openStore('vault:', { env: { VAULT_ADDR: vault.address, VAULT_TOKEN: TOKEN } })).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT', message: expect.stringContaining(`vault:${DEFAULT_VAULT_TARGET}`) }),
    );
  });
});

describe('VaultStore reads', () => {
  it('reads the keyset JSON in data.value; the handle is the KV version', async () => {
    vault.put(SECRET, { value: 'placeholder' });
    vault.put(SECRET, { value: serializeKeyset(v1()) });
    expect(await store().read()).toEqual({ keyset: v1(), handle: '2' });
  });

  it('sends the token and namespace headers and uses only the data endpoint', async () => {
    vault.mount('alphapulse', 'team-a');
    vault.put(SECRET, { value: serializeKeyset(v1()) }, 'team-a');
    await store({ namespace: 'team-a' }).read();
    expect(vault.requests).toEqual([{ method: 'GET', path: `/v1/${SECRET.replace('alphapulse/', 'alphapulse/data/')}`, namespace: 'team-a', token: TOKEN, body: undefined }]);
  });

  it('keeps namespaces apart: the same path in the root namespace is not found', async () => {
    vault.mount('alphapulse', 'team-a');
    vault.put(SECRET, { value: serializeKeyset(v1()) }, 'team-a');
    await expect(store().read()).rejects.toMatchObject({ code: 'KEYSET_NOT_FOUND' });
  });

  it('says the secret does not exist, in a message for any caller (the CLI adds which command creates it: test/cli/advice.test.ts)', async () => {
    const err = await store().read().catch((e: unknown) => e as Error);
    expect(err).toMatchObject({ code: 'KEYSET_NOT_FOUND', message: `no keyset in Vault at vault:${SECRET}` });
  });

  it('says how to enable the engine when the mount does not exist', async () => {
    vault.addToken('broad', { 'kv/*': ['read'] });
    const s = new VaultStore(parseVaultTarget('kv/app/key'), { address: vault.address, token: 'broad' });
    await expect(s.read()).rejects.toMatchObject({ code: 'KEYSET_NOT_FOUND', message: expect.stringContaining('vault secrets enable -path=kv kv-v2') });
  });

  it('says how to undelete when the latest version was deleted', async () => {
    vault.put(SECRET, { value: serializeKeyset(v1()) });
    vault.put(SECRET, { value: serializeKeyset(v1()) });
    vault.deleteLatest(SECRET);
    await expect(store().read()).rejects.toMatchObject({ code: 'KEYSET_NOT_FOUND', message: expect.stringMatching(/version \(2\).*deleted.*vault kv undelete/) });
  });

  it('validates what it reads and names the bad field', async () => {
    vault.put(SECRET, { value: JSON.stringify({ ...v1(), primary: 7 }) });
    await expect(store().read()).rejects.toMatchObject({ code: 'KEYSET_INVALID', field: 'primary' });
    vault.put(SECRET, { other: 'x' });
    await expect(store().read()).rejects.toMatchObject({ code: 'KEYSET_INVALID', field: 'data.value' });
  });
});

describe("VaultStore and the seed's legacy value", () => {
  const masterKey = material(9);

  it('reads a bare base64 master key as the legacy keyset, versions 1..N from data.version', async () => {
    vault.put(SECRET, { value: masterKey, version: '3' });
    expect(await store().read()).toEqual({ keyset: legacyKeyset(masterKey, 3), handle: '1' });
  });

  it('reads a bare master key without data.version as legacy version 1', async () => {
    vault.put(SECRET, { value: masterKey });
    expect((await store().read()).keyset).toEqual(legacyKeyset(masterKey, 1));
  });

  it('refuses a bad legacy counter or value without echoing the value', async () => {
    vault.put(SECRET, { value: masterKey, version: 'three' });
    await expect(store().read()).rejects.toMatchObject({ code: 'KEYSET_INVALID', field: 'data.version' });
    vault.put(SECRET, { value: 'c2hvcnQta2V5' });
    const err = await errorOf(store().read());
    expect(err).toMatchObject({ code: 'KEYSET_INVALID', field: 'data.value' });
    expect(err.message).not.toContain('c2hvcnQta2V5');
  });

  it('replaces the legacy value with the keyset document through cas on the first write', async () => {
    vault.put(SECRET, { value: masterKey, version: 2 });
    const s = store();
    const snap = await s.read();
    const next = rotateKeyset(snap.keyset, { material: material(3), now: T });
    expect(await s.write(next, snap.handle)).toEqual({ keyset: next, handle: '2' });
    expect(vault.get(SECRET)).toEqual({ value: serializeKeyset(next) });
    expect(vault.requests.at(-1)?.body).toMatchObject({ options: { cas: 1 } });
    expect((await s.read()).keyset.versions.map((v) => [v.version, v.kdf])).toEqual([
      [1, 'legacy-pbkdf2'],
      [2, 'legacy-pbkdf2'],
      [3, 'hkdf-sha256'],
    ]);
  });
});

describe('VaultStore writes (compare-and-set)', () => {
  it('creates with cas 0 and reads back what it wrote', async () => {
    const s = store();
    const written = await s.write(v1(), null);
    expect(written).toEqual({ keyset: v1(), handle: '1' });
    expect(vault.requests[0].body).toEqual({ options: { cas: 0 }, data: { value: serializeKeyset(v1()) } });
    expect(await s.read()).toEqual(written);
  });

  it('refuses to create over an existing secret and keeps it', async () => {
    vault.put(SECRET, { value: serializeKeyset(v1()) });
    await expect(store().write(createKeyset({ material: material(2), now: T }), null)).rejects.toMatchObject({ code: 'KEYSET_EXISTS' });
    expect(stored()).toEqual(v1());
  });

  it('refuses a write based on a stale read (CONFLICT) and keeps the winner', async () => {
    const a = store();
    const b = store();
    await a.write(v1(), null);
    const readA = await a.read();
    const readB = await b.read();
    await a.write(rotateKeyset(readA.keyset, { material: material(2), now: T }), readA.handle);
    await expect(b.write(rotateKeyset(readB.keyset, { material: material(3), now: T }), readB.handle)).rejects.toMatchObject({
      code: 'CONFLICT',
      message: expect.stringContaining('changed since it was read'),
    });
    expect(stored().versions.map((v) => v.material)).toEqual([material(1), material(2)]);
  });

  it('lets exactly one of many concurrent writers from one read win', async () => {
    const s = store();
    await s.write(v1(), null);
    const snap = await s.read();
    const results = await Promise.allSettled(
      Array.from({ length: 6 }, (_, i) => s.write(rotateKeyset(snap.keyset, { material: material(10 + i), now: T }), snap.handle)),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.code)).toEqual(Array(5).fill('CONFLICT'));
    expect(vault.currentVersion(SECRET)).toBe(2);
  });

  it('refuses a handle that is not a KV version', async () => {
    await expect(store().write(v1(), 'abc123')).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    expect(writes()).toBe(0);
  });
});

describe('VaultStore under the seed policy', () => {
  it('runs init, encrypt, rotate, disable, enable and emergency rotation with only read, create and update on alphapulse/data/encryption/*', async () => {
    const manager = new KeyManager({ store: store(), clock: new TestClock().now, random: new SeededRandom() });
    await manager.init();
    const envelope = await manager.encrypt('order book', 'trading_data');
    await manager.rotate();
    await manager.disableVersion(1, 'test');
    await manager.enableVersion(1);
    await manager.rotate({ emergency: true, reason: 'drill' });
    expect((await manager.status()).primary).toBe(3);
    expect((await manager.decrypt(envelope)).toString()).toBe('order book');
    expect(vault.currentVersion(SECRET)).toBe(5);
    expect(vault.requests.every((r) => /^\/v1\/alphapulse\/data\/encryption\/master_key(\?version=\d+)?$/.test(r.path))).toBe(true);
  });

  it("names the missing 'read' capability, and never the token", async () => {
    vault.addToken('writer-only', { 'alphapulse/data/encryption/*': ['create', 'update'] });
    const err = await errorOf(store({ token: 'writer-only' }).read());
    expect(err).toMatchObject({ code: 'ACCESS_DENIED', message: expect.stringContaining("denied 'read' on alphapulse/data/encryption/master_key") });
    expect(sleeps).toEqual([]);
  });

  it("names the missing 'create' capability on init and 'update' on a change", async () => {
    vault.addToken('no-create', { 'alphapulse/data/encryption/*': ['read', 'update'] });
    vault.addToken('no-update', { 'alphapulse/data/encryption/*': ['read', 'create'] });
    await expect(store({ token: 'no-create' }).write(v1(), null)).rejects.toMatchObject({ code: 'ACCESS_DENIED', message: expect.stringContaining("'create'") });
    const s = store({ token: 'no-update' });
    const { handle } = await s.write(v1(), null);
    await expect(s.write(rotateKeyset(v1(), { material: material(2), now: T }), handle)).rejects.toMatchObject({
      code: 'ACCESS_DENIED',
      message: expect.stringContaining("'update'"),
    });
  });

  it('treats an unknown or revoked token as denied without echoing it', async () => {
    const err = await errorOf(store({ token: 'hvs.revoked-SECRET-token' }).read());
    expect(err.code).toBe('ACCESS_DENIED');
    expect(err.message).toContain('expired or revoked');
    expect(err.message).not.toContain('hvs.revoked-SECRET-token');
  });
});

describe('VaultStore destroying a key version', () => {
  const ADMIN = 'hvs.admin-token';
  const manager = (token: string): KeyManager => new KeyManager({ store: store({ token }), clock: new TestClock().now, random: new SeededRandom() });

  /** KV 1: v1 · KV 2: v1,v2 · KV 3: v1,v2,v3 · KV 4: v2 disabled. */
  async function withVersion2Disabled(token: string): Promise<KeyManager> {
    const m = manager(token);
    await m.init();
    await m.rotate();
    await m.rotate();
    await m.disableVersion(2, 'compromised');
    return m;
  }

  beforeEach(() => vault.addToken(ADMIN, ADMIN_POLICY));

  it('destroys every earlier KV version that held the material, and keeps those that never did', async () => {
    const m = await withVersion2Disabled(ADMIN);
    await m.destroyVersion(2);
    expect(vault.currentVersion(SECRET)).toBe(5);
    expect(vault.liveVersions(SECRET)).toEqual([1, 5]);
    expect(stored(5).versions[1]).toMatchObject({ version: 2, state: 'destroyed' });
    expect(stored(5).versions[1].material).toBeUndefined();
  });

  it('costs later writes nothing: a rotation after a destroy purges no history', async () => {
    const m = await withVersion2Disabled(ADMIN);
    await m.destroyVersion(2);
    vault.requests.length = 0;
    await m.rotate();
    expect(vault.requests.filter((r) => !r.path.includes('/data/'))).toEqual([]);
    expect(vault.liveVersions(SECRET)).toEqual([1, 5, 6]);
  });

  it('reads each earlier version when the metadata endpoint is denied', async () => {
    vault.addToken('no-metadata', { ...SEED_POLICY, 'alphapulse/destroy/encryption/*': ['update'] });
    const m = await withVersion2Disabled('no-metadata');
    await m.destroyVersion(2);
    expect(vault.liveVersions(SECRET)).toEqual([1, 5]);
  });

  it('under the seed policy, marks the version destroyed and warns which KV versions still hold it, with the command to finish', async () => {
    const m = await withVersion2Disabled(TOKEN);
    const warnings = await m.destroyVersion(2);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^\[ACCESS_DENIED\] /);
    expect(warnings[0]).toContain("denied 'update' on alphapulse/destroy/encryption/master_key");
    expect(warnings[0]).toContain("'vault kv destroy -mount=alphapulse -versions=2,3,4 encryption/master_key'");
    expect(stored().versions[1].state).toBe('destroyed');
    expect(vault.liveVersions(SECRET)).toEqual([1, 2, 3, 4, 5]);
    // The key manager adopted the written keyset: data under version 2 is refused as destroyed at once.
    await expect(m.deriveDataKey('trading_data', 2)).rejects.toMatchObject({ code: 'VERSION_DESTROYED' });
  });

  it('says how to finish when Vault fails in the middle of the purge', async () => {
    await withVersion2Disabled(ADMIN);
    const s = store({ token: ADMIN, maxAttempts: 2 });
    const snap = await s.read();
    const next = { ...snap.keyset, versions: snap.keyset.versions.map((v) => (v.version === 2 ? { ...v, material: undefined, state: 'destroyed' as const, destroyedAt: T } : v)) };
    vault.fail({ first: () => undefined }, { first: () => undefined }, { first: () => (vault.sealed = true) });
    const written = await s.write(next, snap.handle);
    expect(written.handle).toBe('5');
    expect(written.warnings?.[0]).toMatch(/^\[STORE_UNAVAILABLE\] key version 2 is destroyed in the keyset \(KV version 5\), but destroying .* failed .*sealed.*finish with 'vault kv destroy -mount=alphapulse -versions=1,2,3,4 encryption\/master_key'/);
  });
});

describe('VaultStore when Vault is sealed, failing or unreachable', () => {
  it('retries a read with growing backoff and succeeds once Vault answers', async () => {
    vault.put(SECRET, { value: serializeKeyset(v1()) });
    vault.fail({ status: 503, errors: ['Vault is sealed'] }, { status: 500 });
    expect((await store({ backoffMs: 100 }).read()).keyset).toEqual(v1());
    expect(sleeps).toHaveLength(2);
    expect(sleeps[0]).toBeGreaterThanOrEqual(50);
    expect(sleeps[0]).toBeLessThanOrEqual(100);
    expect(sleeps[1]).toBeGreaterThanOrEqual(100);
    expect(sleeps[1]).toBeLessThanOrEqual(200);
  });

  it('gives up on a sealed Vault after the bounded attempts with STORE_UNAVAILABLE saying to unseal', async () => {
    vault.sealed = true;
    await expect(store({ maxAttempts: 3 }).read()).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
      message: expect.stringMatching(/sealed after 3 attempts.*vault operator unseal/),
    });
    expect(vault.requests).toHaveLength(3);
    expect(sleeps).toHaveLength(2);
  });

  it('reports a refused connection after retrying', async () => {
    const port = await closedPort();
    const s = new VaultStore(TARGET, { address: `http://127.0.0.1:${port}`, token: TOKEN, maxAttempts: 2, sleep: async () => undefined });
    await expect(s.read()).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', message: expect.stringMatching(/ECONNREFUSED.*VAULT_ADDR.*after 2 attempts/) });
  });

  it('times out a request that gets no answer', async () => {
    vault.put(SECRET, { value: serializeKeyset(v1()) });
    vault.fail({ hold: true }, { hold: true });
    await expect(store({ timeoutMs: 100, maxAttempts: 2 }).read()).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', message: expect.stringContaining('did not answer within 100 ms') });
  });

  it('reports rate limiting as THROTTLED', async () => {
    vault.fail({ status: 429 }, { status: 429 });
    await expect(store({ maxAttempts: 2 }).read()).rejects.toMatchObject({ code: 'THROTTLED' });
  });

  it('refuses an answer far larger than any keyset, without retrying', async () => {
    vault.put(SECRET, { value: 'x'.repeat(600 * 1024) });
    await expect(store().read()).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', message: expect.stringContaining('RESPONSE_TOO_LARGE') });
    expect(vault.requests).toHaveLength(1);
  });

  it("keeps the token out of errors even when Vault's answer echoes it", async () => {
    vault.fail(...Array(4).fill({ status: 502, errors: [`upstream rejected token ${TOKEN}`] }));
    const err = await errorOf(store().read());
    expect(err.code).toBe('STORE_UNAVAILABLE');
    expect(err.message).toContain('HTTP 502');
    expect(err.message).not.toContain(TOKEN);
  });

  it('retries a write refused because Vault is sealed (it was never applied) and writes once', async () => {
    vault.fail({ status: 503, errors: ['Vault is sealed'] });
    expect(await store().write(v1(), null)).toEqual({ keyset: v1(), handle: '1' });
    expect(writes()).toBe(2);
    expect(vault.currentVersion(SECRET)).toBe(1);
  });

  it('gives up on a write when Vault stays sealed and says nothing was written', async () => {
    vault.sealed = true;
    await expect(store({ maxAttempts: 2 }).write(v1(), null)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', message: expect.stringContaining('the keyset was not written') });
    expect(vault.currentVersion(SECRET)).toBe(0);
  });
});

describe('VaultStore writes whose answer is lost', () => {
  let s: VaultStore;
  let snap: { keyset: Keyset; handle: string };
  let next: Keyset;

  beforeEach(async () => {
    s = store();
    await s.write(v1(), null);
    snap = await s.read();
    next = rotateKeyset(snap.keyset, { material: material(2), now: T });
    vault.requests.length = 0;
  });

  it('reports a write that landed as done, without writing it again or calling it a conflict', async () => {
    vault.fail({ reset: 'after-apply' });
    expect(await s.write(next, snap.handle)).toEqual({ keyset: next, handle: '2' });
    expect(writes()).toBe(1);
    expect(vault.requests.map((r) => `${r.method} ${r.path.replace(/^.*master_key/, '')}`)).toEqual(['POST ', 'GET ?version=2']);
    expect(vault.currentVersion(SECRET)).toBe(2);
  });

  it('checks, rather than trusts, a gateway error: a 502 for a write Vault applied is success', async () => {
    vault.fail({ status: 502, errors: ['upstream timed out'], applied: true });
    expect(await s.write(next, snap.handle)).toEqual({ keyset: next, handle: '2' });
    expect(writes()).toBe(1);
    expect(vault.currentVersion(SECRET)).toBe(2);
  });

  it('resends after a 500 for a write Vault did not apply', async () => {
    vault.fail({ status: 500 });
    expect(await s.write(next, snap.handle)).toEqual({ keyset: next, handle: '2' });
    expect(vault.requests.map((r) => r.method)).toEqual(['POST', 'GET', 'POST']);
    expect(stored()).toEqual(next);
  });

  it('resends a write that did not land, with the same cas', async () => {
    vault.fail({ reset: 'before-apply' });
    expect(await s.write(next, snap.handle)).toEqual({ keyset: next, handle: '2' });
    expect(vault.requests.filter((r) => r.method === 'POST').map((r) => r.body)).toEqual([
      { options: { cas: 1 }, data: { value: serializeKeyset(next) } },
      { options: { cas: 1 }, data: { value: serializeKeyset(next) } },
    ]);
    expect(vault.currentVersion(SECRET)).toBe(2);
    expect(stored()).toEqual(next);
  });

  it('recognises its own write when a timed-out request lands after the check (cas mismatch on the resend)', async () => {
    vault.fail({ hold: true });
    expect(await store({ timeoutMs: 100 }).write(next, snap.handle)).toEqual({ keyset: next, handle: '2' });
    expect(vault.currentVersion(SECRET)).toBe(2);
    expect(stored()).toEqual(next);
  });

  it('reports CONFLICT when another writer landed while the answer was lost', async () => {
    const other = rotateKeyset(snap.keyset, { material: material(7), now: T });
    vault.fail({ reset: 'before-apply', then: () => vault.put(SECRET, { value: serializeKeyset(other) }) });
    await expect(s.write(next, snap.handle)).rejects.toMatchObject({ code: 'CONFLICT' });
    expect(stored()).toEqual(other);
    expect(vault.currentVersion(SECRET)).toBe(2);
  });

  it('reports CONFLICT when another writer lands between the check and the resend', async () => {
    const other = rotateKeyset(snap.keyset, { material: material(7), now: T });
    const noop = (): void => undefined;
    vault.fail({ reset: 'before-apply' }, { first: noop }, { first: () => vault.put(SECRET, { value: serializeKeyset(other) }) });
    await expect(s.write(next, snap.handle)).rejects.toMatchObject({ code: 'CONFLICT' });
    expect(vault.requests.map((r) => r.method)).toEqual(['POST', 'GET', 'POST', 'GET']);
    expect(stored()).toEqual(other);
  });

  it('says the outcome is unknown when Vault cannot be asked whether the write landed', async () => {
    vault.fail({ reset: 'after-apply', then: () => (vault.sealed = true) });
    await expect(store({ maxAttempts: 2 }).write(next, snap.handle)).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
      message: expect.stringMatching(/may or may not have landed.*status/),
    });
  });
});

describe('key-manager --store vault:', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'vault-cli-'));
  });
  afterEach(() => fs.rm(dir, { recursive: true, force: true }));
  const env = (token = TOKEN): NodeJS.ProcessEnv => ({ VAULT_ADDR: vault.address, VAULT_TOKEN: token, KEY_MANAGER_AUDIT_LOG: path.join(dir, 'audit.jsonl') });

  it('initialises, rotates and reports status on the Vault keyset', async () => {
    expect((await runCli(['--store', `vault:${SECRET}`, 'init'], { env: env() })).code).toBe(0);
    expect((await runCli(['--store', `vault:${SECRET}`, 'rotate'], { env: env() })).code).toBe(0);
    const status = await runCli(['--store', `vault:${SECRET}`, '--json', 'status'], { env: env() });
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ store: 'vault', location: `vault:${SECRET}`, primary: 2 });
    expect(vault.currentVersion(SECRET)).toBe(2);
  });

  it('fails with the error code and without the token in its output or audit log', async () => {
    const token = 'hvs.not-a-valid-token-XYZ';
    const result = await runCli(['--store', `vault:${SECRET}`, 'status'], { env: env(token) });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('error [ACCESS_DENIED]');
    const audit = await fs.readFile(path.join(dir, 'audit.jsonl'), 'utf8').catch(() => '');
    expect(`${result.stdout}${result.stderr}${audit}`).not.toContain(token);
  });
});

describe('VaultStore over HTTPS', () => {
  let tlsVault: FakeVault;
  beforeEach(async () => {
    tlsVault = await FakeVault.start({ tls: true });
    tlsVault.addToken(TOKEN, SEED_POLICY);
    tlsVault.put(SECRET, { value: serializeKeyset(v1()) });
  });
  afterEach(() => tlsVault.stop());

  it('trusts the CA in VAULT_CACERT', async () => {
    const s = openStore(`vault:${SECRET}`, { env: { VAULT_ADDR: tlsVault.address, VAULT_TOKEN: TOKEN, VAULT_CACERT: path.join(TLS_FIXTURES, 'ca.pem') } });
    expect((await s.read()).keyset).toEqual(v1());
  });

  it('refuses a certificate it cannot verify, at once, and says to set VAULT_CACERT', async () => {
    const s = new VaultStore(TARGET, { address: tlsVault.address, token: TOKEN, sleep: async (ms) => void sleeps.push(ms) });
    await expect(s.read()).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', message: expect.stringContaining('set VAULT_CACERT') });
    expect(sleeps).toEqual([]);
    expect(tlsVault.requests).toEqual([]);
  });
});

function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
