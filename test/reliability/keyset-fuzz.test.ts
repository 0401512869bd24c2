/**
 * Keyset parsing under hostile input. A valid keyset parses and round-trips; a valid keyset with one
 * field corrupted is a KeysetInvalidError whose `field` is exactly that field; any other input is a
 * KeysetInvalidError or a valid keyset, never another error.
 */
import fc from 'fast-check';
import { KeysetInvalidError } from '../../lambda/keys/errors';
import { MAX_KEYSET_BYTES, MAX_REASON_LENGTH, parseKeyset, serializeKeyset } from '../../lambda/keys/keyset';
import { Figures, scaled } from './figures';

const SEED = process.env.RELIABILITY_SEED ? Number(process.env.RELIABILITY_SEED) : Date.now() % 2 ** 31;
const figures = new Figures('keyset-fuzz');

type Doc = Record<string, unknown> & { versions: Record<string, unknown>[] };

const isoTime = fc.date({ min: new Date('2000-01-01T00:00:00.000Z'), max: new Date('2099-12-31T23:59:59.999Z'), noInvalidDate: true }).map((d) => d.toISOString());
const material = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('base64'));
const state = fc.constantFrom('enabled', 'disabled', 'destroyed');

/** A valid keyset document: 1-8 versions with gaps, every state, at least one enabled version as primary. */
const validDoc: fc.Arbitrary<Doc> = fc
  .array(
    fc.record({
      gap: fc.integer({ min: 1, max: 1000 }),
      material,
      kdf: fc.constantFrom('hkdf-sha256', 'legacy-pbkdf2'),
      state,
      createdAt: isoTime,
      at: isoTime,
      reason: fc.option(fc.string({ maxLength: MAX_REASON_LENGTH }), { nil: undefined }),
      disabledOnDestroyed: fc.boolean(),
    }),
    { minLength: 1, maxLength: 8 },
  )
  .chain((specs) => {
    let version = 0;
    const versions = specs.map((s, i) => {
      version += s.gap;
      const st = i === specs.length - 1 && !specs.some((x) => x.state === 'enabled') ? 'enabled' : s.state;
      const v: Record<string, unknown> = { version, kdf: s.kdf, state: st, createdAt: s.createdAt };
      if (st !== 'destroyed') v.material = s.material;
      if (st === 'disabled' || (st === 'destroyed' && s.disabledOnDestroyed)) v.disabledAt = s.at;
      if (st === 'destroyed') v.destroyedAt = s.at;
      if (s.reason !== undefined) v.reason = s.reason;
      return v;
    });
    const enabled = versions.filter((v) => v.state === 'enabled').map((v) => v.version as number);
    return fc.constantFrom(...enabled).map((primary) => ({ schema: 1, primary, versions }) as Doc);
  });

const notSafePositiveInt = fc.oneof(
  fc.constantFrom(0, -1, 1.5, Number.MAX_SAFE_INTEGER + 1, 1e300, '1', '', null, true, [], {}, [1]),
  fc.integer({ max: 0 }),
  fc.double({ noInteger: true }),
  fc.string({ maxLength: 10 }),
);
const notTime = fc.constantFrom(undefined, 0, '', 'yesterday', '2026-01-01', '2026-01-01T00:00:00', '2026-01-01T00:00:00+01:00', '2026-13-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z ', ' 2026-01-01T00:00:00.000Z', 1767225600000, null, {});
const badMaterial = fc.oneof(
  fc.constantFrom(undefined, '', null, 32, [], 'A'.repeat(44), 'A'.repeat(43), `${'A'.repeat(42)}==`, `${'-'.repeat(43)}=`, `${'_'.repeat(43)}=`, ` ${'A'.repeat(43)}=`),
  fc.uint8Array({ minLength: 0, maxLength: 64 }).filter((b) => b.length !== 32).map((b) => Buffer.from(b).toString('base64')),
  fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('base64url')).filter((s) => /[-_]/.test(s)),
  fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex')),
);
const unknownKey = (known: readonly string[]): fc.Arbitrary<string> => fc.oneof(fc.string({ minLength: 0, maxLength: 12 }), fc.constantFrom('__proto__', 'constructor', 'Schema', 'primary ', 'key', 'material')).filter((k) => !known.includes(k));

const TOP = ['schema', 'primary', 'versions', 'pruned'];
const VERSION_FIELDS = ['version', 'material', 'kdf', 'state', 'createdAt', 'disabledAt', 'destroyedAt', 'reason'];

/** One corruption: (valid doc, index seed) → [corrupted doc, the field that must be named]. */
type Corruption = fc.Arbitrary<(doc: Doc) => [unknown, string] | undefined>;

