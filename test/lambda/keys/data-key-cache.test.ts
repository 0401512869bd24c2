import { DataKeyCache, requireMaterial } from '../../../lambda/keys/data-key-cache';
import { deriveHkdf } from '../../../lambda/keys/derive';
import { createKeyset, destroyVersion, disableVersion, pruneDestroyed, rotateKeyset } from '../../../lambda/keys/keyset';
import { material } from '../../support/fixed';

const T = '2026-01-01T00:00:00.000Z';
const ks = rotateKeyset(createKeyset({ material: material(1), now: T }), { material: material(2), now: T });
const [v1, v2] = ks.versions;

describe('DataKeyCache', () => {
  it('derives once per (version, context) and tells the caller when it derived', () => {
    const cache = new DataKeyCache(10);
    const derived: number[] = [];
    const a = cache.get(v1, 'trading_data', (v) => derived.push(v.version));
    const b = cache.get(v1, 'trading_data', (v) => derived.push(v.version));
    expect(a).toBe(b);
    expect(a.equals(deriveHkdf(Buffer.from(material(1), 'base64'), 'trading_data', 1))).toBe(true);
    expect(derived).toEqual([1]);
  });

  it('evicts the least recently used key past its bound and zeroes it', () => {
    const cache = new DataKeyCache(2);
    const a = cache.get(v1, 'a');
    const b = cache.get(v1, 'b');
    cache.get(v1, 'a'); // a is now more recent than b
    cache.get(v1, 'c'); // so b is the one evicted
    expect(cache.size).toBe(2);
    expect(b.every((byte) => byte === 0)).toBe(true);
    expect(a.some((byte) => byte !== 0)).toBe(true);
  });

  it('never serves a key for material other than the one it was derived from: the stale key is zeroed and a new one derived', () => {
    const cache = new DataKeyCache(10);
    const old = cache.get(v1, 'a');
    const replaced = { ...v1, material: material(9) }; // version 1 recovered from another keyset's backup
    const derived: number[] = [];
    const fresh = cache.get(replaced, 'a', (v) => derived.push(v.version));
    expect(fresh.equals(deriveHkdf(Buffer.from(material(9), 'base64'), 'a', 1))).toBe(true);
    expect(derived).toEqual([1]);
    expect(old.every((byte) => byte === 0)).toBe(true);
    expect(cache.size).toBe(1);
  });

  it('retain() is told each key\'s version and material, and zeroes what it drops; clear() zeroes everything', () => {
    const cache = new DataKeyCache(10);
    const k1 = cache.get(v1, 'a');
    const k2 = cache.get(v2, 'a');
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
