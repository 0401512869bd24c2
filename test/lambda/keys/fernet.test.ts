import { createCipheriv, createHmac } from 'node:crypto';
import { FernetError, FernetKey } from '../../../lambda/keys/fernet';
import generate from '../../fixtures/fernet-spec/generate.json';
import invalid from '../../fixtures/fernet-spec/invalid.json';
import verify from '../../fixtures/fernet-spec/verify.json';

const fixedRandom = (byte: number) => ({ bytes: (n: number) => Buffer.alloc(n, byte) });

describe('Fernet (github.com/fernet/spec vectors)', () => {
  describe('generate', () => {
    it.each(generate.map((c) => [c.src, c]))('makes the spec token for %j at the spec time with the spec IV', (_src, c) => {
      const key = FernetKey.parse(c.secret);
      expect(key.encrypt(Buffer.from(c.src), { now: new Date(c.now), iv: Buffer.from(c.iv) })).toBe(c.token);
    });
  });

  describe('verify', () => {
    it.each(verify.map((c) => [c.src, c]))('decrypts the spec token to %j within its TTL', (_src, c) => {
      const key = FernetKey.parse(c.secret);
      expect(key.decrypt(c.token, { now: new Date(c.now), ttlSeconds: c.ttl_sec }).toString()).toBe(c.src);
    });
  });

  describe('invalid', () => {
    it.each(invalid.map((c) => [c.desc, c]))('refuses a token with %s', (_desc, c) => {
      const key = FernetKey.parse(c.secret);
      expect(() => key.decrypt(c.token, { now: new Date(c.now), ttlSeconds: c.ttl_sec })).toThrow(FernetError);
    });

    it('says why: a wrong MAC is a signature failure, an old token expired, a far-future one is refused', () => {
      const reason = (desc: string): string => {
        const c = invalid.find((x) => x.desc === desc)!;
        try {
          FernetKey.parse(c.secret).decrypt(c.token, { now: new Date(c.now), ttlSeconds: c.ttl_sec });
        } catch (err) {
          return (err as FernetError).reason;
        }
        return 'accepted';
      };
      expect(reason('incorrect mac')).toBe('signature');
      expect(reason('expired TTL')).toBe('expired');
      expect(reason('far-future TS (unacceptable clock skew)')).toBe('future');
      expect(reason('too short')).toBe('malformed');
    });
  });

  it('refuses a correctly signed token stamped past any Date (2^64-1 s) as "future", not a RangeError', () => {
    // Built by hand: FernetKey.encrypt takes a Date, which cannot hold such a stamp.
    const keyBytes = Buffer.alloc(32, 4);
    const header = Buffer.alloc(25);
    header[0] = 0x80;
    header.writeBigUInt64BE(2n ** 64n - 1n, 1);
    const cipher = createCipheriv('aes-128-cbc', keyBytes.subarray(16), header.subarray(9));
    const body = Buffer.concat([header, cipher.update('backup'), cipher.final()]);
    const token = Buffer.concat([body, createHmac('sha256', keyBytes.subarray(0, 16)).update(body).digest()]).toString('base64url');
    const key = FernetKey.parse(keyBytes.toString('base64url'));
    const padded = token + '='.repeat((4 - (token.length % 4)) % 4);
    expect(() => key.decrypt(padded, { now: new Date('2026-01-01T00:00:00Z') })).toThrow(
      expect.objectContaining({ reason: 'future', code: 'DECRYPT_FAILED', message: expect.stringMatching(/stamped 18446744073709552000 s after 1970, past any date, in the future/) }),
    );
  });

  it('without a TTL accepts a token of any age', () => {
    const c = verify[0];
    expect(FernetKey.parse(c.secret).decrypt(c.token, { now: new Date('2030-01-01T00:00:00Z') }).toString()).toBe(c.src);
  });

  it('round-trips empty and multi-block plaintexts under a generated key', () => {
    const key = FernetKey.parse(FernetKey.generate(fixedRandom(7)));
    for (const size of [0, 1, 15, 16, 17, 1000]) {
      const data = Buffer.alloc(size, 0xab);
      const token = key.encrypt(data, { now: new Date(), iv: Buffer.alloc(16, size) });
      expect(key.decrypt(token, { now: new Date(), ttlSeconds: 60 }).equals(data)).toBe(true);
    }
  });

  it('refuses a token under another key, naming no key or token', () => {
    const a = FernetKey.parse(FernetKey.generate(fixedRandom(1)));
    const b = FernetKey.parse(FernetKey.generate(fixedRandom(2)));
    const token = a.encrypt(Buffer.from('secret'), { now: new Date(), iv: Buffer.alloc(16) });
    expect(() => b.decrypt(token, { now: new Date() })).toThrow(/does not verify under this key/);
    try {
      b.decrypt(token, { now: new Date() });
    } catch (err) {
      expect((err as Error).message).not.toContain(token.slice(0, 20));
    }
  });

  it('parses keys padded or not and refuses anything but 32 bytes of base64url', () => {
    const text = FernetKey.generate(fixedRandom(9));
    expect(text).toMatch(/^[A-Za-z0-9_-]{43}=$/);
    expect(() => FernetKey.parse(text.slice(0, 43))).not.toThrow();
    expect(() => FernetKey.parse('abc')).toThrow(/base64url of exactly 32 bytes/);
    expect(() => FernetKey.parse(Buffer.alloc(32).toString('base64').replace(/A/, '+'))).toThrow(/base64url/);
  });

  it('zeroes both halves on destroy so the key no longer verifies its tokens', () => {
    const key = FernetKey.parse(verify[0].secret);
    key.destroy();
    expect(() => key.decrypt(verify[0].token, { now: new Date(verify[0].now) })).toThrow(FernetError);
  });
});
