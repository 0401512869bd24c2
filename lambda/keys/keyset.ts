/**
 * The keyset: the value of the master-key secret. Pure data and pure functions, no I/O.
 *
 * Every read is validated in full (`parseKeyset`): a wrong shape is a `KeysetInvalidError` naming the
 * field, never a silent default. Transitions return a new keyset and never mutate their input, so a
 * failed write leaves the caller's copy intact.
 */
import { KeyManagementError, KeysetInvalidError } from './errors';
import { isPlainObject } from './json';

export const KEYSET_SCHEMA = 1;
export const MATERIAL_BYTES = 32;
/** Secrets Manager's limit on a secret value (64 KB); Vault and the file store are held to it too. */
export const MAX_KEYSET_BYTES = 65_536;
/** Room kept free below the limit so that metadata (reasons, timestamps) on later transitions still fits. */
export const KEYSET_HEADROOM_BYTES = 1_024;
export const MAX_REASON_LENGTH = 256;
/**
 * How far after the reader's clock a keyset timestamp may lie. A version stamped further ahead would look
 * young to every rotation check until then. 15 minutes is SigV4's own allowance, so a host whose clock is
 * off by more than this cannot call AWS anyway.
 */
export const MAX_CLOCK_SKEW_MS = 15 * 60_000;

export type KdfName = 'hkdf-sha256' | 'legacy-pbkdf2';
export type VersionState = 'enabled' | 'disabled' | 'destroyed';

export interface KeyVersion {
  readonly version: number;
  /** base64 of 32 random bytes; absent once destroyed. */
  readonly material?: string;
  readonly kdf: KdfName;
  readonly state: VersionState;
  readonly createdAt: string;
  readonly disabledAt?: string;
  readonly destroyedAt?: string;
  readonly reason?: string;
}

/** An inclusive range of version numbers, `[first, last]`. */
export type VersionRange = readonly [number, number];

export interface Keyset {
  readonly schema: typeof KEYSET_SCHEMA;
  readonly primary: number;
  readonly versions: readonly KeyVersion[];
  /**
   * Destroyed versions whose entries were pruned to make room (their destruction, with its metadata, is in
   * the audit log). Sorted, non-overlapping, non-adjacent ranges; absent when empty. A pruned version
   * number is never reused, and data under it fails with VERSION_DESTROYED.
   */
  readonly pruned?: readonly VersionRange[];
}

const KDFS: readonly KdfName[] = ['hkdf-sha256', 'legacy-pbkdf2'];
const STATES: readonly VersionState[] = ['enabled', 'disabled', 'destroyed'];
const VERSION_KEYS = new Set(['version', 'material', 'kdf', 'state', 'createdAt', 'disabledAt', 'destroyedAt', 'reason']);
const KEYSET_KEYS = new Set(['schema', 'primary', 'versions', 'pruned']);
const BASE64 = /^[A-Za-z0-9+/]{43}=$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;
/**
 * Characters a terminal or log viewer acts on instead of showing: C0 controls (newline, escape), DEL, C1
 * controls, the line and paragraph separators, and the bidirectional marks, embeddings, overrides and
 * isolates that reorder the text after them. A reason holding one could forge a `status` row or hide text.
 */
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/;

export interface ValidateOptions {
  /**
   * The reader's clock: a `createdAt`, `disabledAt` or `destroyedAt` more than `MAX_CLOCK_SKEW_MS` after it is
   * refused. @default no check (validation stays pure; the key manager checks every keyset it reads with its clock)
   */
  readonly now?: Date;
}

