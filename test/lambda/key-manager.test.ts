import fc from 'fast-check';
import { KeyManager, LEGACY_DERIVATION_AUDITS_PER_MINUTE } from '../../lambda/key-manager';
import { parseBinaryEnvelope, toBinary } from '../../lambda/keys/binary-envelope';
import { MAX_CONCURRENT_LEGACY_DERIVATIONS } from '../../lambda/keys/data-key-cache';
import { toRecord } from '../../lambda/keys/envelope';
import { KeyManagementError } from '../../lambda/keys/errors';
import { createKeyset, type Keyset, rotateKeyset } from '../../lambda/keys/keyset';
import { legacyKeyset } from '../../lambda/keys/legacy';
import { MemoryStore } from '../../lambda/stores/memory-store';
import type { KeysetSnapshot } from '../../lambda/stores/store';
import { MemoryAuditSink } from '../../lambda/telemetry/audit';
import { MemoryMetricsSink } from '../../lambda/telemetry/metrics';
import legacyVectors from '../fixtures/legacy-vectors.json';
import { material, SeededRandom, TestClock } from '../support/fixed';
import { trackPbkdf2 } from '../support/pbkdf2';

function setup(initial?: Keyset, extra: Partial<ConstructorParameters<typeof KeyManager>[0]> = {}) {
  const clock = new TestClock();
  const store = new MemoryStore('memory:test', initial);
  const audit = new MemoryAuditSink();
  const metrics = new MemoryMetricsSink();
  const km = new KeyManager({ store, clock: clock.now, random: new SeededRandom(), audit, metrics, actor: 'tester', ...extra });
  return { clock, store, audit, metrics, km };
}

const v1 = () => createKeyset({ material: material(1), now: '2026-01-01T00:00:00.000Z' });

