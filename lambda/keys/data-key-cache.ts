/**
 * Derived data keys by (version, context), bounded: past `maxEntries` the least recently used key is
 * zeroed and dropped. Legacy PBKDF2 costs ~40 ms a derivation, so every pair is derived once per holder.
 * Holders: the key manager (the data path, `cached` then `derive`) and the rewrapper (`reencrypt`, a
 * synchronous batch, `get`).
 *
 * `derive` runs legacy PBKDF2 on libuv's threadpool, at most `maxConcurrentLegacy` at once (the pool has 4
 * threads by default and file I/O and DNS need them too), and callers missing the same key meanwhile share
 * one derivation. HKDF (~8 µs) stays synchronous.
 *
 * A key is served only for the material it was derived from. A version's material can be replaced under
 * the same number (`recover --force` from another keyset's backup), and a key of the old material would go
 * on encrypting data that no one holding the new keyset can decrypt.
 *
 * Dropping a key zeroes it, so a cached buffer (`cached`, `get`) must be used in the turn it was looked up
 * in: any await in between lets another caller's miss evict it, and the cipher would run under 32 zero
 * bytes. `derive`, whose caller awaits, hands out the caller's own copy instead.
 */
import { deriveKey, deriveLegacyPbkdf2Async } from './derive';
import { KeyManagementError } from './errors';
import { findVersion, isPruned, type Keyset, type KeyVersion } from './keyset';

interface CachedKey {
  readonly key: Buffer;
  /** The version's material when the key was derived (the keyset's own string, not a copy). */
  readonly material: string;
}

interface PendingDerivation {
  readonly material: string;
  /** The derived key, zeroed once every caller waiting for it has taken its copy. */
  readonly key: Promise<Buffer>;
  /** Callers awaiting `key` that have not yet taken their copy. */
  waiting: number;
}

/** How many legacy derivations one cache runs at once; the rest wait their turn, in order. */
export const MAX_CONCURRENT_LEGACY_DERIVATIONS = 2;

export class DataKeyCache {
  private readonly keys = new Map<string, CachedKey>();
  /** Legacy derivations under way by cache key, each shared by the callers that miss it meanwhile. */
  private readonly pending = new Map<string, PendingDerivation>();
  private running = 0;
  private readonly queue: (() => void)[] = [];

  constructor(
    readonly maxEntries: number,
    readonly maxConcurrentLegacy = MAX_CONCURRENT_LEGACY_DERIVATIONS,
  ) {}

  get size(): number {
    return this.keys.size;
  }

  /**
   * The cached key for `context` under `v` (a version with material: see `requireMaterial`), or undefined:
   * the warm path, which never derives. Use it before the next await. Whether a disabled version may be
   * used is the caller's decision.
   */
  cached(v: KeyVersion, context: string): Buffer | undefined {
    return this.lookup(`${v.version}|${context}`, v);
  }

  /** The key, derived synchronously on a miss (legacy PBKDF2 included: for batch callers, not services). Use it before the next await. */
  get(v: KeyVersion, context: string): Buffer {
    const cacheKey = `${v.version}|${context}`;
    return this.lookup(cacheKey, v) ?? this.insert(cacheKey, v, deriveNow(v, context));
  }

