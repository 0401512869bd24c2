import { createCipheriv } from 'node:crypto';
import fc from 'fast-check';
import { deriveHkdf, deriveLegacyPbkdf2 } from '../../../lambda/keys/derive';
import { aad, decodeBase64Strict, MAX_PLAINTEXT_BYTES, openGcm, parseEnvelope, readEnvelope, recordJson, sealGcm, toCompact, toRecord } from '../../../lambda/keys/envelope';
import hkdfVectors from '../../fixtures/hkdf-vectors.json';
import legacyVectors from '../../fixtures/legacy-vectors.json';

const codeOf = (run: () => unknown): string => {
  try {
    run();
  } catch (err) {
    return (err as { code: string }).code;
  }
  return 'NO_ERROR';
};

describe('legacy AlphaPulse records', () => {
  it.each(legacyVectors.records)('decrypts the record Python wrote for $record.context v$record.key_version byte for byte', ({ record, plaintext_base64 }) => {
    const parsed = parseEnvelope(JSON.stringify(record));
    expect(parsed).toMatchObject({ kind: 'legacy', form: 'record', version: record.key_version, context: record.context });
    const key = deriveLegacyPbkdf2(Buffer.from(legacyVectors.master_key_base64, 'base64'), record.context, record.key_version);
    expect(openGcm(key, parsed.payload).toString('base64')).toBe(plaintext_base64);
  });
});

describe('AP2 envelopes', () => {
  it.each(hkdfVectors.envelopes)('opens the record and the compact form Python computed', (v) => {
    const key = deriveHkdf(Buffer.from(hkdfVectors.material_base64, 'base64'), v.record.context, v.record.key_version);
    for (const form of [JSON.stringify(v.record), v.compact]) {
      const parsed = parseEnvelope(form);
      expect(parsed.kind).toBe('ap2');
      expect(openGcm(key, parsed.payload, aad(parsed.version, parsed.context)).toString('base64')).toBe(v.plaintext_base64);
    }
  });

  it('writes the same bytes Python does for a fixed IV', () => {
    const v = hkdfVectors.envelopes[0];
    const key = deriveHkdf(Buffer.from(hkdfVectors.material_base64, 'base64'), v.record.context, v.record.key_version);
    const payload = sealGcm(key, Buffer.alloc(12), Buffer.from(v.plaintext_base64, 'base64'), aad(1, 'trading_data'));
    expect(toRecord(1, 'trading_data', payload)).toEqual(v.record);
    expect(toCompact(1, 'trading_data', payload)).toBe(v.compact);
  });

  it('fails authentication when the version or the context in the AAD is changed', () => {
    const key = Buffer.alloc(32, 1);
    const payload = sealGcm(key, Buffer.alloc(12, 2), Buffer.from('secret'), aad(3, 'user_pii'));
    expect(codeOf(() => openGcm(key, payload, aad(4, 'user_pii')))).toBe('DECRYPT_FAILED');
    expect(codeOf(() => openGcm(key, payload, aad(3, 'trading_data')))).toBe('DECRYPT_FAILED');
    expect(codeOf(() => openGcm(key, payload))).toBe('DECRYPT_FAILED');
  });

  it('seals the same bytes into a reused buffer when transient, which the next transient seal overwrites', () => {
    const key = Buffer.alloc(32, 5);
    const owned = sealGcm(key, Buffer.alloc(12, 1), Buffer.from('first'), aad(1, 'a'));
    const first = sealGcm(key, Buffer.alloc(12, 1), Buffer.from('first'), aad(1, 'a'), undefined, true);
    expect(first.equals(owned)).toBe(true);
    const second = sealGcm(key, Buffer.alloc(12, 2), Buffer.from('other'), aad(1, 'a'), undefined, true);
    expect(second.buffer).toBe(first.buffer);
    expect(first.equals(owned)).toBe(false);
    const big = sealGcm(key, Buffer.alloc(12, 3), Buffer.alloc(200 * 1024), aad(1, 'a'), undefined, true);
    expect(big.buffer).not.toBe(second.buffer);
    expect(openGcm(key, big, aad(1, 'a')).length).toBe(200 * 1024);
  });

  it('spells a record\'s base64 exactly as Node does whatever the size (large ones are encoded in pieces)', () => {
    for (const size of [0, 1, 2, 3, 12287, 12288, 12289, 24576, 24577, 65536 + 28, 100_001]) {
      const payload = Buffer.from(Array.from({ length: size }, (_, i) => (i * 131 + 7) & 0xff));
      expect(toRecord(1, 'a', payload).ciphertext).toBe(payload.toString('base64'));
    }
  });

  it('seals in pieces to the same bytes as one update, for every size around the piece length', () => {
    const key = Buffer.alloc(32, 9);
    for (const size of [0, 1, 16383, 16384, 16385, 32768, 65536, 70000]) {
      const plaintext = Buffer.alloc(size, 0x5a);
      const c = createCipheriv('aes-256-gcm', key, Buffer.alloc(12, 4));
      c.setAAD(aad(2, 'b'));
      const body = Buffer.concat([c.update(plaintext), c.final()]);
      const expected = Buffer.concat([Buffer.alloc(12, 4), c.getAuthTag(), body]);
      expect(sealGcm(key, Buffer.alloc(12, 4), plaintext, aad(2, 'b')).equals(expected)).toBe(true);
      expect(sealGcm(key, Buffer.alloc(12, 4), plaintext, aad(2, 'b'), undefined, true).equals(expected)).toBe(true);
    }
  });

  it('refuses plaintext over the documented maximum', () => {
    expect(codeOf(() => sealGcm(Buffer.alloc(32), Buffer.alloc(12), Buffer.alloc(MAX_PLAINTEXT_BYTES + 1)))).toBe('PLAINTEXT_TOO_LARGE');
  });
});

