import { KeyManagementError, KeysetInvalidError } from '../../../lambda/keys/errors';
import {
  addVersion,
  assertNotAhead,
  assertPreserves,
  createKeyset,
  destroyVersion,
  disableVersion,
  enableVersion,
  isPruned,
  type Keyset,
  keysetCapacity,
  latestVersion,
  MAX_CLOCK_SKEW_MS,
  MAX_KEYSET_BYTES,
  parseKeyset,
  preservesVersions,
  pruneDestroyed,
  rotateKeyset,
  serializeKeyset,
  setPrimary,
  validateKeyset,
} from '../../../lambda/keys/keyset';
import { material } from '../../support/fixed';

const T0 = '2026-01-01T00:00:00.000Z';
const T1 = '2026-02-01T00:00:00.000Z';

function base(): Keyset {
  return createKeyset({ material: material(1), now: T0 });
}

function invalidField(text: string): string {
  try {
    parseKeyset(text);
  } catch (err) {
    expect(err).toBeInstanceOf(KeysetInvalidError);
    return (err as KeysetInvalidError).field;
  }
  throw new Error('expected the keyset to be rejected');
}

function codeOf(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    return (err as KeyManagementError).code;
  }
  return 'NO_ERROR';
}

describe('parseKeyset', () => {
  it('round-trips a serialized keyset exactly', () => {
    const ks = rotateKeyset(base(), { material: material(2), now: T1 });
    expect(parseKeyset(serializeKeyset(ks))).toEqual(ks);
  });

  it.each([
    ['not json', '{', '(document)'],
    ['an array', '[]', '(document)'],
    ['a wrong schema', JSON.stringify({ schema: 2, primary: 1, versions: [] }), 'schema'],
    ['an unknown top-level field', JSON.stringify({ ...base(), extra: 1 }), 'extra'],
    ['a missing primary', JSON.stringify({ schema: 1, versions: base().versions }), 'primary'],
    ['no versions', JSON.stringify({ schema: 1, primary: 1, versions: [] }), 'versions'],
    ['a primary that is not a version', JSON.stringify({ ...base(), primary: 9 }), 'primary'],
  ])('names the field for %s', (_name, text, field) => {
    expect(invalidField(text)).toBe(field);
  });

  it.each([
    ['material too short', { material: Buffer.alloc(16).toString('base64') }, 'versions[0].material'],
    ['material missing on an enabled version', { material: undefined }, 'versions[0].material'],
    ['an unknown kdf', { kdf: 'md5' }, 'versions[0].kdf'],
    ['an unknown state', { state: 'paused' }, 'versions[0].state'],
    ['a bad createdAt', { createdAt: 'yesterday' }, 'versions[0].createdAt'],
    ['a fractional version', { version: 1.5 }, 'versions[0].version'],
    ['an unknown version field', { colour: 'red' }, 'versions[0].colour'],
    ['disabledAt on an enabled version', { disabledAt: T1 }, 'versions[0].disabledAt'],
  ])('names the version field for %s', (_name, patch, field) => {
    const v = { ...base().versions[0], ...patch } as Record<string, unknown>;
    if ('material' in patch && patch.material === undefined) delete v.material;
    expect(invalidField(JSON.stringify({ schema: 1, primary: 1, versions: [v] }))).toBe(field);
  });

  it('rejects versions that are not increasing', () => {
    const ks = addVersion(base(), { material: material(2), now: T1 });
    const swapped = { ...ks, versions: [ks.versions[1], ks.versions[0]] };
    expect(invalidField(JSON.stringify(swapped))).toBe('versions[1].version');
  });

  it('rejects a destroyed version that still has material', () => {
    const ks = rotateKeyset(base(), { material: material(2), now: T1 });
    const bad = { ...ks, versions: [{ ...ks.versions[0], state: 'destroyed', destroyedAt: T1 }, ks.versions[1]] };
    expect(invalidField(JSON.stringify(bad))).toBe('versions[0].material');
  });

  it('rejects a disabled primary', () => {
    const bad = { ...base(), versions: [{ ...base().versions[0], state: 'disabled', disabledAt: T1 }] };
    expect(invalidField(JSON.stringify(bad))).toBe('primary');
  });

  it('rejects a document over the 64 KB secret limit', () => {
    expect(invalidField(' '.repeat(MAX_KEYSET_BYTES + 1))).toBe('(document)');
  });

  it('never echoes key material in its message', () => {
    const secret = material(7);
    const bad = { schema: 1, primary: 1, versions: [{ ...base().versions[0], material: secret, kdf: 'nope' }] };
    expect(() => parseKeyset(JSON.stringify(bad))).toThrow(expect.objectContaining({ message: expect.not.stringContaining(secret) }));
  });
});