  /**
   * A copy of the key, derived on a miss (legacy PBKDF2 on the threadpool, see above), for the caller to
   * zero when done. `derived` is true for the one caller whose call derived it, so a derivation is audited
   * once however many callers waited for it.
   */
  async derive(v: KeyVersion, context: string): Promise<{ key: Buffer; derived: boolean }> {
    const cacheKey = `${v.version}|${context}`;
    const hit = this.lookup(cacheKey, v);
    if (hit) return { key: Buffer.from(hit), derived: false };
    if (v.kdf !== 'legacy-pbkdf2') {
      const key = deriveNow(v, context);
      this.insert(cacheKey, v, Buffer.from(key));
      return { key, derived: true };
    }
    const shared = this.pending.get(cacheKey);
    const run = shared !== undefined && shared.material === v.material ? shared : this.startLegacy(cacheKey, v, context);
    run.waiting++;
    let raw: Buffer | undefined;
    try {
      raw = await run.key;
      return { key: Buffer.from(raw), derived: run !== shared };
    } finally {
      if (--run.waiting === 0) {
        if (this.pending.get(cacheKey) === run) this.pending.delete(cacheKey);
        raw?.fill(0);
      }
    }
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

  /** A hit only for `v`'s current material; a key of other material is zeroed and dropped. */
  private lookup(cacheKey: string, v: KeyVersion): Buffer | undefined {
    const hit = this.keys.get(cacheKey);
    if (hit === undefined) return undefined;
    if (hit.material !== v.material) {
      this.drop(cacheKey, hit);
      return undefined;
    }
    this.keys.delete(cacheKey);
    this.keys.set(cacheKey, hit);
    return hit.key;
  }

  private insert(cacheKey: string, v: KeyVersion, key: Buffer): Buffer {
    const existing = this.keys.get(cacheKey);
    if (existing) this.drop(cacheKey, existing);
    this.keys.set(cacheKey, { key, material: v.material as string });
    if (this.keys.size > this.maxEntries) {
      const [oldestKey, oldest] = this.keys.entries().next().value as [string, CachedKey];
      this.drop(oldestKey, oldest);
    }
    return key;
  }

  private drop(cacheKey: string, entry: CachedKey): void {
    entry.key.fill(0);
    this.keys.delete(cacheKey);
  }

  /** Starts a legacy derivation, registered for later callers to share; the cache gets its own copy of the key. */
  private startLegacy(cacheKey: string, v: KeyVersion, context: string): PendingDerivation {
    const key = this.limited(() => deriveLegacy(v, context)).then((derived) => {
      this.insert(cacheKey, v, Buffer.from(derived));
      return derived;
    });
    const run: PendingDerivation = { material: v.material as string, key, waiting: 0 };
    this.pending.set(cacheKey, run);
    return run;
  }

  /** Runs `work` once fewer than `maxConcurrentLegacy` are running; a finishing run hands its slot to the next in line. */
  private async limited<T>(work: () => Promise<T>): Promise<T> {
    if (this.running < this.maxConcurrentLegacy) this.running++;
    else await new Promise<void>((resolve) => this.queue.push(resolve));
    try {
      return await work();
    } finally {
      const next = this.queue.shift();
      if (next) next();
      else this.running--;
    }
  }
}

function deriveNow(v: KeyVersion, context: string): Buffer {
  const material = Buffer.from(v.material as string, 'base64');
  try {
    return deriveKey(v.kdf, material, context, v.version);
  } finally {
    material.fill(0);
  }
}

async function deriveLegacy(v: KeyVersion, context: string): Promise<Buffer> {
  const material = Buffer.from(v.material as string, 'base64');
  try {
    return await deriveLegacyPbkdf2Async(material, context, v.version);
  } finally {
    material.fill(0);
  }
}

/** The version, if its material is still there: UNKNOWN_VERSION or VERSION_DESTROYED otherwise. */
export function requireMaterial(keyset: Keyset, version: number): KeyVersion {
  const v = findVersion(keyset, version);
  if (!v && isPruned(keyset, version)) {
    throw new KeyManagementError('VERSION_DESTROYED', `version ${version} was destroyed (its entry since pruned; the audit log has the record); data under it cannot be decrypted`);
  }
  if (!v) {
    throw new KeyManagementError('UNKNOWN_VERSION', `version ${version} is not in the keyset; the data was encrypted under another keyset or the version number was altered`);
  }
  if (v.state === 'destroyed' || v.material === undefined) {
    throw new KeyManagementError('VERSION_DESTROYED', `version ${version} was destroyed${v.destroyedAt ? ` at ${v.destroyedAt}` : ''}; data under it cannot be decrypted`);
  }
  return v;
}