/** Parses and validates a keyset from its serialized form. Throws `KeysetInvalidError` naming the first bad field. */
export function parseKeyset(text: string, options: ValidateOptions = {}): Keyset {
  if (Buffer.byteLength(text, 'utf8') > MAX_KEYSET_BYTES) {
    throw new KeysetInvalidError('(document)', `is larger than ${MAX_KEYSET_BYTES} bytes`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new KeysetInvalidError('(document)', 'is not valid JSON');
  }
  return validateKeyset(value, options);
}

/** Validates an already-parsed value and returns it typed. */
export function validateKeyset(value: unknown, options: ValidateOptions = {}): Keyset {
  if (!isPlainObject(value)) throw new KeysetInvalidError('(document)', 'must be a JSON object');
  for (const key of Object.keys(value)) {
    if (!KEYSET_KEYS.has(key)) throw new KeysetInvalidError(key, 'is not a known field');
  }
  if (value.schema !== KEYSET_SCHEMA) throw new KeysetInvalidError('schema', `must be ${KEYSET_SCHEMA}`);
  if (!isVersionNumber(value.primary)) throw new KeysetInvalidError('primary', 'must be a positive integer');
  if (!Array.isArray(value.versions)) throw new KeysetInvalidError('versions', 'must be an array');
  if (value.versions.length === 0) throw new KeysetInvalidError('versions', 'must hold at least one version');

  const versions = value.versions.map((v: unknown, i: number) => validateVersion(v, `versions[${i}]`));
  for (let i = 1; i < versions.length; i++) {
    if (versions[i].version <= versions[i - 1].version) {
      throw new KeysetInvalidError(`versions[${i}].version`, 'must be greater than the version before it (unique, increasing)');
    }
  }
  const primary = versions.find((v) => v.version === value.primary);
  if (!primary) throw new KeysetInvalidError('primary', `names version ${value.primary}, which is not in versions`);
  if (primary.state !== 'enabled') throw new KeysetInvalidError('primary', `names version ${primary.version}, which is ${primary.state}; the primary must be enabled`);
  const pruned = value.pruned === undefined ? [] : validatePruned(value.pruned, versions);
  const keyset: Keyset = { schema: KEYSET_SCHEMA, primary: value.primary, versions, ...(pruned.length > 0 ? { pruned } : {}) };
  return options.now === undefined ? keyset : assertNotAhead(keyset, options.now);
}

/**
 * Refuses a keyset with a timestamp more than `MAX_CLOCK_SKEW_MS` after `now`: a `createdAt` far ahead would
 * keep its version from ever looking due for rotation. Throws `KeysetInvalidError` naming the field.
 */
export function assertNotAhead(keyset: Keyset, now: Date): Keyset {
  const limit = now.getTime() + MAX_CLOCK_SKEW_MS;
  keyset.versions.forEach((v, i) => {
    for (const field of ['createdAt', 'disabledAt', 'destroyedAt'] as const) {
      const at = v[field];
      if (at !== undefined && Date.parse(at) > limit) {
        throw new KeysetInvalidError(
          `versions[${i}].${field}`,
          `is ${at}, more than ${MAX_CLOCK_SKEW_MS / 60_000} minutes after this host's clock (${now.toISOString()}); a version stamped in the future is never due for rotation — check this host's clock and the clock of whoever wrote the keyset`,
        );
      }
    }
  });
  return keyset;
}

function validatePruned(value: unknown, versions: readonly KeyVersion[]): VersionRange[] {
  if (!Array.isArray(value)) throw new KeysetInvalidError('pruned', 'must be an array of [first, last] version ranges');
  const ranges: VersionRange[] = [];
  value.forEach((range: unknown, i: number) => {
    const path = `pruned[${i}]`;
    if (!Array.isArray(range) || range.length !== 2 || !isVersionNumber(range[0]) || !isVersionNumber(range[1]) || range[0] > range[1]) {
      throw new KeysetInvalidError(path, 'must be [first, last]: two positive integers, first <= last');
    }
    if (i > 0 && range[0] <= ranges[i - 1][1] + 1) throw new KeysetInvalidError(path, 'must start after the range before it ends (sorted, not overlapping or adjacent)');
    const clash = versions.find((v) => v.version >= range[0] && v.version <= range[1]);
    if (clash) throw new KeysetInvalidError(path, `covers version ${clash.version}, which is still in versions`);
    ranges.push([range[0], range[1]]);
  });
  return ranges;
}

function validateVersion(value: unknown, path: string): KeyVersion {
  if (!isPlainObject(value)) throw new KeysetInvalidError(path, 'must be an object');
  for (const key of Object.keys(value)) {
    if (!VERSION_KEYS.has(key)) throw new KeysetInvalidError(`${path}.${key}`, 'is not a known field');
  }
  if (!isVersionNumber(value.version)) throw new KeysetInvalidError(`${path}.version`, 'must be a positive integer');
  if (!KDFS.includes(value.kdf as KdfName)) throw new KeysetInvalidError(`${path}.kdf`, `must be one of ${KDFS.join(', ')}`);
  if (!STATES.includes(value.state as VersionState)) throw new KeysetInvalidError(`${path}.state`, `must be one of ${STATES.join(', ')}`);
  requireTime(value.createdAt, `${path}.createdAt`);
  const state = value.state as VersionState;
  if (state === 'destroyed') {
    if (value.material !== undefined) throw new KeysetInvalidError(`${path}.material`, 'must be absent on a destroyed version');
    requireTime(value.destroyedAt, `${path}.destroyedAt`);
  } else {
    if (typeof value.material !== 'string' || !BASE64.test(value.material)) {
      throw new KeysetInvalidError(`${path}.material`, `must be base64 of exactly ${MATERIAL_BYTES} bytes`);
    }
    if (value.destroyedAt !== undefined) throw new KeysetInvalidError(`${path}.destroyedAt`, 'is only allowed on a destroyed version');
  }
  if (state === 'enabled' && value.disabledAt !== undefined) {
    throw new KeysetInvalidError(`${path}.disabledAt`, 'is not allowed on an enabled version');
  }
  if (state === 'disabled') requireTime(value.disabledAt, `${path}.disabledAt`);
  if (value.disabledAt !== undefined) requireTime(value.disabledAt, `${path}.disabledAt`);
  if (value.reason !== undefined && (typeof value.reason !== 'string' || value.reason.length > MAX_REASON_LENGTH)) {
    throw new KeysetInvalidError(`${path}.reason`, `must be a string of at most ${MAX_REASON_LENGTH} characters`);
  }
  const control = value.reason === undefined ? undefined : controlCharacter(value.reason as string);
  if (control !== undefined) throw new KeysetInvalidError(`${path}.reason`, `holds ${control}; it must be one line of plain text`);
  const out: KeyVersion = {
    version: value.version as number,
    ...(value.material !== undefined ? { material: value.material as string } : {}),
    kdf: value.kdf as KdfName,
    state,
    createdAt: value.createdAt as string,
    ...(value.disabledAt !== undefined ? { disabledAt: value.disabledAt as string } : {}),
    ...(value.destroyedAt !== undefined ? { destroyedAt: value.destroyedAt as string } : {}),
    ...(value.reason !== undefined ? { reason: value.reason as string } : {}),
  };
  return out;
}

function requireTime(value: unknown, field: string): void {
  if (typeof value !== 'string' || !ISO_TIME.test(value) || Number.isNaN(Date.parse(value))) {
    throw new KeysetInvalidError(field, 'must be an ISO-8601 UTC timestamp such as 2026-01-31T12:00:00.000Z');
  }
}

function isVersionNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1;
}

