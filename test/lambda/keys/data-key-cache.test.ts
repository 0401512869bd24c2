import { DataKeyCache, MAX_CONCURRENT_LEGACY_DERIVATIONS, requireMaterial } from '../../../lambda/keys/data-key-cache';
import { deriveHkdf, deriveLegacyPbkdf2 } from '../../../lambda/keys/derive';
import { createKeyset, destroyVersion, disableVersion, pruneDestroyed, rotateKeyset } from '../../../lambda/keys/keyset';
import { legacyKeyset } from '../../../lambda/keys/legacy';
import legacyVectors from '../../fixtures/legacy-vectors.json';
import { material } from '../../support/fixed';
import { trackPbkdf2 } from '../../support/pbkdf2';

const T = '2026-01-01T00:00:00.000Z';
const ks = rotateKeyset(createKeyset({ material: material(1), now: T }), { material: material(2), now: T });
const [v1, v2] = ks.versions;

describe('DataKeyCache', () => {
  it('derives once per (version, context); cached() serves it afterwards and never derives', async () => {
    const cache = new DataKeyCache(10);
    expect(cache.cached(v1, 'trading_data')).toBeUndefined();
    const a = await cache.derive(v1, 'trading_data');
    const b = await cache.derive(v1, 'trading_data');
    expect(a).toEqual({ key: deriveHkdf(Buffer.from(material(1), 'base64'), 'trading_data', 1), derived: true });
    expect(b).toEqual({ key: a.key, derived: false });
    const cached = cache.cached(v1, 'trading_data');
    expect(cached?.key).toEqual(a.key);
    expect(cached?.aad.toString()).toBe('AP2|1|trading_data');
    expect(cache.get(v1, 'trading_data')).toBe(cached);
  });

  it('derive() hands each caller its own copy, which the cache never zeroes (the caller awaits before using it)', async () => {
    const cache = new DataKeyCache(1);
    const { key } = await cache.derive(v1, 'a');
    await cache.derive(v1, 'b'); // evicts and zeroes the cached 'a'
    expect(cache.cached(v1, 'a')).toBeUndefined();
    expect(key.equals(deriveHkdf(Buffer.from(material(1), 'base64'), 'a', 1))).toBe(true);
  });

  it('evicts the least recently used key past its bound and zeroes it', () => {
    const cache = new DataKeyCache(2);
    const a = cache.get(v1, 'a').key;
    const b = cache.get(v1, 'b').key;
    cache.get(v1, 'a'); // a is now more recent than b
    cache.get(v1, 'c'); // so b is the one evicted
    expect(cache.size).toBe(2);
    expect(b.every((byte) => byte === 0)).toBe(true);
    expect(a.some((byte) => byte !== 0)).toBe(true);
  });

  it('never serves a key for material other than the one it was derived from: the stale key is zeroed and a new one derived', async () => {
    const cache = new DataKeyCache(10);
    const old = cache.get(v1, 'a').key;
    const replaced = { ...v1, material: material(9) }; // version 1 recovered from another keyset's backup
    expect(cache.cached(replaced, 'a')).toBeUndefined();
    expect(old.every((byte) => byte === 0)).toBe(true);
    expect(await cache.derive(replaced, 'a')).toEqual({ key: deriveHkdf(Buffer.from(material(9), 'base64'), 'a', 1), derived: true });
    expect(cache.size).toBe(1);
  });

  it('retain() is told each key\'s version and material, and zeroes what it drops; clear() zeroes everything', () => {
    const cache = new DataKeyCache(10);
    const k1 = cache.get(v1, 'a').key;
    const k2 = cache.get(v2, 'a').key;
    const seen: [number, string][] = [];
    cache.retain((v, m) => {
      seen.push([v, m]);
      return v === 2;
    });
    expect(seen).toEqual([
      [1, material(1)],
      [2, material(2)],
    ]);
    expect(k1.every((byte) => byte === 0)).toBe(true);
    expect(k2.some((byte) => byte !== 0)).toBe(true);
    cache.clear();
    expect(k2.every((byte) => byte === 0)).toBe(true);
    expect(cache.size).toBe(0);
  });
});

describe('DataKeyCache legacy derivations', () => {
  const legacy = legacyKeyset(legacyVectors.master_key_base64, 3);
  const [l1, l2] = legacy.versions;

  it('derive() gives the key the Python system derived, off the event loop, and the same key get() derives synchronously', async () => {
    const cache = new DataKeyCache(10);
    for (const dek of legacyVectors.deks) {
      const v = legacy.versions[dek.version - 1];
      expect((await cache.derive(v, dek.context)).key.toString('hex')).toBe(dek.dek_hex);
      expect(new DataKeyCache(10).get(v, dek.context).key.toString('hex')).toBe(dek.dek_hex);
    }
  });

  it('concurrent misses of one key share one derivation, audited (derived: true) by exactly one caller', async () => {
    const cache = new DataKeyCache(10);
    const watch = trackPbkdf2();
    try {
      const results = await Promise.all(Array.from({ length: 20 }, () => cache.derive(l1, 'trading_data')));
      expect(results.filter((r) => r.derived)).toHaveLength(1);
      expect(results.every((r) => r.key.toString('hex') === legacyVectors.deks[0].dek_hex)).toBe(true);
      expect(watch.calls).toBe(1);
    } finally {
      watch.restore();
    }
  });

  it('does not share a derivation under way for other material, and neither caller\'s key is zeroed by the other\'s', async () => {
    const cache = new DataKeyCache(10);
    const replaced = { ...l1, material: material(9) };
    const [a, b] = await Promise.all([cache.derive(l1, 'trading_data'), cache.derive(replaced, 'trading_data')]);
    expect(a.key.toString('hex')).toBe(legacyVectors.deks[0].dek_hex);
    expect(b.key.equals(deriveLegacyPbkdf2(Buffer.from(material(9), 'base64'), 'trading_data', 1))).toBe(true);
  });

  it(`runs at most ${MAX_CONCURRENT_LEGACY_DERIVATIONS} at once (or the bound it is given) and gets through the whole queue`, async () => {
    for (const bound of [MAX_CONCURRENT_LEGACY_DERIVATIONS, 1]) {
      const cache = new DataKeyCache(100, bound);
      const inFlight = trackPbkdf2();
      try {
        const contexts = Array.from({ length: 8 }, (_, i) => `ctx_${i}`);
        const keys = await Promise.all(contexts.map((c, i) => cache.derive(i % 2 ? l1 : l2, c)));
        expect(keys.every((k) => k.derived)).toBe(true);
        expect(inFlight.calls).toBe(8);
        expect(inFlight.peak).toBe(bound);
      } finally {
        inFlight.restore();
      }
    }
  });
});

describe('requireMaterial', () => {
  it('returns enabled and disabled versions and refuses unknown, destroyed and pruned ones with typed errors', () => {
    const disabled = disableVersion(ks, 1, { now: T });
    expect(requireMaterial(disabled, 1).state).toBe('disabled');
    expect(() => requireMaterial(ks, 9)).toThrow(expect.objectContaining({ code: 'UNKNOWN_VERSION' }));
    const destroyed = destroyVersion(disabled, 1, { now: T });
    expect(() => requireMaterial(destroyed, 1)).toThrow(expect.objectContaining({ code: 'VERSION_DESTROYED' }));
    expect(() => requireMaterial(pruneDestroyed(destroyed), 1)).toThrow(expect.objectContaining({ code: 'VERSION_DESTROYED', message: expect.stringMatching(/pruned/) }));
  });
});