describe('parseEnvelope', () => {
  const good = { ciphertext: Buffer.alloc(40).toString('base64'), key_version: 1, context: 'trading_data', algorithm: 'AES-256-GCM', format: 'AP2' };

  it.each([
    ['plain text', 'hello'],
    ['a JSON array', '[1]'],
    ['broken JSON', '{"ciphertext":'],
    ['an unknown field', JSON.stringify({ ...good, extra: 1 })],
    ['a wrong algorithm', JSON.stringify({ ...good, algorithm: 'AES-128-CBC' })],
    ['an unknown format', JSON.stringify({ ...good, format: 'AP9' })],
    ['a zero version', JSON.stringify({ ...good, key_version: 0 })],
    ['a fractional version', JSON.stringify({ ...good, key_version: 1.5 })],
    ['a huge version', JSON.stringify({ ...good, key_version: 1e300 })],
    ['a bad context', JSON.stringify({ ...good, context: 'a:b' })],
    ['base64 garbage', JSON.stringify({ ...good, ciphertext: '!!!!' })],
    ['a compact form with too many parts', 'AP2:1:ctx:abc:def'],
    ['a compact form with bad data', 'AP2:1:ctx:ab+c'],
  ])('rejects %s with INVALID_ENVELOPE', (_name, input) => {
    expect(codeOf(() => parseEnvelope(input))).toBe('INVALID_ENVELOPE');
  });

  it('refuses a Buffer over the envelope limit before decoding it, even one past the string limit (~512 MiB)', () => {
    // Buffer.alloc maps zero pages lazily: refused unread, this costs no memory.
    const huge = Buffer.alloc(513 * 1024 * 1024);
    expect(() => parseEnvelope(huge)).toThrow(expect.objectContaining({ code: 'INVALID_ENVELOPE', message: expect.stringMatching(/the envelope is 537919488 bytes, over the \d+-character limit/) }));
  });

  it('accepts a record object and a string key_version from older writers', () => {
    expect(parseEnvelope({ ...good, key_version: '7' }).version).toBe(7);
  });

  it('reports a truncated ciphertext as DECRYPT_FAILED, not a crash', () => {
    expect(codeOf(() => openGcm(Buffer.alloc(32), Buffer.alloc(10)))).toBe('DECRYPT_FAILED');
  });
});