/** The canonical serialized form: compact JSON, stable field order. */
export function serializeKeyset(keyset: Keyset): string {
  return JSON.stringify({
    schema: keyset.schema,
    primary: keyset.primary,
    versions: keyset.versions.map((v) => ({
      version: v.version,
      ...(v.material !== undefined ? { material: v.material } : {}),
      kdf: v.kdf,
      state: v.state,
      createdAt: v.createdAt,
      ...(v.disabledAt !== undefined ? { disabledAt: v.disabledAt } : {}),
      ...(v.destroyedAt !== undefined ? { destroyedAt: v.destroyedAt } : {}),
      ...(v.reason !== undefined ? { reason: v.reason } : {}),
    })),
    ...(keyset.pruned && keyset.pruned.length > 0 ? { pruned: keyset.pruned.map(([a, b]) => [a, b]) } : {}),
  });
}

/**
 * The text a store writes for `keyset`: serialized, then parsed back, so that no store ever writes a keyset its next
 * read would refuse. Every store writes through this.
 */
export function keysetText(keyset: Keyset): string {
  const text = serializeKeyset(keyset);
  parseKeyset(text);
  return text;
}

export interface KeysetCapacity {
  /** Serialized size now, in bytes. */
  readonly bytes: number;
  /** The hard limit (the Secrets Manager secret size). */
  readonly limitBytes: number;
  /** How many more versions can be added before the keyset refuses to grow. */
  readonly versionsThatFit: number;
}

