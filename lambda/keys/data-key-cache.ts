/**
 * Derived data keys by (version, context), bounded: past `maxEntries` the least recently used key is
 * zeroed and dropped. Legacy PBKDF2 costs ~40 ms a derivation, so every pair is derived once per holder.
 * Holders: the key manager (the data path, `cached` then `derive`) and the rewrapper (`reencrypt`, a
 * synchronous batch, `get`). Each entry also holds the AP2 additional data of its pair, so a warm call
 * builds none.
 *
 * `derive` runs legacy PBKDF2 on libuv's threadpool, at most `maxConcurrentLegacy` at once (the pool has 4
 * threads by default and file I/O and DNS need them too), and callers missing the same key meanwhile share
 * one derivation. HKDF (~8 µs) stays synchronous.
 *
 * A key is served only for the material it was derived from. A version's material can be replaced under
 * the same number (`recover --force` from another keyset's backup), and a key of the old material would go
 * on encrypting data that no one holding the new keyset can decrypt.
 *
 * Dropping a key zeroes it, so a cached entry (`cached`, `get`) must be used in the turn it was looked up
 * in: any await in between lets another caller's miss evict it, and the cipher would run under 32 zero
 * bytes. `derive`, whose caller awaits, hands out the caller's own copy instead.
 *
 * A hit costs two small map lookups and a few pointer writes: entries are found by version, then context
 * (no key string is built), and recency is a linked list. Keeping recency as a Map's insertion order
 * (delete and set again on every hit) cost ~1.5 µs a hit with 1,000 keys cached, as V8 compacts the
 * table every few dozen re-insertions.
 */
import { aad } from './envelope';
import { deriveKey, deriveLegacyPbkdf2Async } from './derive';
import { KeyManagementError } from './errors';
import { findVersion, isPruned, type Keyset, type KeyVersion } from './keyset';

/** A cached data key: use `key` before the next await (see above). */
export interface CachedKey<M = unknown> {
  readonly key: Buffer;
  /** The AP2 additional data of its version and context (`AP2|<version>|<context>`). */
  readonly aad: Buffer;
  /** The holder's own state for this (version, context), dropped with the key (the data path keeps its metric counter here). */
  meter?: M;
}

interface Entry<M> extends CachedKey<M> {
  readonly version: number;
  readonly context: string;
  /** The version's material when the key was derived (the keyset's own string, not a copy). */
  readonly material: string;
  newer?: Entry<M>;
  older?: Entry<M>;
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

export class DataKeyCache<M = unknown> {
  /** Version -> context -> entry. */
  private readonly keys = new Map<number, Map<string, Entry<M>>>();
  private newest?: Entry<M>;
  private oldest?: Entry<M>;
  private count = 0;
  /** Legacy derivations under way by `<version>|<context>`, each shared by the callers that miss it meanwhile. */
  private readonly pending = new Map<string, PendingDerivation>();
  private running = 0;
  private readonly queue: (() => void)[] = [];

  constructor(
    readonly maxEntries: number,
    readonly maxConcurrentLegacy = MAX_CONCURRENT_LEGACY_DERIVATIONS,
  ) {}

  get size(): number {
    return this.count;
  }

  /**
   * The cached key for `context` under `v` (a version with material: see `requireMaterial`), or undefined:
   * the warm path, which never derives. Use it before the next await. Whether a disabled version may be
   * used is the caller's decision.
   */
  cached(v: KeyVersion, context: string): CachedKey<M> | undefined {
    const hit = this.keys.get(v.version)?.get(context);
    if (hit === undefined) return undefined;
    if (hit.material !== v.material) {
      this.drop(hit);
      return undefined;
    }
    if (hit !== this.newest) {
      this.unlink(hit);
      this.link(hit);
    }
    return hit;
  }

  /** The key, derived synchronously on a miss (legacy PBKDF2 included: for batch callers, not services). Use it before the next await. */
  get(v: KeyVersion, context: string): CachedKey<M> {
    return this.cached(v, context) ?? this.insert(v, context, deriveNow(v, context));
  }