describe('KeyManager data path', () => {
  it('round-trips record and compact envelopes', async () => {
    const { km } = setup(v1());
    expect((await km.decrypt(await km.encrypt('hi', 'trading_data'))).toString()).toBe('hi');
    expect((await km.decrypt(await km.encryptCompact(Buffer.from([0, 1, 2]), 'user_pii'))).equals(Buffer.from([0, 1, 2]))).toBe(true);
  });

  it('reads the store once for many warm operations within the TTL', async () => {
    const { km, store } = setup(v1());
    for (let i = 0; i < 200; i++) await km.decrypt(await km.encrypt(`m${i}`, i % 2 ? 'user_pii' : 'trading_data'));
    expect(store.reads).toBe(1);
  });

  it('refetches after the TTL and picks up a rotation made elsewhere', async () => {
    const { km, store, clock } = setup(v1());
    await km.encrypt('a', 'trading_data');
    const other = new KeyManager({ store, clock: clock.now, random: new SeededRandom('other') });
    await other.rotate();
    expect((await km.encrypt('b', 'trading_data')).key_version).toBe(1);
    clock.advance(300_001);
    expect((await km.encrypt('c', 'trading_data')).key_version).toBe(2);
    expect(store.reads).toBe(3); // km, other's fresh read, km after TTL
  });

  it('refreshes ahead in the background in the last fifth of the TTL, so steady traffic never waits on the store', async () => {
    const { km, store, clock } = setup(v1());
    await km.encrypt('a', 'trading_data');
    const other = new KeyManager({ store, clock: clock.now, random: new SeededRandom('other') });
    await other.rotate();
    const readsBefore = store.reads;
    clock.advance(250_000);
    const read = jest.spyOn(store, 'read');
    expect((await km.encrypt('b', 'trading_data')).key_version).toBe(1); // served from cache at once
    expect(read).toHaveBeenCalledTimes(1); // ...while one refresh started
    await read.mock.results[0].value;
    await new Promise((resolve) => setImmediate(resolve));
    expect((await km.encrypt('c', 'trading_data')).key_version).toBe(2);
    expect(store.reads - readsBefore).toBe(1);
  });

  it('decrypts data written under a version newer than its cache with one shared refetch', async () => {
    const { km, store, clock } = setup(v1());
    await km.encrypt('warm', 'trading_data');
    const other = new KeyManager({ store, clock: clock.now, random: new SeededRandom('other') });
    await other.rotate();
    const envelopes = await Promise.all(Array.from({ length: 50 }, (_, i) => other.encrypt(`x${i}`, 'trading_data')));
    const readsBefore = store.reads;
    const plain = await Promise.all(envelopes.map((e) => km.decrypt(e)));
    expect(plain.map(String)).toEqual(envelopes.map((_, i) => `x${i}`));
    expect(store.reads - readsBefore).toBe(1);
  });

  it('rate-limits refetches caused by versions that do not exist', async () => {
    const { km, store, metrics, clock } = setup(v1());
    const forged = { ...(await km.encrypt('x', 'trading_data')), key_version: 99 };
    const readsBefore = store.reads;
    for (let i = 0; i < 20; i++) await expect(km.decrypt(forged)).rejects.toMatchObject({ code: 'UNKNOWN_VERSION' });
    expect(store.reads - readsBefore).toBe(1);
    clock.advance(1_000);
    await expect(km.decrypt(forged)).rejects.toMatchObject({ code: 'UNKNOWN_VERSION' });
    expect(store.reads - readsBefore).toBe(2);
    expect(metrics.total('KeyVersionMismatch')).toBe(21);
    expect(metrics.total('DecryptionFailures')).toBe(21);
  });

  it('refuses to decrypt a ciphertext moved to another context or version', async () => {
    const { km } = setup(rotateKeyset(v1(), { material: material(2), now: '2026-01-01T00:00:00.000Z' }));
    const env = await km.encrypt('secret', 'user_pii');
    await expect(km.decrypt({ ...env, context: 'trading_data' })).rejects.toMatchObject({ code: 'DECRYPT_FAILED' });
    await expect(km.decrypt({ ...env, key_version: 1 })).rejects.toMatchObject({ code: 'DECRYPT_FAILED' });
  });

  it('refuses a new envelope stripped of its format to pass as legacy', async () => {
    const { km } = setup(v1());
    const { format: _format, ...stripped } = await km.encrypt('secret', 'user_pii');
    await expect(km.decrypt(stripped)).rejects.toMatchObject({ code: 'DECRYPT_FAILED', message: expect.stringMatching(/not a legacy version/) });
  });

  it('refuses tampered ciphertext with DECRYPT_FAILED', async () => {
    const { km } = setup(v1());
    const env = await km.encrypt('secret', 'user_pii');
    const bytes = Buffer.from(env.ciphertext, 'base64');
    bytes[bytes.length - 1] ^= 1;
    await expect(km.decrypt({ ...env, ciphertext: bytes.toString('base64') })).rejects.toMatchObject({ code: 'DECRYPT_FAILED' });
  });

  it('decrypts every record the AlphaPulse Python system wrote, through the legacy keyset', async () => {
    const { km } = setup(legacyKeyset(legacyVectors.master_key_base64, 3));
    for (const { record, plaintext_base64 } of legacyVectors.records) {
      const result = await km.decryptDetailed(JSON.stringify(record));
      expect(result).toMatchObject({ kind: 'legacy', version: record.key_version, context: record.context });
      expect(result.plaintext.toString('base64')).toBe(plaintext_base64);
    }
  });

  it('encrypts under a legacy primary with the authenticated AP2 format', async () => {
    const { km } = setup(legacyKeyset(legacyVectors.master_key_base64, 3));
    const env = await km.encrypt('new data', 'trading_data');
    expect(env).toMatchObject({ key_version: 3, format: 'AP2' });
    expect((await km.decrypt(env)).toString()).toBe('new data');
  });

  it('derives the same key as the legacy system and returns a copy the caller may zero', async () => {
    const { km } = setup(legacyKeyset(legacyVectors.master_key_base64, 3));
    const dk = await km.deriveDataKey('trading_data', 1);
    expect(dk.key.toString('hex')).toBe(legacyVectors.deks[0].dek_hex);
    dk.key.fill(0);
    expect((await km.deriveDataKey('trading_data', 1)).key.toString('hex')).toBe(legacyVectors.deks[0].dek_hex);
  });

  it('counts KeyDerivations by version and context and audits each real derivation once', async () => {
    const { km, metrics, audit } = setup(v1());
    for (let i = 0; i < 5; i++) await km.encrypt('x', 'trading_data');
    expect(metrics.total('KeyDerivations', { KeyVersion: '1', Context: 'trading_data' })).toBe(5);
    expect(metrics.data.filter((d) => d.name === 'KeyDerivations' && Object.keys(d.dimensions).length === 0)).toHaveLength(5);
    expect(audit.events.filter((e) => e.action === 'derive_key')).toHaveLength(1);
  });

  it('rejects invalid contexts before touching the store', async () => {
    const { km, store } = setup(v1());
    await expect(km.encrypt('x', 'no spaces')).rejects.toMatchObject({ code: 'INVALID_CONTEXT' });
    expect(store.reads).toBe(0);
  });

  it('serves a stale keyset when the store fails transiently after the TTL, and counts the failure', async () => {
    const { km, store, clock, metrics } = setup(v1());
    await km.encrypt('x', 'trading_data');
    clock.advance(300_001);
    jest.spyOn(store, 'read').mockRejectedValueOnce(new KeyManagementError('STORE_UNAVAILABLE', 'down'));
    expect((await km.encrypt('y', 'trading_data')).key_version).toBe(1);
    expect(metrics.total('KeyRetrievalFailures')).toBe(1);
  });

  it('fails when the store is down and nothing is cached', async () => {
    const { km, store, metrics } = setup(v1());
    jest.spyOn(store, 'read').mockRejectedValueOnce(new KeyManagementError('STORE_UNAVAILABLE', 'down'));
    await expect(km.encrypt('y', 'trading_data')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    expect(metrics.total('KeyRetrievalFailures')).toBe(1);
  });

  it('after a version\'s material is replaced (recover --force), encrypts under the new material once it refreshes', async () => {
    const { km, store, clock } = setup(v1());
    await km.encrypt('before', 'trading_data'); // caches version 1's data key
    const snap = await store.read();
    const replaced = createKeyset({ material: material(9), now: '2026-01-01T00:00:00.000Z' }); // version 1 again, other material
    await store.write(replaced, snap.handle);
    clock.advance(300_001);
    const after = await km.encrypt('after', 'trading_data');
    expect(after.key_version).toBe(1);
    const fresh = new KeyManager({ store, clock: clock.now });
    expect((await fresh.decrypt(after)).toString()).toBe('after');
  });

  it('never encrypts under a cached key that a concurrent miss evicted (and zeroed) while it waited', async () => {
    const { km, store, clock } = setup(v1(), { maxCachedKeys: 1 });
    await km.encrypt('warm', 'a');
    const contexts = ['a', 'b', 'c'];
    const envelopes = await Promise.all(Array.from({ length: 60 }, (_, i) => km.encrypt(`m${i}`, contexts[i % 3])));
    const fresh = new KeyManager({ store, clock: clock.now });
    expect((await Promise.all(envelopes.map((e) => fresh.decrypt(e)))).map(String)).toEqual(envelopes.map((_, i) => `m${i}`));
  });

  it('concurrent encrypts, warm and cold, in every form, each seal their own plaintext (text forms share a reused seal buffer)', async () => {
    const { km } = setup(v1(), { maxCachedKeys: 8 });
    await km.encrypt('warm', 'warm_ctx');
    const jobs = Array.from({ length: 60 }, (_, i) => {
      const context = i % 3 === 0 ? 'warm_ctx' : `cold_${i}`;
      const plaintext = `plaintext ${i} `.repeat(1 + (i % 7) * 50);
      const sealed = i % 3 === 1 ? km.encryptCompact(plaintext, context) : i % 3 === 2 ? km.encryptBinary(plaintext, context) : km.encrypt(plaintext, context);
      return { plaintext, sealed };
    });
    for (const { plaintext, sealed } of jobs) {
      const envelope = await sealed;
      const back = Buffer.isBuffer(envelope) ? await km.decryptBinary(envelope) : await km.decrypt(envelope);
      expect(back.toString()).toBe(plaintext);
    }
  });

  it('bounds the derived-key cache and re-derives evicted keys to the same value', async () => {
    const { km } = setup(v1(), { maxCachedKeys: 4 });
    const first = await km.deriveDataKey('c0');
    for (let i = 1; i < 10; i++) await km.deriveDataKey(`c${i}`);
    expect((await km.deriveDataKey('c0')).key.equals(first.key)).toBe(true);
  });
});

describe('KeyManager binary envelopes', () => {
  const DECRYPT_CODES = ['INVALID_ENVELOPE', 'DECRYPT_FAILED', 'UNKNOWN_VERSION', 'VERSION_DISABLED', 'VERSION_DESTROYED'];
  const twoVersions = () => rotateKeyset(v1(), { material: material(2), now: '2026-01-01T00:00:00.000Z' });

  it('round-trips bytes and text, under the primary, with the version and context it was made under', async () => {
    const { km } = setup(twoVersions());
    const binary = await km.encryptBinary(Buffer.from([0, 1, 2, 255]), 'user_pii');
    expect(binary.subarray(0, 4).toString('hex')).toBe('41503200');
    expect(await km.decryptBinary(binary)).toEqual(Buffer.from([0, 1, 2, 255]));
    expect(await km.decryptBinaryDetailed(new Uint8Array(await km.encryptBinary('hé', 'trading_data')))).toMatchObject({ version: 2, context: 'trading_data', kind: 'ap2', plaintext: Buffer.from('hé') });
  });

  it('is the record form respelled: same payload, same AAD, convertible without a key', async () => {
    const { km } = setup(v1());
    const binary = await km.encryptBinary('secret', 'user_pii');
    const parsed = parseBinaryEnvelope(binary);
    expect((await km.decrypt(toRecord(parsed.version, parsed.context, parsed.payload))).toString()).toBe('secret');
    const record = await km.encrypt('other', 'user_pii');
    const fromRecord = toBinary(record.key_version, record.context, Buffer.from(record.ciphertext, 'base64'));
    expect((await km.decryptBinary(fromRecord)).toString()).toBe('other');
  });

  it('keeps the forms apart: a text envelope is not binary and a binary one is not text', async () => {
    const { km } = setup(v1());
    await expect(km.decryptBinary(Buffer.from(JSON.stringify(await km.encrypt('x', 'user_pii'))))).rejects.toMatchObject({ code: 'INVALID_ENVELOPE' });
    await expect(km.decryptBinary((await km.encryptCompact('x', 'user_pii')) as unknown as Buffer)).rejects.toMatchObject({ code: 'INVALID_ENVELOPE' });
    await expect(km.decrypt(await km.encryptBinary('x', 'user_pii'))).rejects.toMatchObject({ code: 'INVALID_ENVELOPE' });
  });

  it('refuses a binary envelope moved to another context or version, and one under a disabled version', async () => {
    const { km, metrics } = setup(twoVersions());
    const parsed = parseBinaryEnvelope(await km.encryptBinary('secret', 'user_pii'));
    await expect(km.decryptBinary(toBinary(parsed.version, 'trading_data', parsed.payload))).rejects.toMatchObject({ code: 'DECRYPT_FAILED' });
    await expect(km.decryptBinary(toBinary(1, parsed.context, parsed.payload))).rejects.toMatchObject({ code: 'DECRYPT_FAILED' });
    await expect(km.decryptBinary(toBinary(9, parsed.context, parsed.payload))).rejects.toMatchObject({ code: 'UNKNOWN_VERSION' });
    const old = await km.encryptBinary('old', 'user_pii');
    await km.rotate();
    await km.disableVersion(2, 'test');
    await expect(km.decryptBinary(old)).rejects.toMatchObject({ code: 'VERSION_DISABLED' });
    expect(metrics.total('DecryptionFailures')).toBe(4);
  });

  it('counts KeyDerivations and audits failures as the other forms do, never with key material', async () => {
    const { km, metrics, audit } = setup(v1());
    await km.decryptBinary(await km.encryptBinary('x', 'trading_data'));
    expect(metrics.total('KeyDerivations', { KeyVersion: '1', Context: 'trading_data' })).toBe(2);
    await expect(km.decryptBinary(Buffer.from('AP2\0nonsense'))).rejects.toBeInstanceOf(KeyManagementError);
    expect(audit.events.filter((e) => e.action === 'decrypt' && e.outcome === 'failure')).toHaveLength(1);
    expect(JSON.stringify(audit.events)).not.toContain(material(1));
  });

  it('on any change to an authentic binary envelope, fails with a typed decrypt error or returns its exact plaintext', async () => {
    const { km } = setup(twoVersions());
    const sealed = await Promise.all(['', 'a', 'x'.repeat(100)].flatMap((p) => ['user_pii', 'trading_data'].map(async (c) => ({ plaintext: Buffer.from(p), binary: await km.encryptBinary(p, c) }))));
    const edits = fc.tuple(fc.nat({ max: sealed.length - 1 }), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'cut', 'insert', 'flip'));
    await fc.assert(
      fc.asyncProperty(edits, async ([which, at, byte, edit]) => {
        const { plaintext, binary } = sealed[which];
        const i = at % binary.length;
        const input = Buffer.from(binary);
        if (edit === 'set') input[i] = byte;
        if (edit === 'flip') input[i] ^= 1 << (byte % 8);
        const changed = edit === 'cut' ? input.subarray(0, i) : edit === 'insert' ? Buffer.concat([input.subarray(0, i), Buffer.from([byte]), input.subarray(i)]) : input;
        try {
          const out = await km.decryptBinary(changed);
          expect(changed.equals(binary)).toBe(true);
          expect(out.equals(plaintext)).toBe(true);
        } catch (err) {
          expect(err).toBeInstanceOf(KeyManagementError);
          expect(DECRYPT_CODES).toContain((err as KeyManagementError).code);
        }
      }),
      { numRuns: 1_500 },
    );
  });
});

