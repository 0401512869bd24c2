/**
 * Rewrapping: decrypt an envelope made under any readable version and seal it again under the primary,
 * in the same form (record stays record, compact stays compact; a legacy record becomes an AP2 record).
 * Pure key logic over one keyset snapshot; `reencrypt` feeds it one value per line.
 *
 * Unlike the data path, a rewrapper reads *disabled* versions: moving data off a disabled (compromised)
 * version is exactly what re-encryption is for. Destroyed versions have no material and fail.
 */
import { type CachedKey, DataKeyCache, requireMaterial } from './data-key-cache';
import { assertFormatFitsVersion, IV_BYTES, openGcm, type ParsedEnvelope, readEnvelope, recordJson, sealGcm, toCompact, toRecord } from './envelope';
import { findVersion, type Keyset } from './keyset';
import { isPlainObject } from './json';
import type { RandomSource } from './random';

/** Derived keys kept at once; beyond this the least recently used is zeroed and dropped. */
const MAX_CACHED_KEYS = 4_096;

export type RewrapResult =
  /** Not an envelope: passed through untouched. */
  | { readonly status: 'not-envelope' }
  /** Already an AP2 envelope under the primary: passed through untouched. */
  | { readonly status: 'current' }
  | {
      readonly status: 'rewrapped';
      readonly value: string | object;
      /** `value` as JSON text, exactly what `JSON.stringify(value)` gives (built without it: see `recordJson`). */
      readonly json: string;
      readonly fromVersion: number;
      readonly context: string;
    };

/** True for a value that claims to be an envelope: a record with `ciphertext`, or a compact `AP2:` string. */
export function looksLikeEnvelope(value: unknown): boolean {
  if (typeof value === 'string') return value.startsWith('AP2:');
  return isPlainObject(value) && 'ciphertext' in value;
}

export class Rewrapper {
  /** Legacy PBKDF2 costs ~40 ms a derivation, so every (version, context) pair is derived once. */
  private readonly keys = new DataKeyCache(MAX_CACHED_KEYS);
  /** Versions read that are disabled in the keyset (reported in the audit record). */
  readonly disabledVersionsRead = new Set<number>();

  constructor(
    readonly keyset: Keyset,
    private readonly random: RandomSource,
  ) {}

  get primary(): number {
    return this.keyset.primary;
  }

  /**
   * Rewraps `value` (a parsed record object, or a compact string) if it is an envelope not under the
   * primary. Throws a KeyManagementError (INVALID_ENVELOPE, UNKNOWN_VERSION, VERSION_DESTROYED,
   * DECRYPT_FAILED) for an envelope that cannot be read.
   */
  rewrap(value: unknown): RewrapResult {
    if (!looksLikeEnvelope(value)) return { status: 'not-envelope' };
    // Borrowed payload: opened before anything else is parsed.
    const parsed = readEnvelope(value as string | object);
    if (parsed.kind === 'ap2' && parsed.version === this.keyset.primary) return { status: 'current' };
    const plaintext = this.open(parsed);
    try {
      const version = this.keyset.primary;
      const { key, aad } = this.key(version, parsed.context);
      // Transient: spelled below, before anything else seals.
      const payload = sealGcm(key, this.random.bytes(IV_BYTES), plaintext, aad, undefined, true);
      if (parsed.form === 'compact') {
        // A compact envelope is letters, digits and `:._-`: as a JSON string it needs no escaping either.
        const compact = toCompact(version, parsed.context, payload);
        return { status: 'rewrapped', value: compact, json: `"${compact}"`, fromVersion: parsed.version, context: parsed.context };
      }
      const record = toRecord(version, parsed.context, payload);
      return { status: 'rewrapped', value: record, json: recordJson(record), fromVersion: parsed.version, context: parsed.context };
    } finally {
      plaintext.fill(0);
    }
  }

  /** Zeroes every derived key. */
  destroy(): void {
    this.keys.clear();
  }

  private open(parsed: ParsedEnvelope): Buffer {
    assertFormatFitsVersion(parsed, findVersion(this.keyset, parsed.version)?.kdf);
    const { key, aad } = this.key(parsed.version, parsed.context);
    return openGcm(key, parsed.payload, parsed.kind === 'ap2' ? aad : undefined);
  }

  /** The cached key and AAD for (`version`, `context`); use them before anything else is looked up. */
  private key(version: number, context: string): CachedKey {
    const v = requireMaterial(this.keyset, version);
    if (v.state === 'disabled') this.disabledVersionsRead.add(version);
    return this.keys.get(v, context);
  }
}
