/**
 * Derived data keys by (version, context), bounded: past `maxEntries` the least recently used key is
 * zeroed and dropped. Legacy PBKDF2 costs ~40 ms a derivation, so every pair is derived once per holder.
 * Holders: the key manager (the data path) and the rewrapper (`reencrypt`).
 *
 * A key is served only for the material it was derived from. A version's material can be replaced under
 * the same number (`recover --force` from another keyset's backup), and a key of the old material would go
 * on encrypting data that no one holding the new keyset can decrypt.
 */
import { deriveKey } from './derive';
import { KeyManagementError } from './errors';
import { findVersion, isPruned, type Keyset, type KeyVersion } from './keyset';

interface CachedKey {
  readonly key: Buffer;
  /** The version's material when the key was derived (the keyset's own string, not a copy). */
  readonly material: string;
}

export class DataKeyCache {
  private readonly keys = new Map<string, CachedKey>();

  constructor(readonly maxEntries: number) {}

  get size(): number {
    return this.keys.size;
  }

  /**
   * The key for `context` under `v` (a version with material: see `requireMaterial`), derived on a miss.
   * `onDerive` runs after a real derivation (audit). Whether a disabled version may be used is the
   * caller's decision, made before calling.
   */
  get(v: KeyVersion, context: string, onDerive?: (v: KeyVersion) => void): Buffer {
    const cacheKey = `${v.version}|${context}`;
    const hit = this.keys.get(cacheKey);
    if (hit && hit.material === v.material) {
      this.keys.delete(cacheKey);
      this.keys.set(cacheKey, hit);
      return hit.key;
    }
    if (hit) this.drop(cacheKey, hit);
    const material = Buffer.from(v.material as string, 'base64');
    let key: Buffer;
    try {
      key = deriveKey(v.kdf, material, context, v.version);
    } finally {
      material.fill(0);
    }
    this.keys.set(cacheKey, { key, material: v.material as string });
    if (this.keys.size > this.maxEntries) {
      const [oldestKey, oldest] = this.keys.entries().next().value as [string, CachedKey];
      this.drop(oldestKey, oldest);
    }
    onDerive?.(v);
    return key;
  }

  /** Zeroes and drops the keys `keep` says no to, given their version and the material they were derived from. */
  retain(keep: (version: number, material: string) => boolean): void {
    for (const [cacheKey, entry] of this.keys) {
      if (!keep(Number(cacheKey.slice(0, cacheKey.indexOf('|'))), entry.material)) this.drop(cacheKey, entry);
    }
  }

  /** Zeroes and drops every key. */
  clear(): void {
    for (const entry of this.keys.values()) entry.key.fill(0);
    this.keys.clear();
  }

  private drop(cacheKey: string, entry: CachedKey): void {
    entry.key.fill(0);
    this.keys.delete(cacheKey);
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