/** Bytes an enabled HKDF version entry takes, less its version number's digits, plus its separating comma. */
const ENTRY_BYTES_WITHOUT_DIGITS =
  Buffer.byteLength(serializeKeyset({ schema: 1, primary: 1, versions: [{ version: 1, material: 'A'.repeat(43) + '=', kdf: 'hkdf-sha256', state: 'enabled', createdAt: '2026-01-01T00:00:00.000Z' }] })) -
  Buffer.byteLength(serializeKeyset({ schema: 1, primary: 1, versions: [] })) -
  1 /* the sample's one version digit */ +
  1; /* the comma between entries */

/**
 * Counts how many more rotations (each adding an enabled HKDF version that becomes primary) fit the budget,
 * counting the room that pruning destroyed versions would free, as a rotation does when it needs it.
 */
export function keysetCapacity(keyset: Keyset): KeysetCapacity {
  const bytes = Buffer.byteLength(serializeKeyset(keyset));
  const budget = MAX_KEYSET_BYTES - KEYSET_HEADROOM_BYTES;
  let size = Buffer.byteLength(serializeKeyset(pruneDestroyed(keyset)));
  let next = latestVersion(keyset) + 1;
  let primaryDigits = String(keyset.primary).length;
  let fit = 0;
  for (;;) {
    const digits = String(next).length;
    const grown = size + ENTRY_BYTES_WITHOUT_DIGITS + digits + (digits - primaryDigits);
    if (grown > budget) break;
    size = grown;
    primaryDigits = digits;
    next++;
    fit++;
  }
  return { bytes, limitBytes: MAX_KEYSET_BYTES, versionsThatFit: fit };
}

/**
 * Refuses a keyset over `limit` bytes. Growth (a new version) is held to the budget below the headroom;
 * transitions that only annotate or retire a version (disable, destroy) may use the headroom, so a full
 * keyset can still disable a compromised version.
 */
function fits(keyset: Keyset, limit = MAX_KEYSET_BYTES - KEYSET_HEADROOM_BYTES): boolean {
  return Buffer.byteLength(serializeKeyset(keyset)) <= limit;
}

function assertFits(keyset: Keyset, limit = MAX_KEYSET_BYTES - KEYSET_HEADROOM_BYTES): Keyset {
  const bytes = Buffer.byteLength(serializeKeyset(keyset));
  if (bytes > limit) {
    throw new KeyManagementError(
      'KEYSET_TOO_LARGE',
      `the keyset would be ${bytes} bytes, over the ${limit}-byte ${limit === MAX_KEYSET_BYTES ? 'limit' : 'budget'} of a ${MAX_KEYSET_BYTES}-byte secret; ` +
        `re-encrypt data off old versions, then disable and destroy them: ` +
        `destroyed versions are pruned to make room when the keyset is full`,
    );
  }
  return keyset;
}

export function findVersion(keyset: Keyset, version: number): KeyVersion | undefined {
  // From the newest: the data path asks for the primary and recent versions, on every call.
  const { versions } = keyset;
  for (let i = versions.length - 1; i >= 0; i--) if (versions[i].version === version) return versions[i];
  return undefined;
}

/** True when `version` was destroyed and its entry pruned. */
export function isPruned(keyset: Keyset, version: number): boolean {
  return (keyset.pruned ?? []).some(([a, b]) => version >= a && version <= b);
}

/**
 * Moves every destroyed version's entry into `pruned` ranges. Only called when a keyset must grow and is
 * full: until then a destroyed version keeps its metadata in the keyset (the audit log has it either way).
 */