const set = (doc: Doc, i: number, key: string, value: unknown): Doc => {
  const versions = doc.versions.map((v, j) => {
    if (j !== i) return v;
    const next = { ...v };
    if (value === undefined) delete next[key];
    else Object.defineProperty(next, key, { value, enumerable: true, writable: true, configurable: true });
    return next;
  });
  return { ...doc, versions };
};
const top = (doc: Doc, key: string, value: unknown): unknown => {
  const next: Record<string, unknown> = { ...doc };
  if (value === undefined) delete next[key];
  else Object.defineProperty(next, key, { value, enumerable: true, writable: true, configurable: true });
  return next;
};
const pick = (doc: Doc, n: number, where: (v: Record<string, unknown>) => boolean = () => true): number | undefined => {
  const candidates = doc.versions.map((v, i) => [v, i] as const).filter(([v]) => where(v));
  return candidates.length === 0 ? undefined : candidates[n % candidates.length][1];
};

const corruptions: Corruption[] = [
  unknownKey(TOP).map((k) => (doc) => [top(doc, k, 1), k]),
  fc.oneof(fc.constantFrom(undefined, 0, 2, '1', null, 1.0000001), fc.anything()).filter((v) => v !== 1).map((v) => (doc) => [top(doc, 'schema', v), 'schema']),
  fc.oneof(notSafePositiveInt, fc.constant(undefined)).map((v) => (doc) => [top(doc, 'primary', v), 'primary']),
  fc.integer({ min: 1, max: 100_000 }).map((n) => (doc) => (doc.versions.some((v) => v.version === n) ? undefined : [top(doc, 'primary', n), 'primary'])),
  fc.nat().map((n) => (doc) => {
    const i = pick(doc, n, (v) => v.state !== 'enabled');
    return i === undefined ? undefined : [top(doc, 'primary', doc.versions[i].version), 'primary'];
  }),
  fc.oneof(fc.constantFrom(undefined, null, {}, 'versions', 1, []), fc.dictionary(fc.string(), fc.integer(), { maxKeys: 3 })).map((v) => (doc) => [top(doc, 'versions', v), 'versions']),
  fc.tuple(fc.nat(), fc.constantFrom(null, 1, 'v', [], [{}], true)).map(([n, v]) => (doc) => {
    const i = n % doc.versions.length;
    return [{ ...doc, versions: doc.versions.map((x, j) => (j === i ? v : x)) }, `versions[${i}]`];
  }),
  fc.tuple(fc.nat(), unknownKey(VERSION_FIELDS)).map(([n, k]) => (doc) => {
    const i = n % doc.versions.length;
    return [set(doc, i, k, 'x'), `versions[${i}].${k}`];
  }),
  fc.tuple(fc.nat(), fc.oneof(notSafePositiveInt, fc.constant(undefined))).map(([n, v]) => (doc) => {
    const i = n % doc.versions.length;
    return [set(doc, i, 'version', v), `versions[${i}].version`];
  }),
  fc.tuple(fc.nat(), fc.nat()).map(([n, back]) => (doc) => {
    if (doc.versions.length < 2) return undefined;
    const i = 1 + (n % (doc.versions.length - 1));
    const previous = doc.versions[i - 1].version as number;
    return [set(doc, i, 'version', Math.max(1, previous - (back % 3))), `versions[${i}].version`];
  }),
  fc.tuple(fc.nat(), fc.oneof(fc.constantFrom(undefined, 'hkdf', 'HKDF-SHA256', 'pbkdf2', 'legacy-pbkdf2 ', null, 1), fc.string())).map(([n, v]) => (doc) => {
    if (v === 'hkdf-sha256' || v === 'legacy-pbkdf2') return undefined;
    const i = n % doc.versions.length;
    return [set(doc, i, 'kdf', v), `versions[${i}].kdf`];
  }),
  fc.tuple(fc.nat(), fc.oneof(fc.constantFrom(undefined, 'Enabled', 'active', 'revoked', '', null, 0), fc.string())).map(([n, v]) => (doc) => {
    if (v === 'enabled' || v === 'disabled' || v === 'destroyed') return undefined;
    const i = n % doc.versions.length;
    return [set(doc, i, 'state', v), `versions[${i}].state`];
  }),
  fc.tuple(fc.nat(), notTime).map(([n, v]) => (doc) => {
    const i = n % doc.versions.length;
    return [set(doc, i, 'createdAt', v), `versions[${i}].createdAt`];
  }),
  fc.tuple(fc.nat(), badMaterial).map(([n, v]) => (doc) => {
    const i = pick(doc, n, (x) => x.state !== 'destroyed');
    return i === undefined ? undefined : [set(doc, i, 'material', v), `versions[${i}].material`];
  }),
  fc.tuple(fc.nat(), material).map(([n, m]) => (doc) => {
    const i = pick(doc, n, (x) => x.state === 'destroyed');
    return i === undefined ? undefined : [set(doc, i, 'material', m), `versions[${i}].material`];
  }),
  fc.tuple(fc.nat(), isoTime).map(([n, t]) => (doc) => {
    const i = pick(doc, n, (x) => x.state !== 'destroyed');
    return i === undefined ? undefined : [set(doc, i, 'destroyedAt', t), `versions[${i}].destroyedAt`];
  }),
  fc.tuple(fc.nat(), notTime).map(([n, v]) => (doc) => {
    const i = pick(doc, n, (x) => x.state === 'destroyed');
    return i === undefined ? undefined : [set(doc, i, 'destroyedAt', v), `versions[${i}].destroyedAt`];
  }),
  fc.tuple(fc.nat(), isoTime).map(([n, t]) => (doc) => {
    const i = pick(doc, n, (x) => x.state === 'enabled');
    return i === undefined ? undefined : [set(doc, i, 'disabledAt', t), `versions[${i}].disabledAt`];
  }),
  fc.tuple(fc.nat(), notTime).map(([n, v]) => (doc) => {
    const i = pick(doc, n, (x) => x.state === 'disabled' || (x.state === 'destroyed' && v !== undefined));
    return i === undefined ? undefined : [set(doc, i, 'disabledAt', v), `versions[${i}].disabledAt`];
  }),
  fc.tuple(fc.nat(), fc.oneof(fc.constantFrom(null, 1, [], {}, true), fc.string({ minLength: MAX_REASON_LENGTH + 1, maxLength: MAX_REASON_LENGTH + 50 }))).map(([n, v]) => (doc) => {
    const i = n % doc.versions.length;
    return [set(doc, i, 'reason', v), `versions[${i}].reason`];
  }),
];

