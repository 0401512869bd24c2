import { hkdfSync } from 'node:crypto';
import { deriveHkdf, deriveKey, deriveLegacyPbkdf2, deriveLegacyPbkdf2Async, keyFingerprint } from '../../../lambda/keys/derive';
import hkdfVectors from '../../fixtures/hkdf-vectors.json';
import legacyVectors from '../../fixtures/legacy-vectors.json';

describe('HKDF-SHA256', () => {
  it.each(hkdfVectors.rfc5869)('matches RFC 5869 appendix A (OKM $okm_hex)', (v) => {
    const okm = Buffer.from(hkdfSync('sha256', Buffer.from(v.ikm_hex, 'hex'), Buffer.from(v.salt_hex, 'hex'), Buffer.from(v.info_hex, 'hex'), v.length));
    expect(okm.toString('hex')).toBe(v.okm_hex);
  });

  it.each(hkdfVectors.deks)('derives the data key Python computed for $context v$version', (v) => {
    expect(deriveHkdf(Buffer.from(hkdfVectors.material_base64, 'base64'), v.context, v.version).toString('hex')).toBe(v.dek_hex);
  });

  it('gives a different key for every context and every version', () => {
    const m = Buffer.alloc(32, 9);
    const keys = new Set([deriveHkdf(m, 'a', 1), deriveHkdf(m, 'b', 1), deriveHkdf(m, 'a', 2)].map((k) => k.toString('hex')));
    expect(keys.size).toBe(3);
  });

  it('refuses an invalid context instead of deriving a new key for it', () => {
    expect(() => deriveHkdf(Buffer.alloc(32), 'user pii', 1)).toThrow(expect.objectContaining({ code: 'INVALID_CONTEXT' }));
  });
});

describe('legacy PBKDF2', () => {
  it.each(legacyVectors.deks)('derives the data key the AlphaPulse Python system derived for $context v$version', (v) => {
    expect(deriveLegacyPbkdf2(Buffer.from(legacyVectors.master_key_base64, 'base64'), v.context, v.version).toString('hex')).toBe(v.dek_hex);
  });

  it.each(legacyVectors.deks)('derives the same key off the event loop (async) for $context v$version', async (v) => {
    expect((await deriveLegacyPbkdf2Async(Buffer.from(legacyVectors.master_key_base64, 'base64'), v.context, v.version)).toString('hex')).toBe(v.dek_hex);
  });

  it('is chosen by the kdf name', () => {
    const m = Buffer.from(legacyVectors.master_key_base64, 'base64');
    expect(deriveKey('legacy-pbkdf2', m, 'trading_data', 1).toString('hex')).toBe(legacyVectors.deks[0].dek_hex);
    expect(deriveKey('hkdf-sha256', m, 'trading_data', 1).toString('hex')).not.toBe(legacyVectors.deks[0].dek_hex);
  });
});

describe('keyFingerprint', () => {
  it('is 16 hex digits, stable, and not a prefix of the key', () => {
    const key = Buffer.alloc(32, 0xab);
    expect(keyFingerprint(key)).toMatch(/^[0-9a-f]{16}$/);
    expect(keyFingerprint(key)).toBe(keyFingerprint(Buffer.from(key)));
    expect(key.toString('hex')).not.toContain(keyFingerprint(key));
  });
});