describe('KeyManager legacy derivations (PBKDF2, ~40 ms each, for any context a legacy record names)', () => {
  /** Runs `work` while a 5 ms timer measures the longest the event loop went without running it. */
  async function longestStall<T>(work: () => Promise<T>): Promise<{ result: T; stallMs: number }> {
    let last = performance.now();
    let stallMs = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      stallMs = Math.max(stallMs, now - last);
      last = now;
    }, 5);
    try {
      const result = await work();
      return { result, stallMs: Math.max(stallMs, performance.now() - last) };
    } finally {
      clearInterval(timer);
    }
  }

  it('100 forged records with distinct contexts fail without stalling the event loop, a few derivations at a time, with a bounded audit', async () => {
    const { km, audit } = setup(legacyKeyset(legacyVectors.master_key_base64, 3));
    await km.decrypt(JSON.stringify(legacyVectors.records[0].record)); // keyset cached, one real derivation audited
    const forged = Array.from({ length: 100 }, (_, i) => ({ ciphertext: Buffer.alloc(44, i).toString('base64'), key_version: 1, context: `forged_${i}`, algorithm: 'AES-256-GCM' as const }));
    const watch = trackPbkdf2();
    let outcomes: PromiseSettledResult<Buffer>[];
    let stallMs: number;
    try {
      ({ result: outcomes, stallMs } = await longestStall(() => Promise.allSettled(forged.map((r) => km.decrypt(r)))));
    } finally {
      watch.restore();
    }
    expect(outcomes.every((o) => o.status === 'rejected' && o.reason.code === 'DECRYPT_FAILED')).toBe(true);
    // Run inline, the 100 derivations held the loop for ~4 s in one go; off it, a turn of the loop is short.
    expect(stallMs).toBeLessThan(200);
    expect(watch.calls).toBe(100);
    expect(watch.peak).toBe(MAX_CONCURRENT_LEGACY_DERIVATIONS);
    const derivations = audit.events.filter((e) => e.action === 'derive_key');
    expect(derivations).toHaveLength(LEGACY_DERIVATION_AUDITS_PER_MINUTE);
    expect(audit.events.filter((e) => e.action === 'audit_rate_limited')).toEqual([
      expect.objectContaining({ outcome: 'skipped', detail: expect.stringMatching(/^over 20 legacy key derivations in a minute; until 2026-01-01T00:01:00.000Z the rest count in KeyDerivations/) }),
    ]);
    expect(audit.events.filter((e) => e.action === 'decrypt' && e.outcome === 'failure')).toHaveLength(100);
  });

  it('audits legacy derivations one by one again once the minute is over', async () => {
    const { km, audit, clock } = setup(legacyKeyset(legacyVectors.master_key_base64, 3));
    const forged = (i: number) => ({ ciphertext: Buffer.alloc(44).toString('base64'), key_version: 2, context: `c_${i}`, algorithm: 'AES-256-GCM' as const });
    for (let i = 0; i < LEGACY_DERIVATION_AUDITS_PER_MINUTE + 5; i++) await km.decrypt(forged(i)).catch(() => undefined);
    clock.advance(60_000);
    await km.decrypt(forged(999)).catch(() => undefined);
    expect(audit.events.filter((e) => e.action === 'derive_key')).toHaveLength(LEGACY_DERIVATION_AUDITS_PER_MINUTE + 1);
    expect(audit.events.at(-2)).toMatchObject({ action: 'derive_key', context: 'c_999' });
  });

  it('concurrent decrypts of one legacy context derive once; warm ones derive nothing', async () => {
    const { km, audit } = setup(legacyKeyset(legacyVectors.master_key_base64, 3));
    const { record, plaintext_base64 } = legacyVectors.records[0];
    const watch = trackPbkdf2();
    try {
      const plain = await Promise.all(Array.from({ length: 30 }, () => km.decrypt(JSON.stringify(record))));
      expect(plain.every((p) => p.toString('base64') === plaintext_base64)).toBe(true);
      await km.decrypt(JSON.stringify(record));
      expect(watch.calls).toBe(1);
    } finally {
      watch.restore();
    }
    expect(audit.events.filter((e) => e.action === 'derive_key')).toHaveLength(1);
  });
});