/** Parses `text` and returns the error, failing the case on any outcome other than a KeysetInvalidError. */
function parseFailure(text: string): KeysetInvalidError {
  try {
    parseKeyset(text);
  } catch (err) {
    if (err instanceof KeysetInvalidError) return err;
    throw new Error(`parseKeyset threw ${err instanceof Error ? err.name : typeof err}, not a KeysetInvalidError`);
  }
  throw new Error(`parseKeyset accepted an invalid keyset: ${text.slice(0, 300)}`);
}

describe('keyset parsing under hostile input', () => {
  afterAll(() => {
    figures.add('seed', SEED);
    figures.print();
  });

  it('parses every valid keyset and round-trips it through the canonical form', () => {
    fc.assert(
      fc.property(validDoc, (doc) => {
        figures.cases++;
        const keyset = parseKeyset(JSON.stringify(doc));
        expect(parseKeyset(serializeKeyset(keyset))).toEqual(keyset);
        expect(keyset.primary).toBe(doc.primary);
      }),
      { numRuns: scaled(1_000), seed: SEED },
    );
  });

  it('names exactly the corrupted field of an otherwise valid keyset', () => {
    fc.assert(
      fc.property(validDoc, fc.oneof(...corruptions), (doc, corrupt) => {
        const out = corrupt(doc);
        fc.pre(out !== undefined);
        const [bad, field] = out as [unknown, string];
        figures.cases++;
        const err = parseFailure(JSON.stringify(bad));
        if (err.field !== field) throw new Error(`expected field '${field}', got '${err.field}' (${err.message})`);
        expect(err.code).toBe('KEYSET_INVALID');
        expect(err.message).toContain(field);
        for (const v of doc.versions) if (typeof v.material === 'string') expect(err.message).not.toContain(v.material);
        figures.add('fieldNamed');
      }),
      { numRuns: scaled(6_000), seed: SEED },
    );
  });

  it('refuses random JSON, random text and bit-flipped keysets with a KeysetInvalidError or parses them validly', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.jsonValue({ maxDepth: 5 }).map((v) => JSON.stringify(v) ?? 'null'),
          fc.string({ unit: 'binary', maxLength: 300 }),
          fc.tuple(validDoc, fc.nat()).map(([doc, bit]) => {
            const bytes = Buffer.from(JSON.stringify(doc));
            const i = bit % (bytes.length * 8);
            bytes[i >> 3] ^= 1 << (i & 7);
            return bytes.toString('utf8');
          }),
          fc.tuple(validDoc, fc.nat()).map(([doc, n]) => {
            const text = JSON.stringify(doc);
            return text.slice(0, n % text.length);
          }),
        ),
        (text) => {
          figures.cases++;
          try {
            const keyset = parseKeyset(text);
            expect(parseKeyset(serializeKeyset(keyset))).toEqual(keyset);
            figures.add('parsedValid');
          } catch (err) {
            if (!(err instanceof KeysetInvalidError)) throw new Error(`parseKeyset threw ${err instanceof Error ? err.name : typeof err} for ${JSON.stringify(text.slice(0, 200))}`);
            // An unknown key is named as written, even the empty key; everything else by its path.
            expect(typeof err.field).toBe('string');
            figures.add('refused');
          }
        },
      ),
      { numRuns: scaled(3_000), seed: SEED },
    );
  });

  it('names the document for non-JSON, non-objects, deep nesting and oversize text', () => {
    const cases: string[] = [
      '',
      'null',
      '[]',
      '"keyset"',
      '{',
      `${'['.repeat(100_000)}${']'.repeat(100_000)}`,
      `{"schema":1,"primary":1,"versions":[{"version":1,"pad":"${'x'.repeat(MAX_KEYSET_BYTES)}"}]}`,
      // Under the limit in characters, over it in UTF-8 bytes.
      `{"schema":1,"primary":1,"versions":[],"x":"${'é'.repeat(MAX_KEYSET_BYTES / 2)}"}`,
    ];
    for (const text of cases) {
      figures.cases++;
      expect(parseFailure(text).field).toBe('(document)');
    }
  });
});
