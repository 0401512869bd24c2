/**
 * Decrypt under hostile input, through the key manager over a memory store. Every case must end in a
 * typed KeyManagementError with a decrypt error code, or in the exact plaintext of an authentic
 * envelope: never another error, never a hang, never a wrong or forged plaintext.
 */
import fc from 'fast-check';
import { KeyManager } from '../../lambda/key-manager';
import { type EnvelopeRecord, parseEnvelope } from '../../lambda/keys/envelope';
import { KeyManagementError } from '../../lambda/keys/errors';
import { MemoryStore } from '../../lambda/stores/memory-store';
import { type AuthenticEnvelope, buildCorpus, HKDF_CONTEXTS, LEGACY_CONTEXTS, oracleKey, reliabilityKeyset, VERSION } from './envelope-corpus';
import { Figures, scaled } from './figures';

const DECRYPT_CODES = new Set(['INVALID_ENVELOPE', 'DECRYPT_FAILED', 'UNKNOWN_VERSION', 'VERSION_DISABLED', 'VERSION_DESTROYED']);
const USABLE_VERSIONS = new Set<number>([VERSION.legacy, VERSION.hkdf, VERSION.primary]);
const SEED = process.env.RELIABILITY_SEED ? Number(process.env.RELIABILITY_SEED) : Date.now() % 2 ** 31;
/** Runs per property; 10 properties below, so ≥10,000 cases at scale 1. */
const RUNS = scaled(1_100);

const figures = new Figures('decrypt-fuzz');
const { keyset, materials } = reliabilityKeyset();
const corpus = buildCorpus(materials);
const oracle = new Map(corpus.map((e) => [oracleKey(e), e.plaintext]));
const manager = new KeyManager({ store: new MemoryStore('memory:reliability', keyset), unknownVersionRefetchMs: 0 });

type Input = string | Buffer | object;

/** Decrypts one input and checks the outcome against the oracle; returns the outcome for the tally. */
async function decryptChecked(input: Input): Promise<string> {
  figures.cases++;
  let plaintext: Buffer;
  let detail: { version: number; context: string; kind: string };
  try {
    const r = await manager.decryptDetailed(input as EnvelopeRecord);
    plaintext = r.plaintext;
    detail = r;
  } catch (err) {
    if (!(err instanceof KeyManagementError)) {
      throw new Error(`decrypt threw an untyped ${err instanceof Error ? `${err.name}: ${err.message}` : typeof err} for input ${show(input)}`);
    }
    if (!DECRYPT_CODES.has(err.code)) throw new Error(`decrypt failed with unexpected code ${err.code} for input ${show(input)}`);
    figures.add(err.code);
    return err.code;
  }
  // It decrypted: it must be an authentic envelope under a usable version, and the plaintext sealed into it.
  const parsed = parseEnvelope(input);
  const expected = oracle.get(oracleKey(parsed));
  if (!expected) throw new Error(`decrypt accepted a forged envelope ${show(input)}`);
  if (!USABLE_VERSIONS.has(parsed.version)) throw new Error(`decrypt opened an envelope under unusable version ${parsed.version}`);
  if (!plaintext.equals(expected)) throw new Error(`decrypt returned a wrong plaintext for ${show(input)}`);
  if (detail.version !== parsed.version || detail.context !== parsed.context || detail.kind !== parsed.kind) throw new Error('decrypt reported the wrong version, context or kind');
  figures.add('ok');
  return 'ok';
}

function show(input: Input): string {
  const text = Buffer.isBuffer(input) ? `Buffer(${input.toString('base64').slice(0, 200)})` : typeof input === 'string' ? JSON.stringify(input.slice(0, 200)) : safeJson(input);
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value)?.slice(0, 300) ?? String(value);
  } catch {
    return '[unserialisable]';
  }
}

const property = (arb: fc.Arbitrary<Input>): Promise<void> =>
  fc.assert(
    fc.asyncProperty(arb, async (input) => {
      await decryptChecked(input);
    }),
    { numRuns: RUNS, seed: SEED, timeout: 5_000, endOnFailure: true },
  );