describe('KeyManager key management', () => {
  it('init refuses to overwrite an existing keyset', async () => {
    const { km, store } = setup(v1());
    await expect(km.init()).rejects.toMatchObject({ code: 'KEYSET_EXISTS' });
    expect((await store.read()).keyset.versions[0].material).toBe(material(1));
  });

  it('rotate keeps every old version decryptable', async () => {
    const { km } = setup();
    await km.init();
    const old = await km.encrypt('old', 'trading_data');
    expect(await km.rotate()).toEqual({ fromVersion: 1, toVersion: 2, rotationId: expect.stringMatching(/^manual-[0-9a-f-]{36}$/), via: 'in-process' });
    expect((await km.encrypt('new', 'trading_data')).key_version).toBe(2);
    expect((await km.decrypt(old)).toString()).toBe('old');
  });

  it('emergency rotation disables the old primary in the same write; its data then fails with VERSION_DISABLED', async () => {
    const { km, store, audit, metrics } = setup(v1());
    const old = await km.encrypt('old', 'trading_data');
    const writes = store.writes;
    expect(await km.rotate({ emergency: true, reason: 'laptop stolen' })).toEqual({ fromVersion: 1, toVersion: 2, disabledVersion: 1, rotationId: expect.stringMatching(/^emergency-/), via: 'in-process' });
    expect(store.writes - writes).toBe(1);
    await expect(km.decrypt(old)).rejects.toMatchObject({ code: 'VERSION_DISABLED', message: expect.stringMatching(/laptop stolen/) });
    expect(audit.events.find((e) => e.action === 'emergency_rotate')).toMatchObject({ outcome: 'success', version: 2 });
    expect(metrics.total('EmergencyRotations')).toBe(1);
  });

  it('destroy removes the material for good: VERSION_DESTROYED afterwards', async () => {
    const { km } = setup(v1());
    const old = await km.encrypt('old', 'trading_data');
    await km.rotate();
    await km.disableVersion(1, 'retired');
    await km.destroyVersion(1);
    await expect(km.decrypt(old)).rejects.toMatchObject({ code: 'VERSION_DESTROYED' });
    await expect(km.enableVersion(1)).rejects.toMatchObject({ code: 'INVALID_TRANSITION' });
  });

  it('a lost compare-and-set race is CONFLICT and loses nothing', async () => {
    const { km, store } = setup(v1());
    const rival = new KeyManager({ store, random: new SeededRandom('rival') });
    const realRead = store.read.bind(store);
    jest.spyOn(store, 'read').mockImplementationOnce(async (): Promise<KeysetSnapshot> => {
      const snap = await realRead();
      await rival.rotate();
      return snap;
    });
    await expect(km.rotate()).rejects.toMatchObject({ code: 'CONFLICT' });
    const { keyset } = await realRead();
    expect(keyset.versions.map((v) => v.version)).toEqual([1, 2]);
  });

  it('refuses a reason with a newline or escape sequence (a forged status row) and writes nothing', async () => {
    const { km, store } = setup(rotateKeyset(v1(), { material: material(2), now: '2026-01-01T00:00:00.000Z' }));
    const writes = store.writes;
    await expect(km.disableVersion(1, 'INC-1\n      3  *        enabled')).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/reason holds a control character \(U\+000A\)/) });
    await expect(km.rotate({ emergency: true, reason: 'x\u001b[1Ay' })).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/U\+001B/) });
    expect(store.writes).toBe(writes);
  });

  it('audits every operation with actor, store and outcome and never key material', async () => {
    const { km, audit } = setup();
    await km.init();
    await km.rotate();
    await expect(km.disableVersion(2, 'x')).rejects.toMatchObject({ code: 'INVALID_TRANSITION' });
    expect(audit.events.map((e) => [e.action, e.outcome])).toEqual([
      ['init', 'success'],
      ['rotate', 'success'],
      ['disable_version', 'failure'],
    ]);
    expect(audit.events[2]).toMatchObject({ actor: 'tester', store: 'memory', secret: 'memory:test', version: 2, code: 'INVALID_TRANSITION' });
    const text = JSON.stringify(audit.events);
    const { keyset } = await km.readFresh();
    for (const v of keyset.versions) expect(text).not.toContain(v.material as string);
  });
});