/** Text a terminal acts on: each could forge a `status` row (a newline and a fake row) or hide or reorder text. */
const CONTROL_TEXTS: [string, string, string][] = [
  ['a newline', 'INC-1\n      9  *  enabled', 'U+000A'],
  ['a carriage return', 'ok\rforged', 'U+000D'],
  ['an ANSI escape', 'ok\u001b[2Kforged', 'U+001B'],
  ['a tab', 'a\tb', 'U+0009'],
  ['NUL', 'a\u0000b', 'U+0000'],
  ['DEL', 'a\u007fb', 'U+007F'],
  ['a C1 control (CSI)', 'a\u009b2Kb', 'U+009B'],
  ['NEL', 'a\u0085b', 'U+0085'],
  ['the line separator', 'a\u2028b', 'U+2028'],
  ['the paragraph separator', 'a\u2029b', 'U+2029'],
  ['a right-to-left override', 'a\u202eb', 'U+202E'],
  ['a left-to-right embedding', 'a\u202ab', 'U+202A'],
  ['a first-strong isolate', 'a\u2068b', 'U+2068'],
  ['a right-to-left mark', 'a\u200fb', 'U+200F'],
  ['the Arabic letter mark', 'a\u061cb', 'U+061C'],
];

describe('keyset text fields refuse control characters', () => {
  const withReason = (reason: string) => {
    const ks = disableVersion(rotateKeyset(base(), { material: material(2), now: T1 }), 1, { now: T1, reason: 'placeholder' });
    return JSON.stringify({ ...ks, versions: [{ ...ks.versions[0], reason }, ks.versions[1]] });
  };

  it.each(CONTROL_TEXTS)('on parse: a reason holding %s is KEYSET_INVALID at versions[i].reason, naming the code point', (_name, reason, codePoint) => {
    expect(invalidField(withReason(reason))).toBe('versions[0].reason');
    expect(() => parseKeyset(withReason(reason))).toThrow(expect.objectContaining({ message: expect.stringContaining(codePoint) }));
  });

  it.each(CONTROL_TEXTS)('on disable and emergency rotation: a reason holding %s is INVALID_INPUT naming the reason', (_name, reason, codePoint) => {
    const ks = rotateKeyset(base(), { material: material(2), now: T1 });
    for (const run of [() => disableVersion(ks, 1, { now: T1, reason }), () => rotateKeyset(ks, { material: material(3), now: T1, disablePrevious: true, reason })]) {
      expect(run).toThrow(expect.objectContaining({ code: 'INVALID_INPUT', message: expect.stringMatching(new RegExp(`^the reason holds a control character \\(${codePoint.replace('+', '\\+')}\\)`)) }));
    }
  });

  it('accepts printable text in any script, with emoji and punctuation', () => {
    const reason = 'INC-1234: clé exposée — 鍵が漏洩 (see #ops) ✓';
    const ks = disableVersion(rotateKeyset(base(), { material: material(2), now: T1 }), 1, { now: T1, reason });
    expect(parseKeyset(serializeKeyset(ks)).versions[0].reason).toBe(reason);
  });
});