// ------------------------------------------------------------------ arbitraries

const anEnvelope = fc.constantFrom(...corpus);
const anAp2 = fc.constantFrom(...corpus.filter((e) => e.kind === 'ap2'));
type Form = 'object' | 'json' | 'compact' | 'buffer';
const aForm = fc.constantFrom<Form>('object', 'json', 'compact', 'buffer');

/** The envelope in one of its spellings (compact exists only for AP2; legacy falls back to JSON). */
function spell(e: AuthenticEnvelope, form: Form, record: Record<string, unknown> = { ...e.record }): Input {
  if (form === 'object') return record;
  if (form === 'compact' && e.compact) return e.compact;
  const json = JSON.stringify(record);
  return form === 'buffer' ? Buffer.from(json) : json;
}

function flipBit(bytes: Buffer, bit: number): Buffer {
  const out = Buffer.from(bytes);
  if (out.length === 0) return out;
  const i = bit % (out.length * 8);
  out[i >> 3] ^= 1 << (i & 7);
  return out;
}

const RECORD_FIELDS = ['ciphertext', 'key_version', 'context', 'algorithm', 'format'] as const;

/** Replaces one record field's value (or removes it when `value` is undefined). */
function withField(e: AuthenticEnvelope, field: string, value: unknown): Record<string, unknown> {
  const r: Record<string, unknown> = { ...e.record };
  if (value === undefined) delete r[field];
  else r[field] = value;
  return r;
}

const anyValue = fc.oneof(
  fc.anything({ maxDepth: 3 }),
  fc.string({ maxLength: 80 }),
  fc.integer(),
  fc.double(),
  fc.constantFrom(null, true, false, [], {}, '', 0, -1, 1.5, Number.MAX_SAFE_INTEGER + 2, 1e308, '1', '01', ' 1', '1e3', '0x10'),
);