describe('KeyManager refuses a keyset stamped ahead of its clock', () => {
  it('a createdAt far in the future (which would skip every scheduled rotation) fails reads, status and health, naming the field', async () => {
    const future = rotateKeyset(v1(), { material: material(2), now: '2030-01-01T00:00:00.000Z' });
    const { km, metrics } = setup(future);
    await expect(km.encrypt('x', 'trading_data')).rejects.toMatchObject({ code: 'KEYSET_INVALID', field: 'versions[1].createdAt' });
    await expect(km.status()).rejects.toMatchObject({ code: 'KEYSET_INVALID', message: expect.stringMatching(/2030-01-01T00:00:00.000Z, more than 15 minutes after this host's clock/) });
    expect((await km.health()).checks[0]).toMatchObject({ name: 'keyset readable', ok: false, code: 'KEYSET_INVALID', detail: expect.stringMatching(/versions\[1\]\.createdAt/) });
    expect(metrics.total('KeyRetrievalFailures')).toBe(3);
  });

  it('accepts a writer whose clock is a few minutes ahead', async () => {
    const { km } = setup(rotateKeyset(v1(), { material: material(2), now: '2026-01-01T00:10:00.000Z' }));
    expect((await km.encrypt('x', 'trading_data')).key_version).toBe(2);
  });
});

describe('KeyManager status and health', () => {
  it('reports key age, the deadline and overdue rotation', async () => {
    const { km, clock } = setup(v1(), { rotationPeriodDays: 90 });
    clock.advanceDays(100);
    const s = await km.status();
    expect(s).toMatchObject({ primary: 1, primaryAgeDays: 100, daysUntilRotationDue: -10, rotationOverdue: true, enabledVersions: 1 });
    expect(JSON.stringify(s)).not.toContain(material(1));
  });

  it('health passes on a good keyset and fails (without throwing) when the store is missing', async () => {
    expect((await setup(v1()).km.health()).ok).toBe(true);
    const missing = await setup().km.health();
    expect(missing.ok).toBe(false);
    expect(missing.checks[0]).toMatchObject({ name: 'keyset readable', ok: false, code: 'KEYSET_NOT_FOUND', detail: expect.stringMatching(/no keyset/) });
  });
});