export function pruneDestroyed(keyset: Keyset): Keyset {
  const destroyed = keyset.versions.filter((v) => v.state === 'destroyed').map((v) => v.version);
  if (destroyed.length === 0) return keyset;
  const all = [...(keyset.pruned ?? []), ...destroyed.map((v): VersionRange => [v, v])].sort((x, y) => x[0] - y[0]);
  const merged: [number, number][] = [];
  for (const [a, b] of all) {
    const last = merged[merged.length - 1];
    if (last && a <= last[1] + 1) last[1] = Math.max(last[1], b);
    else merged.push([a, b]);
  }
  return { ...keyset, versions: keyset.versions.filter((v) => v.state !== 'destroyed'), pruned: merged };
}

export function primaryVersion(keyset: Keyset): KeyVersion {
  const v = findVersion(keyset, keyset.primary);
  if (!v) throw new KeysetInvalidError('primary', `names version ${keyset.primary}, which is not in versions`);
  return v;
}

/** The highest version number ever used, pruned ones included, so a number is never handed out twice. */
export function latestVersion(keyset: Keyset): number {
  const lastEntry = keyset.versions[keyset.versions.length - 1].version;
  const lastPruned = keyset.pruned && keyset.pruned.length > 0 ? keyset.pruned[keyset.pruned.length - 1][1] : 0;
  return Math.max(lastEntry, lastPruned);
}

function requireVersion(keyset: Keyset, version: number): KeyVersion {
  const v = findVersion(keyset, version);
  if (!v && isPruned(keyset, version)) {
    throw new KeyManagementError('INVALID_TRANSITION', `version ${version} was destroyed and its entry pruned to make room; nothing more can be done to it`);
  }
  if (!v) {
    throw new KeyManagementError('UNKNOWN_VERSION', `version ${version} is not in the keyset (versions ${keyset.versions.map((x) => x.version).join(', ')})`);
  }
  return v;
}

function replaceVersion(keyset: Keyset, next: KeyVersion): Keyset {
  return { ...keyset, versions: keyset.versions.map((v) => (v.version === next.version ? next : v)) };
}

function checkReason(reason: string | undefined): void {
  if (reason === undefined) return;
  if (reason.length > MAX_REASON_LENGTH) {
    throw new KeyManagementError('INVALID_INPUT', `the reason is ${reason.length} characters; keep it to at most ${MAX_REASON_LENGTH}`);
  }
  const control = controlCharacter(reason);
  if (control !== undefined) {
    throw new KeyManagementError('INVALID_INPUT', `the reason holds ${control}; give it as one line of plain text (no newlines, escape sequences or bidirectional controls)`);
  }
}

