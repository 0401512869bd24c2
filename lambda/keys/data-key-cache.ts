/**
 * Derived data keys by (version, context), bounded: past `maxEntries` the least recently used key is
 * zeroed and dropped. Legacy PBKDF2 costs ~40 ms a derivation, so every pair is derived once per holder.
 * Holders: the key manager (the data path) and the rewrapper (`reencrypt`).
 */
import { deriveKey } from './derive';
import { KeyManagementError } from './errors';
import { findVersion, isPruned, type Keyset, type KeyVersion } from './keyset';

export class DataKeyCache {
  private readonly keys = new Map<string, Buffer>();

  constructor(readonly maxEntries: number) {}

  get size(): number {
    return this.keys.size;
  }

  /**
   * The key for `version`/`context` of `keyset`, derived on a miss. `onDerive` runs after a real
   * derivation (audit). Refuses versions whose material is gone; whether a disabled version may be used
   * is the caller's decision, made before calling.
   */
  get(keyset: Keyset, version: number, context: string, onDerive?: (v: KeyVersion) => void): Buffer {
    const cacheKey = `${version}|${context}`;
    const hit = this.keys.get(cacheKey);
    if (hit) {
      this.keys.delete(cacheKey);
      this.keys.set(cacheKey, hit);
      return hit;
    }
    const v = requireMaterial(keyset, version);
    const material = Buffer.from(v.material as string, 'base64');
    let key: Buffer;
    try {
      key = deriveKey(v.kdf, material, context, version);
    } finally {
      material.fill(0);
    }
    this.keys.set(cacheKey, key);
    if (this.keys.size > this.maxEntries) {
      const [oldestKey, oldest] = this.keys.entries().next().value as [string, Buffer];
      this.keys.delete(oldestKey);
      oldest.fill(0);
    }
    onDerive?.(v);
    return key;
  }

  /** Zeroes and drops the keys of every version `keep` says no to. */
  retain(keep: (version: number) => boolean): void {
    for (const [cacheKey, key] of this.keys) {
      if (!keep(Number(cacheKey.slice(0, cacheKey.indexOf('|'))))) {
        key.fill(0);
        this.keys.delete(cacheKey);
      }
    }
  }

  /** Zeroes and drops every key. */
  clear(): void {
    for (const key of this.keys.values()) key.fill(0);
    this.keys.clear();
  }
}

/** The version, if its material is still there: UNKNOWN_VERSION or VERSION_DESTROYED otherwise. */
export function requireMaterial(keyset: Keyset, version: number): KeyVersion {
  const v = findVersion(keyset, version);
  if (!v && isPruned(keyset, version)) {
    throw new KeyManagementError('VERSION_DESTROYED', `version ${version} was destroyed (its entry since pruned; the audit log has the record); data under it cannot be decrypted`);
  }
  if (!v) {
    throw new KeyManagementError('UNKNOWN_VERSION', `version ${version} is not in the keyset; the data was encrypted under another keyset or the version number was altered — check --store`);
  }
  if (v.state === 'destroyed' || v.material === undefined) {
    throw new KeyManagementError('VERSION_DESTROYED', `version ${version} was destroyed${v.destroyedAt ? ` at ${v.destroyedAt}` : ''}; data under it cannot be decrypted`);
  }
  return v;
}
