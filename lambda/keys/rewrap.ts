/**
 * Rewrapping: decrypt an envelope made under any readable version and seal it again under the primary,
 * in the same form (record stays record, compact stays compact; a legacy record becomes an AP2 record).
 * Pure key logic over one keyset snapshot; `reencrypt` feeds it one value per line.
 *
 * Unlike the data path, a rewrapper reads *disabled* versions: moving data off a disabled (compromised)
 * version is exactly what re-encryption is for. Destroyed versions have no material and fail.
 */
import { deriveKey } from './derive';
import { aad, IV_BYTES, openGcm, parseEnvelope, type ParsedEnvelope, sealGcm, toCompact, toRecord } from './envelope';
import { KeyManagementError } from './errors';
import { findVersion, isPruned, type Keyset } from './keyset';
import type { RandomSource } from './random';

/** Derived keys kept at once; beyond this the oldest is zeroed and dropped (FIFO: files cluster by context). */
const MAX_CACHED_KEYS = 4_096;

export type RewrapResult =
  /** Not an envelope: passed through untouched. */
  | { readonly status: 'not-envelope' }
  /** Already an AP2 envelope under the primary: passed through untouched. */
  | { readonly status: 'current' }
  | { readonly status: 'rewrapped'; readonly value: string | object; readonly fromVersion: number; readonly context: string };

/** True for a value that claims to be an envelope: a record with `ciphertext`, or a compact `AP2:` string. */
export function looksLikeEnvelope(value: unknown): boolean {
  if (typeof value === 'string') return value.startsWith('AP2:');
  return typeof value === 'object' && value !== null && !Array.isArray(value) && 'ciphertext' in value;
}

export class Rewrapper {
  /** Data keys by `version|context`: legacy PBKDF2 costs ~40 ms each, so every pair is derived once. */
  private readonly keys = new Map<string, Buffer>();
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
    const parsed = parseEnvelope(value as string | object);
    if (parsed.kind === 'ap2' && parsed.version === this.keyset.primary) return { status: 'current' };
    const plaintext = this.open(parsed);
    try {
      const version = this.keyset.primary;
      const payload = sealGcm(this.key(version, parsed.context), this.random.bytes(IV_BYTES), plaintext, aad(version, parsed.context));
      const out = parsed.form === 'compact' ? toCompact(version, parsed.context, payload) : toRecord(version, parsed.context, payload);
      return { status: 'rewrapped', value: out, fromVersion: parsed.version, context: parsed.context };
    } finally {
      plaintext.fill(0);
    }
  }

  /** Zeroes every derived key. */
  destroy(): void {
    for (const key of this.keys.values()) key.fill(0);
    this.keys.clear();
  }

  private open(parsed: ParsedEnvelope): Buffer {
    const v = findVersion(this.keyset, parsed.version);
    if (parsed.kind === 'legacy' && v && v.kdf !== 'legacy-pbkdf2') {
      throw new KeyManagementError('DECRYPT_FAILED', `a legacy record names version ${parsed.version}, which is not a legacy version; the record was altered or mislabelled`);
    }
    return openGcm(this.key(parsed.version, parsed.context), parsed.payload, parsed.kind === 'ap2' ? aad(parsed.version, parsed.context) : undefined);
  }

  private key(version: number, context: string): Buffer {
    const cacheKey = `${version}|${context}`;
    const hit = this.keys.get(cacheKey);
    if (hit) return hit;
    const v = findVersion(this.keyset, version);
    if (!v && isPruned(this.keyset, version)) throw new KeyManagementError('VERSION_DESTROYED', `version ${version} was destroyed (entry pruned); data under it cannot be decrypted`);
    if (!v) throw new KeyManagementError('UNKNOWN_VERSION', `version ${version} is not in the keyset; the data was encrypted under another keyset`);
    if (v.state === 'destroyed' || v.material === undefined) throw new KeyManagementError('VERSION_DESTROYED', `version ${version} was destroyed; data under it cannot be decrypted`);
    if (v.state === 'disabled') this.disabledVersionsRead.add(version);
    const material = Buffer.from(v.material, 'base64');
    try {
      const key = deriveKey(v.kdf, material, context, version);
      this.keys.set(cacheKey, key);
      if (this.keys.size > MAX_CACHED_KEYS) {
        const [oldestKey, oldest] = this.keys.entries().next().value as [string, Buffer];
        this.keys.delete(oldestKey);
        oldest.fill(0);
      }
      return key;
    } finally {
      material.fill(0);
    }
  }
}
