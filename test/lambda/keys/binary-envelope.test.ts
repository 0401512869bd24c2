import fc from 'fast-check';
import { binaryHeader, isBinaryEnvelope, MAX_BINARY_ENVELOPE_BYTES, parseBinaryEnvelope, toBinary } from '../../../lambda/keys/binary-envelope';
import { MAX_CONTEXT_LENGTH } from '../../../lambda/keys/context';
import { deriveHkdf } from '../../../lambda/keys/derive';
import { aad, IV_BYTES, openGcm, parseEnvelope, sealGcm, TAG_BYTES, toCompact, toRecord } from '../../../lambda/keys/envelope';
import { KeyManagementError } from '../../../lambda/keys/errors';
import hkdfVectors from '../../fixtures/hkdf-vectors.json';

const thrown = (run: () => unknown): KeyManagementError => {
  try {
    run();
  } catch (err) {
    return err as KeyManagementError;
  }
  throw new Error('did not throw');
};

const contextChars = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-';
const contexts = fc
  .tuple(fc.constantFrom(...contextChars.replace(/[.-]/g, '')), fc.string({ unit: fc.constantFrom(...contextChars), maxLength: MAX_CONTEXT_LENGTH - 1 }))
  .map(([first, rest]) => first + rest);
const versions = fc.oneof(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }));
const payloads = fc.uint8Array({ minLength: IV_BYTES + TAG_BYTES, maxLength: 200 }).map((b) => Buffer.from(b));

describe('binary AP2 envelopes: known answers', () => {
  it.each(hkdfVectors.envelopes)('opens the binary form Python computed, and it holds the same payload as the record and compact forms', (v) => {
    const binary = Buffer.from(v.binary_hex, 'hex');
    const parsed = parseBinaryEnvelope(binary);
    expect(parsed).toMatchObject({ kind: 'ap2', form: 'binary', version: v.record.key_version, context: v.record.context });
    const key = deriveHkdf(Buffer.from(hkdfVectors.material_base64, 'base64'), parsed.context, parsed.version);
    expect(openGcm(key, parsed.payload, aad(parsed.version, parsed.context)).toString('base64')).toBe(v.plaintext_base64);
    expect(parsed.payload.equals(parseEnvelope(v.record).payload)).toBe(true);
    // Converting between forms needs no key: the same payload, respelled.
    expect(toBinary(parsed.version, parsed.context, parseEnvelope(v.compact).payload).equals(binary)).toBe(true);
    expect(toRecord(parsed.version, parsed.context, parsed.payload)).toEqual(v.record);
    expect(toCompact(parsed.version, parsed.context, parsed.payload)).toBe(v.compact);
  });

  it.each(hkdfVectors.envelopes)('writes the bytes Python does for a fixed IV, header and payload in one buffer', (v) => {
    const parsed = parseBinaryEnvelope(Buffer.from(v.binary_hex, 'hex'));
    const key = deriveHkdf(Buffer.from(hkdfVectors.material_base64, 'base64'), parsed.context, parsed.version);
    const iv = parsed.payload.subarray(0, IV_BYTES);
    const sealed = sealGcm(key, Buffer.from(iv), Buffer.from(v.plaintext_base64, 'base64'), aad(parsed.version, parsed.context), binaryHeader(parsed.version, parsed.context));
    expect(sealed.toString('hex')).toBe(v.binary_hex);
  });

  it('spells the version as minimal LEB128: 1 is 01, 127 is 7f, 128 is 80 01, 300 is ac 02, 2^53 - 1 is eight bytes', () => {
    const version = (n: number) => binaryHeader(n, 'a').subarray(4, -2).toString('hex');
    expect([1, 127, 128, 300].map(version)).toEqual(['01', '7f', '8001', 'ac02']);
    expect(version(Number.MAX_SAFE_INTEGER)).toBe('ffffffffffffff0f');
  });
});

