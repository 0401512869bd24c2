/**
 * Where the data path gets its keyset: a caching decorator around any store. A read keyset is trusted for a TTL;
 * in the last fifth of it a call also refreshes in the background (refresh ahead: a service with steady traffic never
 * waits on the store); past it, a store that cannot be read is bridged by the stale keyset for up to `maxStaleMs`
 * (serve stale, transient errors only); concurrent callers share one read (single flight); and a ciphertext naming a
 * version newer than any cached one triggers one refetch, rate-limited so a flood of forged versions cannot hammer the
 * store.
 */
import { errorCode, KeyManagementError } from './errors';
import { assertNotAhead, findVersion, isPruned, type Keyset, latestVersion } from './keyset';
import type { KeysetSnapshot, KeysetStore } from '../stores/store';
import type { MetricsSink } from '../telemetry/metrics';

export const DEFAULT_KEYSET_TTL_MS = 300_000;
export const DEFAULT_MAX_STALE_MS = 3_600_000;
export const DEFAULT_UNKNOWN_VERSION_REFETCH_MS = 1_000;
/** Fraction of the keyset TTL after which a call also starts a background refresh. */
const REFRESH_AHEAD_FRACTION = 0.8;

export interface KeysetSourceOptions {
  readonly clock: () => Date;
  /** `clock` in milliseconds, for the warm path's freshness check: `Date.now` saves a Date a call. @default `clock().getTime()` */
  readonly nowMs?: () => number;
  /** Counts `KeyRetrievalFailures` for every failed read. */
  readonly metrics: MetricsSink;
  /** @default 300000 (5 min) */
  readonly ttlMs?: number;
  /** How long past its TTL a cached keyset keeps serving when the store cannot be read; 0 turns it off. @default 3600000 (1 h) */
  readonly maxStaleMs?: number;
  /** Least time between refetches caused by unknown versions. @default 1000 */
  readonly unknownVersionRefetchMs?: number;
}

/** Who asked for a version: a ciphertext named it (`data`), or a caller asked for a key under it (`key`). */
export type VersionWanted = 'data' | 'key';

interface Cached {
  readonly snapshot: KeysetSnapshot;
  readonly fetchedAt: number;
}

export class CachingKeysetSource {
  private readonly ttlMs: number;
  private readonly maxStaleMs: number;
  private readonly unknownVersionRefetchMs: number;
  private readonly nowMs: () => number;
  private cached?: Cached;
  private inflight?: Promise<KeysetSnapshot>;
  private lastUnknownRefetch = Number.NEGATIVE_INFINITY;
  private readonly adoptListeners: ((keyset: Keyset) => void)[] = [];

  constructor(
    readonly store: KeysetStore,
    private readonly options: KeysetSourceOptions,
  ) {
    this.ttlMs = nonNegative(options.ttlMs ?? DEFAULT_KEYSET_TTL_MS, 'keysetTtlMs');
    this.maxStaleMs = nonNegative(options.maxStaleMs ?? DEFAULT_MAX_STALE_MS, 'maxStaleMs');
    this.unknownVersionRefetchMs = nonNegative(options.unknownVersionRefetchMs ?? DEFAULT_UNKNOWN_VERSION_REFETCH_MS, 'unknownVersionRefetchMs');
    this.nowMs = options.nowMs ?? (() => options.clock().getTime());
  }

  /** Called with every keyset adopted (read or written): holders of derived keys drop the ones no longer usable. */
  onAdopt(listener: (keyset: Keyset) => void): void {
    this.adoptListeners.push(listener);
  }

  /**
   * The cached keyset while it is fresh, else undefined: the warm path, synchronous (`current` is this plus
   * the read). `version`, when given, must be in it too. Starts the refresh ahead as `current` does.
   */
  peek(version?: number): Keyset | undefined {
    const cached = this.cached;
    if (!cached) return undefined;
    const age = this.nowMs() - cached.fetchedAt;
    if (age >= this.ttlMs) return undefined;
    // A failed background refresh only counts a KeyRetrievalFailures; the next call retries.
    if (age >= this.ttlMs * REFRESH_AHEAD_FRACTION && !this.inflight) this.fresh().catch(() => undefined);
    const keyset = cached.snapshot.keyset;
    return version === undefined || findVersion(keyset, version) ? keyset : undefined;
  }

  /** The keyset, from cache while fresh. */
  async current(): Promise<Keyset> {
    const hit = this.peek();
    if (hit) return hit;
    const cached = this.cached;
    try {
      return (await this.fresh()).keyset;
    } catch (err) {
      if (cached && this.maxStaleMs > 0 && this.options.clock().getTime() - cached.fetchedAt < this.ttlMs + this.maxStaleMs && isTransient(err)) {
        return cached.snapshot.keyset;
      }
      throw err;
    }
  }

  /** A keyset that holds `version`, refetching once if the version is newer than any cached. */
  async containing(version: number, wanted: VersionWanted): Promise<Keyset> {
    let keyset = await this.current();
    if (findVersion(keyset, version) || isPruned(keyset, version)) return keyset;
    if (version > latestVersion(keyset)) {
      const now = this.options.clock().getTime();
      if (this.inflight) {
        keyset = (await this.inflight).keyset;
      } else if (now - this.lastUnknownRefetch >= this.unknownVersionRefetchMs) {
        this.lastUnknownRefetch = now;
        keyset = (await this.fresh()).keyset;
      }
    }
    if (!findVersion(keyset, version) && !isPruned(keyset, version)) throw unknownVersion(version, keyset, wanted);
    return keyset;
  }

  /**
   * Reads the store now, bypassing the cache (a read already in flight is shared), and adopts what it read. Writers
   * still compare-and-set, so a read shared with one that started earlier cannot lose a write. Stores validate
   * without a clock, so the timestamps are checked against ours: a version stamped in the future would never be due.
   */
  fresh(): Promise<KeysetSnapshot> {
    if (!this.inflight) {
      this.inflight = this.store
        .read()
        .then((snapshot) => {
          assertNotAhead(snapshot.keyset, this.options.clock());
          this.adopt(snapshot);
          return snapshot;
        })
        .catch((err: unknown) => {
          this.options.metrics.count('KeyRetrievalFailures');
          throw err;
        })
        .finally(() => {
          this.inflight = undefined;
        });
    }
    return this.inflight;
  }

  /** Caches a snapshot read or written elsewhere (a write of the administration path). */
  adopt(snapshot: KeysetSnapshot): void {
    this.cached = { snapshot, fetchedAt: this.options.clock().getTime() };
    for (const listener of this.adoptListeners) listener(snapshot.keyset);
  }

  /** Forgets the cached keyset: the next call reads the store. */
  clear(): void {
    this.cached = undefined;
  }
}

function unknownVersion(version: number, keyset: Keyset, wanted: VersionWanted): KeyManagementError {
  const why = wanted === 'data' ? '; the data was encrypted under another keyset or its version number was altered' : '';
  return new KeyManagementError('UNKNOWN_VERSION', `version ${version} is not in the keyset (latest is ${latestVersion(keyset)})${why}`);
}

function isTransient(err: unknown): boolean {
  const code = errorCode(err);
  return code === 'STORE_UNAVAILABLE' || code === 'THROTTLED' || code === 'STORE_BUSY' || code === 'INTERNAL';
}

export function nonNegative(value: number, name: string): number {
  if (!Number.isFinite(value) || value < 0) throw new KeyManagementError('INVALID_INPUT', `${name} must be a non-negative number, got ${value}`);
  return value;
}