describe('decodeBase64Strict', () => {
  /** The definition it must match: the text is exactly what Node writes for the bytes it decodes to. */
  const reference = (text: string, url: boolean): Buffer | undefined => {
    const encoding = url ? 'base64url' : 'base64';
    const bytes = Buffer.from(text, encoding);
    return bytes.toString(encoding) === text ? bytes : undefined;
  };
  // Both alphabets, padding, whitespace, a Latin-1 and a wide character whose low byte is a base64 letter.
  const chars = fc.constantFrom(...'ABCDQRSTgwxyz0189+/-_=', ' ', '\n', '\u00c1', '\u0141', '\u2041');
  const texts = fc.oneof(
    fc.string({ unit: chars, maxLength: 24 }),
    fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString('base64')),
    fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString('base64url')),
    // Valid text with one character replaced, inserted or removed.
    fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 40 }), fc.boolean(), fc.nat(), chars, fc.constantFrom('replace', 'insert', 'remove')).map(([b, url, at, c, edit]) => {
      const text = Buffer.from(b).toString(url ? 'base64url' : 'base64');
      const i = at % text.length;
      return text.slice(0, i) + (edit === 'remove' ? '' : c) + text.slice(edit === 'insert' ? i : i + 1);
    }),
  );

  it('accepts exactly the canonical text of some bytes, in either alphabet, and decodes it to them', () => {
    fc.assert(
      fc.property(texts, fc.boolean(), fc.boolean(), (text, url, borrow) => {
        const got = decodeBase64Strict(text, url, borrow);
        const want = reference(text, url);
        expect(got === undefined).toBe(want === undefined);
        if (got && want) expect(got.equals(want)).toBe(true);
      }),
      { numRuns: 5_000 },
    );
  });

  it.each([
    ['a character of the other alphabet', 'ab-c', false],
    ['a character of the other alphabet (url)', 'ab+c', true],
    ['padding in the url form', 'QQ==', true],
    ['missing padding', 'QQ', false],
    ['non-zero unused bits', 'QR==', false],
    ['a wide character whose low byte is a letter', 'QUF\u0142', false],
    ['whitespace', 'QU FB', false],
    ['padding in the middle', 'QQ==QUFB', false],
  ])('refuses %s', (_name, text, url) => {
    expect(decodeBase64Strict(text, url)).toBeUndefined();
  });
});

describe('recordJson', () => {
  it('is exactly JSON.stringify of the record toRecord makes, for every version, context and payload', () => {
    const contexts = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), contexts, fc.uint8Array({ maxLength: 300 }), (version, context, payload) => {
        const record = toRecord(version, context, Buffer.from(payload));
        expect(recordJson(record)).toBe(JSON.stringify(record));
      }),
      { numRuns: 1_000 },
    );
  });
});

describe('readEnvelope', () => {
  it('parses as parseEnvelope does, its payload borrowed: the next read reuses the bytes', () => {
    const a = toRecord(1, 'a', Buffer.alloc(40, 1));
    const b = toCompact(2, 'b', Buffer.alloc(40, 2));
    const first = readEnvelope(a);
    expect(first).toEqual(parseEnvelope(a));
    const second = readEnvelope(b);
    expect(second).toEqual(parseEnvelope(b));
    expect(first.payload.buffer).toBe(second.payload.buffer);
    expect(parseEnvelope(a).payload.buffer).not.toBe(second.payload.buffer);
  });

  it('gives a payload over the scratch size its own buffer', () => {
    const big = toRecord(1, 'a', Buffer.alloc(200 * 1024, 3));
    const small = readEnvelope(toRecord(1, 'a', Buffer.alloc(40)));
    expect(readEnvelope(big).payload.buffer).not.toBe(small.payload.buffer);
  });
});