  /**
   * A copy of the key, derived on a miss (legacy PBKDF2 on the threadpool, see above), for the caller to
   * zero when done. `derived` is true for the one caller whose call derived it, so a derivation is audited
   * once however many callers waited for it.
   */
  async derive(v: KeyVersion, context: string): Promise<{ key: Buffer; derived: boolean }> {
    const hit = this.cached(v, context);
    if (hit) return { key: Buffer.from(hit.key), derived: false };
    if (v.kdf !== 'legacy-pbkdf2') {
      const key = deriveNow(v, context);
      this.insert(v, context, unpooled(key));
      return { key, derived: true };
    }
    const pendingKey = `${v.version}|${context}`;
    const shared = this.pending.get(pendingKey);
    const run = shared !== undefined && shared.material === v.material ? shared : this.startLegacy(pendingKey, v, context);
    run.waiting++;
    let raw: Buffer | undefined;
    try {
      raw = await run.key;
      return { key: Buffer.from(raw), derived: run !== shared };
    } finally {
      if (--run.waiting === 0) {
        if (this.pending.get(pendingKey) === run) this.pending.delete(pendingKey);
        raw?.fill(0);
      }
    }
  }

  /** Zeroes and drops the keys `keep` says no to, given their version and the material they were derived from (oldest first). */
  retain(keep: (version: number, material: string) => boolean): void {
    for (let e = this.oldest; e; ) {
      const next = e.newer;
      if (!keep(e.version, e.material)) this.drop(e);
      e = next;
    }
  }

  /** Zeroes and drops every key. */
  clear(): void {
    for (let e = this.oldest; e; e = e.newer) e.key.fill(0);
    this.keys.clear();
    this.newest = this.oldest = undefined;
    this.count = 0;
  }

  private insert(v: KeyVersion, context: string, key: Buffer): Entry<M> {
    const existing = this.keys.get(v.version)?.get(context);
    if (existing) this.drop(existing);
    const entry: Entry<M> = { key, aad: unpooled(aad(v.version, context)), version: v.version, context, material: v.material as string };
    let contexts = this.keys.get(v.version);
    if (!contexts) this.keys.set(v.version, (contexts = new Map()));
    contexts.set(context, entry);
    this.link(entry);
    if (++this.count > this.maxEntries) this.drop(this.oldest as Entry<M>);
    return entry;
  }

  private drop(entry: Entry<M>): void {
    entry.key.fill(0);
    const contexts = this.keys.get(entry.version) as Map<string, Entry<M>>;
    contexts.delete(entry.context);
    if (contexts.size === 0) this.keys.delete(entry.version);
    this.unlink(entry);
    this.count--;
  }

  /** Makes `entry` the newest. */
  private link(entry: Entry<M>): void {
    entry.older = this.newest;
    if (this.newest) this.newest.newer = entry;
    else this.oldest = entry;
    this.newest = entry;
  }

  private unlink(entry: Entry<M>): void {
    if (entry.newer) entry.newer.older = entry.older;
    else this.newest = entry.older;
    if (entry.older) entry.older.newer = entry.newer;
    else this.oldest = entry.newer;
    entry.newer = entry.older = undefined;
  }

  /** Starts a legacy derivation, registered for later callers to share; the cache gets its own copy of the key. */
  private startLegacy(pendingKey: string, v: KeyVersion, context: string): PendingDerivation {
    const key = this.limited(() => deriveLegacy(v, context)).then((derived) => {
      this.insert(v, context, unpooled(derived));
      return derived;
    });
    const run: PendingDerivation = { material: v.material as string, key, waiting: 0 };
    this.pending.set(pendingKey, run);
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
/**
 * A copy of `bytes` in a buffer of its own. Small Buffers are cut from shared 8 KiB slabs, and one that is kept (a
 * cached key, its AAD) keeps its whole slab alive, with the short-lived buffers cut next to it: at 1,024 cached keys,
 * tens of MiB that no collection could free.
 */
function unpooled(bytes: Buffer): Buffer {
  const own = Buffer.allocUnsafeSlow(bytes.length);
  bytes.copy(own);
  return own;
}

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