describe('parseBinaryEnvelope', () => {
  const good = toBinary(7, 'user_pii', Buffer.alloc(IV_BYTES + TAG_BYTES + 3, 9));
  const withHeader = (hex: string) => Buffer.concat([Buffer.from(hex, 'hex'), Buffer.alloc(IV_BYTES + TAG_BYTES)]);

  it.each([
    ['no magic bytes', Buffer.from('{"ciphertext":"x"}'), /magic bytes 41 50 32 00/],
    ['a compact text envelope', Buffer.from('AP2:1:ctx:AAAA'), /magic bytes/],
    ['a truncated version', Buffer.from('4150320080', 'hex'), /key version is truncated/],
    ['a version longer than 8 bytes', withHeader('41503200808080808080808001'), /longer than 8 bytes/],
    ['a non-minimal version', withHeader('41503200810001' + '61'), /not minimally encoded/],
    ['version 0', withHeader('415032000001' + '61'), /positive integer/],
    ['a version of 2^53', withHeader('4150320080808080808080100161'), /positive integer below 2\^53/],
    ['a missing context length', Buffer.from('4150320001', 'hex'), /context length/],
    ['a zero context length', withHeader('415032000100'), /context length must be 1-64/],
    ['a context length over 64', withHeader('4150320001' + '41' + '61'.repeat(65)), /context length must be 1-64/],
    ['a context past the end', Buffer.from('41503200010561', 'hex'), /within the envelope/],
    ['a context with a colon', withHeader('415032000103' + '613a61'), /not a valid context name/],
    ['a context with a high byte', withHeader('415032000102' + '61e9'), /not a valid context name/],
    ['no room for the IV and tag', Buffer.concat([binaryHeader(1, 'a'), Buffer.alloc(27)]), /27 bytes after its header, short of the 28-byte IV and tag/],
  ])('refuses %s with INVALID_ENVELOPE naming the field', (_name, input, message) => {
    const err = thrown(() => parseBinaryEnvelope(input));
    expect(err).toBeInstanceOf(KeyManagementError);
    expect(err.code).toBe('INVALID_ENVELOPE');
    expect(err.message).toMatch(message);
    expect(err.message).toMatch(/expected a binary AP2 envelope/);
  });

  it('refuses what is not bytes', () => {
    for (const input of ['AP2:1:a:AAAA', { ciphertext: 'x' }, undefined, 42]) {
      expect(thrown(() => parseBinaryEnvelope(input as unknown as Uint8Array))).toMatchObject({ code: 'INVALID_ENVELOPE', message: expect.stringMatching(/Buffer or Uint8Array/) });
    }
  });

  it('refuses an envelope over the size limit before reading it', () => {
    // Buffer.alloc maps zero pages lazily: refused unread, this costs no memory.
    const huge = Buffer.alloc(MAX_BINARY_ENVELOPE_BYTES + 1);
    good.copy(huge);
    expect(thrown(() => parseBinaryEnvelope(huge)).message).toMatch(`over the ${MAX_BINARY_ENVELOPE_BYTES}-byte limit`);
  });

  it('reads a Uint8Array (not a Buffer) in place, and a Buffer that is a view into a larger one', () => {
    const u8 = new Uint8Array(good);
    expect(parseBinaryEnvelope(u8)).toMatchObject({ version: 7, context: 'user_pii' });
    const big = Buffer.concat([Buffer.from('xx'), good, Buffer.from('yy')]);
    const view = big.subarray(2, 2 + good.length);
    const parsed = parseBinaryEnvelope(view);
    expect(parsed.payload.equals(good.subarray(good.length - IV_BYTES - TAG_BYTES - 3))).toBe(true);
    expect(parsed.payload.buffer).toBe(big.buffer);
  });

  it('round-trips every version, context and payload, with one spelling each', () => {
    fc.assert(
      fc.property(versions, contexts, payloads, (version, context, payload) => {
        const binary = toBinary(version, context, payload);
        expect(isBinaryEnvelope(binary)).toBe(true);
        const parsed = parseBinaryEnvelope(binary);
        expect(parsed).toMatchObject({ kind: 'ap2', form: 'binary', version, context });
        expect(parsed.payload.equals(payload)).toBe(true);
        expect(binary.length).toBe(4 + Math.max(1, Math.ceil(Math.log2(version + 1) / 7)) + 1 + context.length + payload.length);
      }),
      { numRuns: 2_000 },
    );
  });

  it('on any bytes, parses or throws INVALID_ENVELOPE; whatever parses respells to exactly its input', () => {
    const mutated = fc.tuple(versions, contexts, payloads, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'cut', 'insert')).map(([v, c, p, at, byte, edit]) => {
      const b = toBinary(v, c, p);
      const i = at % b.length;
      if (edit === 'cut') return b.subarray(0, i);
      if (edit === 'insert') return Buffer.concat([b.subarray(0, i), Buffer.from([byte]), b.subarray(i)]);
      const copy = Buffer.from(b);
      copy[i] = byte;
      return copy;
    });
    const arbitrary = fc.uint8Array({ maxLength: 120 }).map((b) => Buffer.concat([Buffer.from('AP2\0'), Buffer.from(b)]));
    fc.assert(
      fc.property(fc.oneof(mutated, arbitrary, fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b))), (input) => {
        let parsed;
        try {
          parsed = parseBinaryEnvelope(input);
        } catch (err) {
          expect(err).toBeInstanceOf(KeyManagementError);
          expect((err as KeyManagementError).code).toBe('INVALID_ENVELOPE');
          return;
        }
        expect(toBinary(parsed.version, parsed.context, parsed.payload).equals(input)).toBe(true);
      }),
      { numRuns: 5_000 },
    );
  });
});

describe('toBinary', () => {
  it('refuses what would not parse back: a bad version, a bad context, a payload shorter than IV and tag', () => {
    const payload = Buffer.alloc(IV_BYTES + TAG_BYTES);
    for (const version of [0, -1, 1.5, 2 ** 53, Number.NaN]) expect(thrown(() => toBinary(version, 'a', payload)).code).toBe('INVALID_ENVELOPE');
    for (const context of ['', 'a:b', 'x'.repeat(65), 'é']) expect(thrown(() => toBinary(1, context, payload)).code).toBe('INVALID_CONTEXT');
    expect(thrown(() => toBinary(1, 'a', Buffer.alloc(27))).code).toBe('INVALID_ENVELOPE');
  });
});
