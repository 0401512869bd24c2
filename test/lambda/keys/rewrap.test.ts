import { aad, openGcm, parseEnvelope, sealGcm, toCompact, toRecord } from '../../../lambda/keys/envelope';
import { deriveKey } from '../../../lambda/keys/derive';
import { createKeyset, destroyVersion, disableVersion, type Keyset, rotateKeyset } from '../../../lambda/keys/keyset';
import { PooledRandom } from '../../../lambda/keys/random';
import { DataKeyCache } from '../../../lambda/keys/data-key-cache';
import { looksLikeEnvelope, Rewrapper } from '../../../lambda/keys/rewrap';
import { legacyKeyset } from '../../../lambda/keys/legacy';
import legacy from '../../fixtures/legacy-vectors.json';

const T0 = '2026-01-01T00:00:00.000Z';
const material = (b: number) => Buffer.alloc(32, b).toString('base64');

function seal(keyset: Keyset, version: number, context: string, text: string): Buffer {
  const v = keyset.versions.find((x) => x.version === version)!;
  return sealGcm(deriveKey(v.kdf, Buffer.from(v.material!, 'base64'), context, version), Buffer.alloc(12, version), Buffer.from(text), aad(version, context));
}

function openBytes(keyset: Keyset, envelope: string | object): Buffer {
  const p = parseEnvelope(envelope);
  const v = keyset.versions.find((x) => x.version === p.version)!;
  return openGcm(deriveKey(v.kdf, Buffer.from(v.material!, 'base64'), p.context, p.version), p.payload, aad(p.version, p.context));
}

const open = (keyset: Keyset, envelope: string | object): string => openBytes(keyset, envelope).toString();

describe('Rewrapper', () => {
  let ks = createKeyset({ material: material(1), now: T0 });
  ks = rotateKeyset(ks, { material: material(2), now: T0 });
  ks = rotateKeyset(ks, { material: material(3), now: T0 });

  it('rewraps a record under an old version to an AP2 record under the primary, same context and plaintext', () => {
    const r = new Rewrapper(ks, new PooledRandom());
    const result = r.rewrap(toRecord(1, 'user_pii', seal(ks, 1, 'user_pii', 'pii')));
    expect(result).toMatchObject({ status: 'rewrapped', fromVersion: 1, context: 'user_pii', value: { key_version: 3, context: 'user_pii', format: 'AP2' } });
    expect(open(ks, (result as { value: object }).value)).toBe('pii');
    expect((result as { json: string }).json).toBe(JSON.stringify((result as { value: object }).value));
  });

  it('keeps the compact form compact', () => {
    const r = new Rewrapper(ks, new PooledRandom());
    const result = r.rewrap(toCompact(2, 'trading_data', seal(ks, 2, 'trading_data', 'px')));
    expect((result as { value: string }).value).toMatch(/^AP2:3:trading_data:/);
    expect(open(ks, (result as { value: string }).value)).toBe('px');
    expect((result as { json: string }).json).toBe(JSON.stringify((result as { value: string }).value));
  });

  it('leaves envelopes under the primary and non-envelopes alone', () => {
    const r = new Rewrapper(ks, new PooledRandom());
    expect(r.rewrap(toRecord(3, 'c', seal(ks, 3, 'c', 'x')))).toEqual({ status: 'current' });
    expect(r.rewrap({ id: 1 })).toEqual({ status: 'not-envelope' });
    expect(r.rewrap('plain text')).toEqual({ status: 'not-envelope' });
    expect(looksLikeEnvelope(['ciphertext'])).toBe(false);
  });

  it('reads disabled versions (moving data off them is the point) and reports them; refuses destroyed ones', () => {
    const disabled = disableVersion(ks, 1, { now: T0, reason: 'leak' });
    const r = new Rewrapper(disabled, new PooledRandom());
    expect(r.rewrap(toRecord(1, 'c', seal(ks, 1, 'c', 'x'))).status).toBe('rewrapped');
    expect([...r.disabledVersionsRead]).toEqual([1]);
    const destroyed = new Rewrapper(destroyVersion(disabled, 1, { now: T0 }), new PooledRandom());
    expect(() => destroyed.rewrap(toRecord(1, 'c', seal(ks, 1, 'c', 'x')))).toThrow(/VERSION_DESTROYED|destroyed/);
  });

  it('rewraps legacy AlphaPulse records (PBKDF2, no AAD) to AP2 under the primary', () => {
    let lks = legacyKeyset(legacy.master_key_base64, 3);
    lks = rotateKeyset(lks, { material: material(9), now: T0 });
    const r = new Rewrapper(lks, new PooledRandom());
    for (const rec of legacy.records) {
      const result = r.rewrap(rec.record);
      expect(result.status).toBe('rewrapped');
      expect(result).toMatchObject({ value: { key_version: 4, format: 'AP2', context: rec.record.context } });
      expect(openBytes(lks, (result as { value: object }).value).toString('base64')).toBe(rec.plaintext_base64);
    }
  });

  it('refuses a tampered envelope and a legacy-shaped record naming an HKDF version', () => {
    const r = new Rewrapper(ks, new PooledRandom());
    const rec = toRecord(1, 'c', seal(ks, 1, 'c', 'x'));
    expect(() => r.rewrap({ ...rec, context: 'd' })).toThrow(/authentication failed/);
    const { format: _f, ...stripped } = rec;
    expect(() => r.rewrap(stripped)).toThrow(/not a legacy version/);
  });

  it('zeroes its derived keys on destroy', () => {
    const r = new Rewrapper(ks, new PooledRandom());
    r.rewrap(toRecord(1, 'c', seal(ks, 1, 'c', 'x')));
    const clear = jest.spyOn(DataKeyCache.prototype, 'clear');
    r.destroy();
    expect(clear).toHaveBeenCalledTimes(1);
    clear.mockRestore();
  });
});