/** A JSON text nested `depth` levels deep. */
function deepJson(depth: number, shape: 'array' | 'object'): string {
  return shape === 'array' ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

/** A nested value built iteratively (a recursive builder would itself overflow). */
function deepValue(depth: number): unknown {
  let v: unknown = 'x';
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { v };
  return v;
}

describe('decrypt through the key manager under hostile input', () => {
  afterAll(() => {
    figures.add('seed', SEED);
    figures.print();
  });

  it('opens every authentic envelope in every spelling (the oracle is sound)', async () => {
    for (const e of corpus) {
      for (const form of ['object', 'json', 'compact', 'buffer'] as const) {
        const outcome = await decryptChecked(spell(e, form));
        const expected = e.version === VERSION.legacyDisabled ? 'VERSION_DISABLED' : e.version === VERSION.destroyed ? 'VERSION_DESTROYED' : 'ok';
        expect(outcome).toBe(expected);
      }
    }
  });

  it('survives random bytes and random text', async () => {
    await property(
      fc.oneof(
        fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b)),
        fc.string({ unit: 'binary', maxLength: 400 }),
        fc.string({ maxLength: 200 }).map((s) => `AP2:${s}`),
        fc.string({ maxLength: 200 }).map((s) => `{${s}}`),
        fc.tuple(fc.string({ maxLength: 40 }), fc.string({ maxLength: 40 }), fc.string({ maxLength: 200 })).map(([v, c, d]) => `AP2:${v}:${c}:${d}`),
      ),
    );
  });

  it('never opens an envelope with one bit flipped anywhere in its serialized form', async () => {
    await property(
      fc.tuple(anEnvelope, fc.constantFrom<Form>('json', 'compact'), fc.nat()).map(([e, form, bit]) => {
        const text = spell(e, form) as string;
        return flipBit(Buffer.from(text), bit);
      }),
    );
  });

  it('never opens an envelope with one bit flipped in the IV, the tag or the ciphertext bytes', async () => {
    await property(
      fc.tuple(anEnvelope, aForm, fc.nat(), fc.constantFrom('iv', 'tag', 'body', 'any')).map(([e, form, bit, where]) => {
        const range = where === 'iv' ? [0, 12] : where === 'tag' ? [12, 28] : where === 'body' ? [28, e.payload.length] : [0, e.payload.length];
        const span = Math.max(1, (range[1] - range[0]) * 8);
        const payload = range[1] > range[0] ? flipBit(e.payload, range[0] * 8 + (bit % span)) : Buffer.concat([e.payload, Buffer.from([bit & 0xff])]);
        const record = withField(e, 'ciphertext', payload.toString('base64'));
        if (form === 'compact' && e.compact) return `AP2:${e.version}:${e.context}:${payload.toString('base64url')}`;
        return spell(e, form, record);
      }),
    );
  });

  it('never opens a truncated or extended envelope', async () => {
    await property(
      fc.oneof(
        fc.tuple(anEnvelope, fc.constantFrom<Form>('json', 'compact'), fc.nat()).map(([e, form, n]) => {
          const text = spell(e, form) as string;
          return text.slice(0, n % Math.max(1, text.length));
        }),
        fc.tuple(anEnvelope, aForm, fc.nat()).map(([e, form, n]) => {
          const cut = e.payload.subarray(0, n % Math.max(1, e.payload.length));
          if (form === 'compact' && e.compact) return `AP2:${e.version}:${e.context}:${cut.toString('base64url')}`;
          return spell(e, form, withField(e, 'ciphertext', cut.toString('base64')));
        }),
        fc.tuple(anEnvelope, aForm, fc.uint8Array({ minLength: 1, maxLength: 64 })).map(([e, form, extra]) => {
          const longer = Buffer.concat([e.payload, extra]);
          if (form === 'compact' && e.compact) return `AP2:${e.version}:${e.context}:${longer.toString('base64url')}`;
          return spell(e, form, withField(e, 'ciphertext', longer.toString('base64')));
        }),
        fc.tuple(anEnvelope, fc.constantFrom<Form>('json', 'compact'), fc.string({ minLength: 1, maxLength: 40 })).map(([e, form, tail]) => `${spell(e, form) as string}${tail}`),
        fc.tuple(anEnvelope, fc.string({ minLength: 1, maxLength: 20 }), anyValue).map(([e, key, value]) => ({ ...e.record, [key]: value })),
      ),
    );
  });

  it('never opens an envelope moved to another context or version', async () => {
    const contexts = [...new Set<string>([...LEGACY_CONTEXTS, ...HKDF_CONTEXTS])];
    await property(
      fc
        .tuple(
          anEnvelope,
          aForm,
          fc.oneof(
            fc.record({ context: fc.constantFrom(...contexts) }),
            fc.record({ version: fc.oneof(fc.integer({ min: 1, max: 7 }), fc.constantFrom(Number.MAX_SAFE_INTEGER, 2 ** 31, 10 ** 15)) }),
            fc.record({ context: fc.constantFrom(...contexts), version: fc.integer({ min: 1, max: 6 }) }),
          ),
        )
        .map(([e, form, swap]) => {
          const version = 'version' in swap && swap.version !== undefined ? swap.version : e.version;
          const context = 'context' in swap && swap.context !== undefined ? swap.context : e.context;
          if (form === 'compact' && e.compact) return `AP2:${version}:${context}:${e.payload.toString('base64url')}`;
          return spell(e, form, { ...e.record, key_version: version, context });
        }),
    );
  });

  it('refuses a wrong algorithm or format, including a downgrade to the legacy form', async () => {
    await property(
      fc.tuple(anEnvelope, fc.constantFrom<Form>('object', 'json'), fc.constantFrom('algorithm', 'format'), fc.oneof(anyValue, fc.constantFrom(undefined, 'AES-128-GCM', 'aes-256-gcm', 'AES-256-CBC', 'AES-256-GCM ', 'AP1', 'ap2', 'AP3', 'legacy'))).map(
        ([e, form, field, value]) => spell(e, form, withField(e, field, value)),
      ),
    );
  });

  it('refuses base64 garbage in the ciphertext', async () => {
    const garbage = fc.oneof(
      fc.base64String({ maxLength: 200 }),
      fc.string({ unit: fc.constantFrom(...'ABCabc012+/=-_ \n\t\u00e9.'.split('')), maxLength: 120 }),
      fc.tuple(anAp2, fc.nat(), fc.constantFrom('=', '==', ' ', '\n', '-', '_', '*', '\u0000')).map(([e, at, junk]) => {
        const t = e.record.ciphertext;
        const i = at % (t.length + 1);
        return t.slice(0, i) + junk + t.slice(i);
      }),
      anEnvelope.map((e) => e.payload.toString('base64url')),
      anEnvelope.map((e) => e.payload.toString('base64').replace(/=+$/, '')),
    );
    await property(
      fc.tuple(anEnvelope, aForm, garbage).map(([e, form, data]) =>
        form === 'compact' && e.compact ? `AP2:${e.version}:${e.context}:${data}` : spell(e, form, withField(e, 'ciphertext', data)),
      ),
    );
  });

  it('refuses wrong types and huge values in every field', async () => {
    await property(
      fc.tuple(
        anEnvelope,
        fc.constantFrom<Form>('object', 'json'),
        fc.constantFrom(...RECORD_FIELDS),
        fc.oneof(
          anyValue,
          fc.constantFrom(undefined, 1e21, -(2 ** 53), 2 ** 53, '9'.repeat(400), 'A'.repeat(100_000), 'trading_data'.repeat(1_000)),
          fc.integer({ min: 1, max: 200_000 }).map((n) => 'A'.repeat(n * 4)),
        ),
      ).map(([e, form, field, value]) => spell(e, form, withField(e, field, value))),
    );
  });

  it('refuses deeply nested JSON as the whole input or as any field', async () => {
    await property(
      fc.oneof(
        fc.tuple(fc.integer({ min: 1, max: 100_000 }), fc.constantFrom<'array' | 'object'>('array', 'object')).map(([d, shape]) => deepJson(d, shape)),
        fc.tuple(anEnvelope, fc.constantFrom(...RECORD_FIELDS), fc.integer({ min: 1, max: 5_000 })).map(([e, field, d]) => withField(e, field, deepValue(d))),
        fc.tuple(anEnvelope, fc.constantFrom(...RECORD_FIELDS), fc.integer({ min: 1, max: 50_000 })).map(([e, field, d]) => {
          const json = JSON.stringify(withField(e, field, '__DEEP__'));
          return json.replace('"__DEEP__"', deepJson(d, d % 2 ? 'array' : 'object'));
        }),
        fc.jsonValue({ maxDepth: 6 }).map((v) => JSON.stringify(v) ?? 'null'),
      ),
    );
  });

  it('refuses envelopes with noise around a valid spelling only when the noise changes the meaning', async () => {
    // Whitespace, key order and a string version are harmless re-spellings: they must still decrypt to
    // the right plaintext (the oracle checks it); anything else must fail typed.
    await property(
      fc.tuple(anEnvelope, fc.constantFrom(' ', '\n', '\t', '\r\n', '\ufeff', ''), fc.boolean(), fc.boolean(), fc.constantFrom<Form>('json', 'compact')).map(([e, ws, reorder, versionAsString, form]) => {
        if (form === 'compact' && e.compact) return `${ws}${e.compact}${ws}`;
        const entries = Object.entries({ ...e.record, ...(versionAsString ? { key_version: String(e.version) } : {}) });
        if (reorder) entries.reverse();
        return `${ws}${JSON.stringify(Object.fromEntries(entries), null, ws === '' ? undefined : 1)}${ws}`;
      }),
    );
  });

  it('ran at least 10,000 cases in all', () => {
    expect(figures.cases).toBeGreaterThanOrEqual(RUNS * 10);
    expect(RUNS * 10 >= 10_000 || process.env.RELIABILITY_SCALE !== undefined).toBe(true);
  });
});