/** The first control character in `text` (see CONTROL_CHARACTER), described by code point and position; never the text itself. */
function controlCharacter(text: string): string | undefined {
  const match = CONTROL_CHARACTER.exec(text);
  if (match === null) return undefined;
  const codePoint = match[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0');
  return `a control character (U+${codePoint}) at character ${match.index + 1}`;
}

export interface NewVersionInput {
  /** base64 of 32 fresh random bytes. */
  readonly material: string;
  /** ISO-8601 UTC. */
  readonly now: string;
  /** @default 'hkdf-sha256' */
  readonly kdf?: KdfName;
}

function newVersion(version: number, input: NewVersionInput): KeyVersion {
  const v: KeyVersion = { version, material: input.material, kdf: input.kdf ?? 'hkdf-sha256', state: 'enabled', createdAt: input.now };
  validateVersion(v, `versions[new]`);
  return v;
}

/** A keyset holding version 1 as primary. */
export function createKeyset(input: NewVersionInput): Keyset {
  return assertFits({ schema: KEYSET_SCHEMA, primary: 1, versions: [newVersion(1, input)] });
}

/** Appends version latest+1 (enabled, not primary), pruning destroyed versions first if the keyset is full. */
export function addVersion(keyset: Keyset, input: NewVersionInput): Keyset {
  const next = newVersion(latestVersion(keyset) + 1, input);
  const grown = { ...keyset, versions: [...keyset.versions, next] };
  if (fits(grown)) return grown;
  const base = pruneDestroyed(keyset);
  return assertFits({ ...base, versions: [...base.versions, next] });
}

export function setPrimary(keyset: Keyset, version: number): Keyset {
  const v = requireVersion(keyset, version);
  if (v.state !== 'enabled') {
    throw new KeyManagementError('INVALID_TRANSITION', `version ${version} is ${v.state} and cannot become primary; enable it first`);
  }
  return { ...keyset, primary: version };
}

export interface RotateInput extends NewVersionInput {
  /** Also disable the previous primary in the same write (emergency rotation). */
  readonly disablePrevious?: boolean;
  readonly reason?: string;
}

/** Adds a new version and makes it primary; in an emergency also disables the old primary. */
export function rotateKeyset(keyset: Keyset, input: RotateInput): Keyset {
  checkReason(input.reason);
  const previous = keyset.primary;
  let next = addVersion(keyset, input);
  next = setPrimary(next, latestVersion(next));
  if (input.disablePrevious) next = disableVersion(next, previous, { now: input.now, reason: input.reason ?? 'emergency rotation' });
  return assertFits(next);
}

export function disableVersion(keyset: Keyset, version: number, input: { now: string; reason?: string }): Keyset {
  checkReason(input.reason);
  const v = requireVersion(keyset, version);
  if (version === keyset.primary) {
    throw new KeyManagementError('INVALID_TRANSITION', `version ${version} is the primary and cannot be disabled; a rotation must make another version primary first (an emergency rotation does both at once)`);
  }
  if (v.state !== 'enabled') throw new KeyManagementError('INVALID_TRANSITION', `version ${version} is already ${v.state}`);
  return assertFits(replaceVersion(keyset, { ...v, state: 'disabled', disabledAt: input.now, ...(input.reason !== undefined ? { reason: input.reason } : {}) }), MAX_KEYSET_BYTES);
}

export function enableVersion(keyset: Keyset, version: number): Keyset {
  const v = requireVersion(keyset, version);
  if (v.state === 'destroyed') throw new KeyManagementError('INVALID_TRANSITION', `version ${version} is destroyed; its material is gone and it cannot be enabled`);
  if (v.state === 'enabled') throw new KeyManagementError('INVALID_TRANSITION', `version ${version} is already enabled`);
  const { disabledAt: _disabledAt, reason: _reason, ...rest } = v;
  return replaceVersion(keyset, { ...rest, state: 'enabled' });
}

/** Removes a disabled version's material for good; its metadata stays. */
export function destroyVersion(keyset: Keyset, version: number, input: { now: string }): Keyset {
  const v = requireVersion(keyset, version);
  if (v.state !== 'disabled') {
    throw new KeyManagementError('INVALID_TRANSITION', `version ${version} is ${v.state}; only a disabled version can be destroyed; disable it first`);
  }
  const { material: _material, ...rest } = v;
  return assertFits(replaceVersion(keyset, { ...rest, state: 'destroyed', destroyedAt: input.now }), MAX_KEYSET_BYTES);
}

/**
 * True when `next` still holds every version of `previous` with its material and kdf unchanged. The one
 * sanctioned loss is a destroyed version's entry moving into `pruned`; pruned ranges never shrink.
 */
export function preservesVersions(previous: Keyset, next: Keyset): boolean {
  if (!(previous.pruned ?? []).every(([a, b]) => (next.pruned ?? []).some(([x, y]) => x <= a && b <= y))) return false;
  return previous.versions.every((old) => {
    const now = findVersion(next, old.version);
    if (!now) return old.state === 'destroyed' && isPruned(next, old.version);
    if (now.kdf !== old.kdf || now.createdAt !== old.createdAt) return false;
    // Destruction is the one sanctioned loss of material, and only from a disabled or destroyed version.
    if (now.state === 'destroyed') return old.state !== 'enabled';
    return now.material === old.material;
  });
}

/** Refuses a write that would drop or alter an existing version: the last guard before any store write. */
export function assertPreserves(previous: Keyset, next: Keyset): void {
  if (!preservesVersions(previous, next)) {
    throw new KeyManagementError('INVALID_TRANSITION', 'the new keyset does not hold every version of the one it replaces with its material unchanged; nothing was written');
  }
}

/** Whole days between two instants, floored. */
export function ageDays(fromIso: string, now: Date): number {
  return Math.floor((now.getTime() - Date.parse(fromIso)) / 86_400_000);
}