describe('timestamps ahead of the reader\'s clock', () => {
  const now = new Date(T1);
  const ahead = (ms: number) => new Date(now.getTime() + ms).toISOString();

  it.each([
    ['createdAt', (at: string) => rotateKeyset(base(), { material: material(2), now: at }), 'versions[1].createdAt'],
    ['disabledAt', (at: string) => disableVersion(rotateKeyset(base(), { material: material(2), now: T0 }), 1, { now: at }), 'versions[0].disabledAt'],
    ['destroyedAt', (at: string) => destroyVersion(disableVersion(rotateKeyset(base(), { material: material(2), now: T0 }), 1, { now: T0 }), 1, { now: at }), 'versions[0].destroyedAt'],
  ])('refuses a %s more than the clock-skew allowance after now, naming the field', (_name, build, field) => {
    const text = serializeKeyset(build(ahead(MAX_CLOCK_SKEW_MS + 1_000)));
    expect(() => parseKeyset(text, { now })).toThrow(expect.objectContaining({ code: 'KEYSET_INVALID', field, message: expect.stringMatching(/more than 15 minutes after this host's clock/) }));
    expect(() => assertNotAhead(parseKeyset(text), now)).toThrow(expect.objectContaining({ field }));
    expect(parseKeyset(serializeKeyset(build(ahead(MAX_CLOCK_SKEW_MS))), { now })).toBeDefined();
  });

  it('checks only when given a clock: validation without one is unchanged for callers that have none', () => {
    const far = rotateKeyset(base(), { material: material(2), now: '2099-01-01T00:00:00.000Z' });
    expect(validateKeyset(JSON.parse(serializeKeyset(far)))).toEqual(far);
    expect(() => validateKeyset(JSON.parse(serializeKeyset(far)), { now })).toThrow(expect.objectContaining({ field: 'versions[1].createdAt' }));
  });
});

describe('transitions', () => {
  it('rotate adds version latest+1, makes it primary and leaves the input untouched', () => {
    const before = base();
    const frozen = serializeKeyset(before);
    const after = rotateKeyset(before, { material: material(2), now: T1 });
    expect(after.primary).toBe(2);
    expect(after.versions.map((v) => v.version)).toEqual([1, 2]);
    expect(serializeKeyset(before)).toBe(frozen);
    expect(preservesVersions(before, after)).toBe(true);
  });

  it('emergency rotation disables the previous primary in the same keyset', () => {
    const after = rotateKeyset(base(), { material: material(2), now: T1, disablePrevious: true, reason: 'leaked' });
    expect(after.versions[0]).toMatchObject({ state: 'disabled', disabledAt: T1, reason: 'leaked' });
    expect(after.primary).toBe(2);
  });

  it('refuses to disable the primary and says a rotation must come first', () => {
    expect(() => disableVersion(base(), 1, { now: T1 })).toThrow(/a rotation must make another version primary first/);
  });

  it('destroys only a disabled version, removing its material but keeping its metadata', () => {
    let ks = rotateKeyset(base(), { material: material(2), now: T1 });
    expect(codeOf(() => destroyVersion(ks, 1, { now: T1 }))).toBe('INVALID_TRANSITION');
    ks = disableVersion(ks, 1, { now: T1, reason: 'retired' });
    ks = destroyVersion(ks, 1, { now: T1 });
    expect(ks.versions[0]).toEqual({ version: 1, kdf: 'hkdf-sha256', state: 'destroyed', createdAt: T0, disabledAt: T1, destroyedAt: T1, reason: 'retired' });
    expect(parseKeyset(serializeKeyset(ks))).toEqual(ks);
  });

  it('enables a disabled version and refuses a destroyed one', () => {
    let ks = rotateKeyset(base(), { material: material(2), now: T1 });
    ks = disableVersion(ks, 1, { now: T1 });
    expect(enableVersion(ks, 1).versions[0].state).toBe('enabled');
    ks = destroyVersion(ks, 1, { now: T1 });
    expect(codeOf(() => enableVersion(ks, 1))).toBe('INVALID_TRANSITION');
  });

  it('refuses to make a disabled version primary', () => {
    let ks = rotateKeyset(base(), { material: material(2), now: T1 });
    ks = disableVersion(ks, 1, { now: T1 });
    expect(codeOf(() => setPrimary(ks, 1))).toBe('INVALID_TRANSITION');
  });

  it('names unknown versions', () => {
    expect(codeOf(() => disableVersion(base(), 5, { now: T1 }))).toBe('UNKNOWN_VERSION');
  });

  it('assertPreserves refuses a keyset that lost or changed a version', () => {
    const ks = rotateKeyset(base(), { material: material(2), now: T1 });
    const lost = { ...ks, versions: [ks.versions[1]] };
    const changed = { ...ks, versions: [{ ...ks.versions[0], material: material(9) }, ks.versions[1]] };
    expect(codeOf(() => assertPreserves(ks, lost))).toBe('INVALID_TRANSITION');
    expect(codeOf(() => assertPreserves(ks, changed))).toBe('INVALID_TRANSITION');
  });
});

describe('capacity', () => {
  it('says how many versions fit and refuses to grow past the 64 KB secret with advice to destroy old versions', () => {
    let ks = base();
    const fit = keysetCapacity(ks).versionsThatFit;
    expect(fit).toBeGreaterThan(300);
    for (let i = 0; i < fit; i++) ks = rotateKeyset(ks, { material: material(i % 250), now: T1 });
    expect(keysetCapacity(ks).versionsThatFit).toBe(0);
    expect(Buffer.byteLength(serializeKeyset(ks))).toBeLessThanOrEqual(MAX_KEYSET_BYTES);
    expect(() => rotateKeyset(ks, { material: material(1), now: T1 })).toThrow(
      expect.objectContaining({ code: 'KEYSET_TOO_LARGE', message: expect.stringMatching(/destroy/) }),
    );
  });
});

describe('pruning destroyed versions', () => {
  const retire = (ks: Keyset, v: number) => destroyVersion(disableVersion(ks, v, { now: T1 }), v, { now: T1 });

  it('keeps destroyed entries while there is room', () => {
    let ks = rotateKeyset(rotateKeyset(base(), { material: material(2), now: T1 }), { material: material(3), now: T1 });
    ks = retire(ks, 1);
    ks = rotateKeyset(ks, { material: material(4), now: T1 });
    expect(ks.versions[0]).toMatchObject({ version: 1, state: 'destroyed' });
    expect(ks.pruned).toBeUndefined();
  });

  it('prunes destroyed entries into merged ranges, keeps latestVersion and never reuses a number', () => {
    let ks = base();
    for (let i = 2; i <= 6; i++) ks = rotateKeyset(ks, { material: material(i), now: T1 });
    for (const v of [1, 2, 4]) ks = retire(ks, v);
    const pruned = pruneDestroyed(ks);
    expect(pruned.pruned).toEqual([
      [1, 2],
      [4, 4],
    ]);
    expect(pruned.versions.map((v) => v.version)).toEqual([3, 5, 6]);
    expect(isPruned(pruned, 2)).toBe(true);
    expect(isPruned(pruned, 3)).toBe(false);
    expect(preservesVersions(ks, pruned)).toBe(true);
    expect(parseKeyset(serializeKeyset(pruned))).toEqual(pruned);
    const retired6 = pruneDestroyed(retire(setPrimary(pruned, 5), 6));
    expect(latestVersion(retired6)).toBe(6);
    expect(addVersion(retired6, { material: material(9), now: T1 }).versions.at(-1)?.version).toBe(7);
  });

  it('counts pruning as a loss only for destroyed versions, and never lets a pruned range shrink', () => {
    let ks = rotateKeyset(base(), { material: material(2), now: T1 });
    ks = rotateKeyset(ks, { material: material(3), now: T1 });
    const dropEnabled = { ...ks, versions: ks.versions.slice(1), pruned: [[1, 1]] as const };
    expect(preservesVersions(ks, dropEnabled)).toBe(false);
    const pruned = pruneDestroyed(retire(ks, 1));
    expect(preservesVersions(pruned, { ...pruned, pruned: undefined })).toBe(false);
  });

  it.each([
    ['not an array', 5, 'pruned'],
    ['a bad range', [[3, 1]], 'pruned[0]'],
    ['unsorted ranges', [[5, 6], [1, 2]], 'pruned[1]'],
    ['adjacent ranges', [[3, 4], [5, 5]], 'pruned[1]'],
    ['a range over a listed version', [[1, 1]], 'pruned[0]'],
  ])('names the field for %s', (_name, pruned, field) => {
    const ks = rotateKeyset(base(), { material: material(2), now: T1 });
    // Version 1 stays listed only where the case is about a range covering a listed version.
    const versions = _name.includes('listed') ? ks.versions : [ks.versions[1]];
    expect(invalidField(JSON.stringify({ ...ks, versions, pruned }))).toBe(field);
  });
});
