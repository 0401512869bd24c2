/**
 * The key manager: the one object services use to derive data keys, encrypt and decrypt, and that
 * operators use (through the CLI) to rotate and retire versions.
 *
 * Side effects are injected (store, clock, random source, audit sink, metrics sink). The keyset is
 * cached for a TTL and derived keys in a bounded LRU, so a warm `encrypt` or `deriveDataKey` does no
 * I/O. A ciphertext naming a version newer than any cached one triggers one refetch, shared by every
 * concurrent caller (single flight) and rate-limited so a flood of forged versions cannot hammer the
 * store.
 */
import * as os from 'node:os';
import { validateContext } from './keys/context';
import { DataKeyCache, requireMaterial } from './keys/data-key-cache';
import { keyFingerprint } from './keys/derive';
import {
  aad,
  assertFormatFitsVersion,
  type EnvelopeRecord,
  IV_BYTES,
  openGcm,
  parseEnvelope,
  type ParsedEnvelope,
  sealGcm,
  toCompact,
  toRecord,
} from './keys/envelope';
import { errorCode, KeyManagementError } from './keys/errors';
import {
  ageDays,
  assertNotAhead,
  assertPreserves,
  createKeyset,
  destroyVersion,
  disableVersion,
  enableVersion,
  findVersion,
  isPruned,
  type Keyset,
  keysetCapacity,
  type KeysetCapacity,
  type KeyVersion,
  latestVersion,
  primaryVersion,
} from './keys/keyset';
import { freshMaterial, PooledRandom, type RandomSource } from './keys/random';
import type { RotationLogStore } from './rotation/rotation-log-store';
import type { RotateOptions, RotateResult } from './rotation/rotator';
import type { KeysetSnapshot, KeysetStore, ManagedRotationStatus } from './stores/store';
import { auditEvent, type AuditFields, type AuditOutcome, AuditRateLimit, type AuditSink, noopAudit } from './telemetry/audit';
import { type MetricsSink, noopMetrics } from './telemetry/metrics';

export type { RotateOptions, RotateResult } from './rotation/rotator';

export const DEFAULT_KEYSET_TTL_MS = 300_000;
export const DEFAULT_MAX_CACHED_KEYS = 1_024;
export const DEFAULT_ROTATION_PERIOD_DAYS = 90;
/** Fraction of the keyset TTL after which a call also starts a background refresh. */
const REFRESH_AHEAD_FRACTION = 0.8;
/**
 * Legacy derivations audited one by one per minute; past that, one summary and then only the metric. Any
 * context named on a legacy record is derived for before the record can be authenticated.
 */
export const LEGACY_DERIVATION_AUDITS_PER_MINUTE = 20;

export interface KeyManagerOptions {
  readonly store: KeysetStore;
  /** @default () => new Date() */
  readonly clock?: () => Date;
  /** Source of key material and of IVs. @default a pooled CSPRNG */
  readonly random?: RandomSource;
  /** @default no audit */
  readonly audit?: AuditSink;
  /** @default no metrics */
  readonly metrics?: MetricsSink;
  /** Who is acting, for audit events. @default the OS user */
  readonly actor?: string;
  /** How long a read keyset is trusted before the next call refetches it. @default 300000 (5 min) */
  readonly keysetTtlMs?: number;
  /**
   * How long past its TTL a cached keyset keeps serving when the store cannot be read; each such
   * use counts a `KeyRetrievalFailures`. 0 turns it off. @default 3600000 (1 h)
   */
  readonly maxStaleMs?: number;
  /** Derived keys kept per process (LRU); evicted keys are zeroed. @default 1024 */
  readonly maxCachedKeys?: number;
  /** Least time between refetches caused by unknown versions. @default 1000 */
  readonly unknownVersionRefetchMs?: number;
  /**
   * Write an audit event for every encrypt and decrypt, not only for key derivations, key-management
   * operations and failures. Right for a CLI; too much for a service doing thousands per second.
   * @default false
   */
  readonly auditDataOperations?: boolean;
  /** Rotation period used by `status` and `health` to compute the deadline. @default 90 */
  readonly rotationPeriodDays?: number;
  /** Where `rotate` records each rotation (advisory history). @default none: the audit event is the record */
  readonly rotationLog?: RotationLogStore;
}

export interface DataKey {
  /** A copy of the 32-byte data key: the caller owns it and should `fill(0)` it when done. */
  readonly key: Buffer;
  readonly version: number;
  /** Safe-to-print identifier of the key. */
  readonly fingerprint: string;
}

export interface DecryptResult {
  readonly plaintext: Buffer;
  readonly version: number;
  readonly context: string;
  /** `legacy` for records written by the AlphaPulse Python system. */
  readonly kind: ParsedEnvelope['kind'];
}

export interface VersionStatus {
  readonly version: number;
  readonly state: KeyVersion['state'];
  readonly kdf: KeyVersion['kdf'];
  readonly primary: boolean;
  readonly createdAt: string;
  readonly ageDays: number;
  readonly disabledAt?: string;
  readonly destroyedAt?: string;
  readonly reason?: string;
}

export interface KeysetStatus {
  readonly store: string;
  readonly location: string;
  readonly primary: number;
  readonly primaryAgeDays: number;
  readonly rotationPeriodDays: number;
  readonly daysUntilRotationDue: number;
  /** Never true for a read-only store: it cannot be rotated here, so it cannot be overdue here either. */
  readonly rotationOverdue: boolean;
  /** The store cannot be written (the env store): rotation and every other change happen where its key is managed. */
  readonly readOnly: boolean;
  readonly enabledVersions: number;
  /** Destroyed versions whose entries were pruned to make room, as `"3"` or `"1-40"`. */
  readonly prunedVersions: readonly string[];
  readonly versions: readonly VersionStatus[];
  readonly capacity: KeysetCapacity;
  /** On a store whose backend rotates the keyset (Secrets Manager): its schedule and any rotation in progress or stuck. */
  readonly rotation?: ManagedRotationStatus;
}

export interface HealthCheck {
  readonly name: string;
  readonly ok: boolean;
  /** What was found, or on failure the error's message. */
  readonly detail: string;
  /** On failure, the error's code (`INTERNAL` for an unexpected error). */
  readonly code?: string;
}

export interface HealthReport {
  readonly ok: boolean;
  readonly checks: readonly HealthCheck[];
}

interface CachedKeyset {
  readonly snapshot: KeysetSnapshot;
  readonly fetchedAt: number;
}

export class KeyManager {
  readonly store: KeysetStore;
  private readonly clock: () => Date;
  private readonly random: RandomSource;
  private readonly audit: AuditSink;
  private readonly metrics: MetricsSink;
  private readonly actor: string;
  private readonly ttlMs: number;
  private readonly maxStaleMs: number;
  private readonly unknownVersionRefetchMs: number;
  private readonly auditDataOperations: boolean;
  private readonly rotationPeriodDays: number;
  private readonly rotationLog?: RotationLogStore;

  private cached?: CachedKeyset;
  private inflight?: Promise<KeysetSnapshot>;
  private lastUnknownRefetch = Number.NEGATIVE_INFINITY;
  private readonly keys: DataKeyCache;
  private readonly legacyDerivationAudits = new AuditRateLimit(LEGACY_DERIVATION_AUDITS_PER_MINUTE, 60_000);

  constructor(options: KeyManagerOptions) {
    this.store = options.store;
    this.clock = options.clock ?? (() => new Date());
    this.random = options.random ?? new PooledRandom();
    this.audit = options.audit ?? noopAudit;
    this.metrics = options.metrics ?? noopMetrics;
    this.actor = options.actor ?? osUser();
    this.ttlMs = nonNegative(options.keysetTtlMs ?? DEFAULT_KEYSET_TTL_MS, 'keysetTtlMs');
    this.maxStaleMs = nonNegative(options.maxStaleMs ?? 3_600_000, 'maxStaleMs');
    this.keys = new DataKeyCache(Math.max(1, nonNegative(options.maxCachedKeys ?? DEFAULT_MAX_CACHED_KEYS, 'maxCachedKeys')));
    this.unknownVersionRefetchMs = nonNegative(options.unknownVersionRefetchMs ?? 1_000, 'unknownVersionRefetchMs');
    this.auditDataOperations = options.auditDataOperations ?? false;
    this.rotationPeriodDays = options.rotationPeriodDays ?? DEFAULT_ROTATION_PERIOD_DAYS;
    this.rotationLog = options.rotationLog;
  }

  // ---------------------------------------------------------------- data path

  /** The data key for `context` under `version` (default: the primary). */
  async deriveDataKey(context: string, version?: number): Promise<DataKey> {
    try {
      validateContext(context);
      const keyset = version === undefined ? await this.currentKeyset() : await this.keysetWith(version, 'key');
      const n = version ?? keyset.primary;
      const v = this.usableVersion(keyset, n, context);
      const cached = this.keys.cached(v, context);
      const key = cached !== undefined ? Buffer.from(cached) : await this.deriveMissing(v, context);
      return { key, version: n, fingerprint: keyFingerprint(key) };
    } catch (err) {
      await this.recordQuietly('derive_key', 'failure', { version, context: auditableContext(context), code: errorCode(err) });
      throw err;
    }
  }

  /** Encrypts under the primary version; returns the JSON record form. */
  async encrypt(plaintext: Buffer | string, context: string): Promise<EnvelopeRecord> {
    const { version, payload } = await this.seal(plaintext, context);
    return toRecord(version, context, payload);
  }

  /** Encrypts under the primary version; returns the compact one-line form `AP2:<v>:<context>:<data>`. */
  async encryptCompact(plaintext: Buffer | string, context: string): Promise<string> {
    const { version, payload } = await this.seal(plaintext, context);
    return toCompact(version, context, payload);
  }

  /** Decrypts any supported envelope (record, record JSON, compact, legacy record) to its plaintext. */
  async decrypt(envelope: string | Buffer | EnvelopeRecord): Promise<Buffer> {
    return (await this.decryptDetailed(envelope)).plaintext;
  }

  async decryptDetailed(envelope: string | Buffer | EnvelopeRecord): Promise<DecryptResult> {
    let parsed: ParsedEnvelope | undefined;
    try {
      parsed = parseEnvelope(envelope);
      const keyset = await this.keysetWith(parsed.version, 'data');
      assertFormatFitsVersion(parsed, findVersion(keyset, parsed.version)?.kdf);
      const v = this.usableVersion(keyset, parsed.version, parsed.context);
      // A cached key is used in the turn it is looked up in (see DataKeyCache); a derived one is our own copy.
      let key = this.keys.cached(v, parsed.context);
      let own: Buffer | undefined;
      if (key === undefined) key = own = await this.deriveMissing(v, parsed.context);
      let plaintext: Buffer;
      try {
        plaintext = openGcm(key, parsed.payload, parsed.kind === 'ap2' ? aad(parsed.version, parsed.context) : undefined);
      } finally {
        own?.fill(0);
      }
      if (this.auditDataOperations) await this.record('decrypt', 'success', { version: parsed.version, context: parsed.context });
      return { plaintext, version: parsed.version, context: parsed.context, kind: parsed.kind };
    } catch (err) {
      this.metrics.count('DecryptionFailures');
      if (errorCode(err) === 'UNKNOWN_VERSION') this.metrics.count('KeyVersionMismatch');
      await this.recordQuietly('decrypt', 'failure', { version: parsed?.version, context: parsed?.context, code: errorCode(err) });
      throw err;
    }
  }

  private async seal(plaintext: Buffer | string, context: string): Promise<{ version: number; payload: Buffer }> {
    let version: number | undefined;
    let payload: Buffer;
    try {
      validateContext(context);
      const data = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext;
      const keyset = await this.currentKeyset();
      const primary = keyset.primary;
      version = primary;
      const v = this.usableVersion(keyset, primary, context);
      // A cached key is used in the turn it is looked up in (see DataKeyCache); a derived one is our own copy.
      let key = this.keys.cached(v, context);
      let own: Buffer | undefined;
      if (key === undefined) key = own = await this.deriveMissing(v, context);
      try {
        payload = sealGcm(key, this.random.bytes(IV_BYTES), data, aad(primary, context));
      } finally {
        own?.fill(0);
      }
    } catch (err) {
      await this.recordQuietly('encrypt', 'failure', { version, context: auditableContext(context), code: errorCode(err) });
      throw err;
    }
    if (this.auditDataOperations) await this.record('encrypt', 'success', { version, context });
    return { version, payload };
  }

  /** The version a data key may be used under (not disabled, not destroyed); counts the use in KeyDerivations. */
  private usableVersion(keyset: Keyset, version: number, context: string): KeyVersion {
    const v = requireMaterial(keyset, version);
    if (v.state === 'disabled') {
      throw new KeyManagementError('VERSION_DISABLED', `version ${version} is disabled${v.reason ? ` (${v.reason})` : ''}: no key under it is derived and no data under it decrypts`);
    }
    this.metrics.count('KeyDerivations', 1, { KeyVersion: String(version), Context: context });
    // The undimensioned total feeds the unusual-access anomaly alarm, which needs one plain metric.
    this.metrics.count('KeyDerivations');
    return v;
  }

  /**
   * A cache miss: derives (legacy PBKDF2 off the event loop) and audits the derivation, legacy ones
   * rate-limited. Returns the caller's own copy of the key, to zero when done.
   */
  private async deriveMissing(v: KeyVersion, context: string): Promise<Buffer> {
    const { key, derived } = await this.keys.derive(v, context);
    if (!derived) return key;
    const admitted = v.kdf === 'legacy-pbkdf2' ? this.legacyDerivationAudits.admit(this.clock().getTime()) : 'record';
    if (admitted === 'record') await this.recordQuietly('derive_key', 'success', { version: v.version, context });
    if (admitted === 'summarize') {
      const until = new Date(this.legacyDerivationAudits.windowEndMs).toISOString();
      await this.recordQuietly('audit_rate_limited', 'skipped', {
        detail: `over ${LEGACY_DERIVATION_AUDITS_PER_MINUTE} legacy key derivations in a minute; until ${until} the rest count in KeyDerivations but are not audited one by one (many new contexts on legacy records can be forged input)`,
      });
    }
    return key;
  }

  // ---------------------------------------------------------------- keyset cache

  /** The keyset, from cache while fresh. */
  private async currentKeyset(): Promise<Keyset> {
    const cached = this.cached;
    const age = cached ? this.clock().getTime() - cached.fetchedAt : Number.POSITIVE_INFINITY;
    if (cached && age < this.ttlMs) {
      // Refresh ahead in the last fifth of the TTL, in the background: a service with steady traffic never
      // waits on the store, and a failed refresh only counts a KeyRetrievalFailures (the next call retries).
      if (age >= this.ttlMs * REFRESH_AHEAD_FRACTION && !this.inflight) this.refresh().catch(() => undefined);
      return cached.snapshot.keyset;
    }
    try {
      return (await this.refresh()).keyset;
    } catch (err) {
      if (cached && this.maxStaleMs > 0 && this.clock().getTime() - cached.fetchedAt < this.ttlMs + this.maxStaleMs && isTransient(err)) {
        return cached.snapshot.keyset;
      }
      throw err;
    }
  }

  /** A keyset that holds `version`, refetching once if the version is newer than any cached. */
  private async keysetWith(version: number, wanted: 'data' | 'key'): Promise<Keyset> {
    let keyset = await this.currentKeyset();
    if (findVersion(keyset, version) || isPruned(keyset, version)) return keyset;
    if (version > latestVersion(keyset)) {
      if (this.inflight) {
        keyset = (await this.inflight).keyset;
      } else if (this.clock().getTime() - this.lastUnknownRefetch >= this.unknownVersionRefetchMs) {
        this.lastUnknownRefetch = this.clock().getTime();
        keyset = (await this.refresh()).keyset;
      }
    }
    if (!findVersion(keyset, version) && !isPruned(keyset, version)) throw unknownVersion(version, keyset, wanted);
    return keyset;
  }

  /**
   * Reads the store; concurrent callers share one read. Stores validate without a clock, so the timestamps
   * are checked against ours here: a version stamped in the future would never be due for rotation.
   */
  private refresh(): Promise<KeysetSnapshot> {
    if (!this.inflight) {
      this.inflight = this.store
        .read()
        .then((snapshot) => {
          assertNotAhead(snapshot.keyset, this.clock());
          this.adopt(snapshot);
          return snapshot;
        })
        .catch((err: unknown) => {
          this.metrics.count('KeyRetrievalFailures');
          throw err;
        })
        .finally(() => {
          this.inflight = undefined;
        });
    }
    return this.inflight;
  }

  private adopt(snapshot: KeysetSnapshot): void {
    this.cached = { snapshot, fetchedAt: this.clock().getTime() };
    // Keys of versions that are no longer usable, or whose material was replaced (recover --force), are
    // dropped and zeroed at once.
    this.keys.retain((version, material) => {
      const v = findVersion(snapshot.keyset, version);
      return v?.state === 'enabled' && v.material === material;
    });
  }

  /** Drops the cached keyset and zeroes every cached data key. */
  clearCache(): void {
    this.cached = undefined;
    this.keys.clear();
  }

  // ---------------------------------------------------------------- key management

  /** Creates the first keyset (version 1). Refuses with KEYSET_EXISTS if the store already has one. */
  async init(): Promise<Keyset> {
    return this.audited('init', async () => {
      const keyset = createKeyset({ material: freshMaterial(this.random), now: this.nowIso() });
      const snapshot = await this.store.write(keyset, null);
      this.adopt(snapshot);
      return { result: keyset, version: 1 };
    });
  }

  /**
   * Adds a version with fresh material and makes it primary (`emergency` also disables the old primary), through the
   * one rotator (`lambda/rotation/rotator.ts`): on a store whose backend rotates the keyset itself (Secrets Manager)
   * the rotation is requested and waited for; elsewhere the candidate passes the canaries and is written with
   * compare-and-set, then recorded (rotation log when one is given, metrics, audit).
   */
  async rotate(options: RotateOptions = {}): Promise<RotateResult> {
    // Loaded on first use: a service that only encrypts and decrypts never loads the rotator and its canaries.
    const { rotate } = await import('./rotation/rotator');
    const { result, snapshot } = await rotate(
      {
        store: this.store,
        clock: this.clock,
        random: this.random,
        audit: this.audit,
        metrics: this.metrics,
        actor: this.actor,
        rotationPeriodDays: this.rotationPeriodDays,
        ...(this.rotationLog ? { rotationLog: this.rotationLog } : {}),
      },
      options,
    );
    this.adopt(snapshot);
    return result;
  }

  async disableVersion(version: number, reason: string): Promise<void> {
    await this.transition('disable_version', (ks) => disableVersion(ks, version, { now: this.nowIso(), reason }), { version, detail: reason });
  }

  async enableVersion(version: number): Promise<void> {
    await this.transition('enable_version', (ks) => enableVersion(ks, version), { version });
  }

  /**
   * Removes a disabled version's material for good and zeroes any cached key derived from it. Returns the
   * store's warnings: work it could not finish that still holds the material somewhere (empty when none).
   * `reason` goes into the audit trail; only a destruction that landed is recorded as "material destroyed".
   */
  async destroyVersion(version: number, reason?: string): Promise<readonly string[]> {
    const change = (ks: Keyset) => destroyVersion(ks, version, { now: this.nowIso() });
    return (await this.transition('destroy_version', change, { version, detail: reason }, reason === undefined ? 'material destroyed' : `material destroyed: ${reason}`)).warnings;
  }

  /**
   * Reads the keyset fresh (never from cache), applies `change`, checks that no version was lost or
   * altered, and writes it back with compare-and-set. Audited as `action`; throws CONFLICT if another
   * writer got there first. The building block for every keyset change. `auditFields` are recorded whatever
   * the outcome; `doneDetail`, when given, replaces their detail once the change was written.
   */
  async transition(
    action: string,
    change: (keyset: Keyset) => Keyset,
    auditFields: { version?: number; detail?: string } = {},
    doneDetail?: string,
  ): Promise<{ before: Keyset; after: Keyset; warnings: readonly string[] }> {
    return this.audited(action, async () => {
      const snapshot = await this.readFresh();
      const after = change(snapshot.keyset);
      assertPreserves(snapshot.keyset, after);
      const written = await this.store.write(after, snapshot.handle);
      this.adopt(written);
      const warnings = written.warnings ?? [];
      const detail = [doneDetail ?? auditFields.detail, ...warnings.map((w) => `warning: ${w}`)].filter(Boolean).join('; ') || undefined;
      return { result: { before: snapshot.keyset, after, warnings }, version: auditFields.version ?? after.primary, detail };
    }, auditFields);
  }

  /**
   * Reads the store now, bypassing the cached keyset (a read already in flight is shared), and caches what it
   * read. Writers still compare-and-set, so a read shared with one that started earlier cannot lose a write.
   */
  async readFresh(): Promise<KeysetSnapshot> {
    return this.refresh();
  }

  // ---------------------------------------------------------------- status and health

  /** The keyset's state, read fresh from the store; audited (quietly, as a read) as `status`. */
  async status(): Promise<KeysetStatus> {
    let status: KeysetStatus;
    try {
      const { keyset } = await this.readFresh();
      status = this.statusOf(keyset, await this.store.managedRotation?.status(this.clock()));
    } catch (err) {
      await this.recordQuietly('status', 'failure', { code: errorCode(err) });
      throw err;
    }
    await this.recordQuietly('status', 'success', { version: status.primary });
    return status;
  }

  private statusOf(keyset: Keyset, rotation?: ManagedRotationStatus): KeysetStatus {
    const now = this.clock();
    const primary = primaryVersion(keyset);
    const primaryAge = ageDays(primary.createdAt, now);
    return {
      store: this.store.kind,
      location: this.store.location,
      primary: keyset.primary,
      primaryAgeDays: primaryAge,
      rotationPeriodDays: this.rotationPeriodDays,
      daysUntilRotationDue: this.rotationPeriodDays - primaryAge,
      rotationOverdue: this.store.writable && primaryAge > this.rotationPeriodDays,
      readOnly: !this.store.writable,
      enabledVersions: keyset.versions.filter((v) => v.state === 'enabled').length,
      prunedVersions: (keyset.pruned ?? []).map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)),
      versions: keyset.versions.map((v) => ({
        version: v.version,
        state: v.state,
        kdf: v.kdf,
        primary: v.version === keyset.primary,
        createdAt: v.createdAt,
        ageDays: ageDays(v.createdAt, now),
        ...(v.disabledAt ? { disabledAt: v.disabledAt } : {}),
        ...(v.destroyedAt ? { destroyedAt: v.destroyedAt } : {}),
        ...(v.reason ? { reason: v.reason } : {}),
      })),
      capacity: keysetCapacity(keyset),
      ...(rotation ? { rotation } : {}),
    };
  }

  /** The seed's health check: keyset readable, a key derives, an encrypt/decrypt round trip works. */
  async health(context = 'health_check'): Promise<HealthReport> {
    const checks: HealthCheck[] = [];
    const step = async (name: string, run: () => Promise<string>): Promise<boolean> => {
      try {
        checks.push({ name, ok: true, detail: await run() });
        return true;
      } catch (err) {
        checks.push({ name, ok: false, detail: err instanceof KeyManagementError ? err.message : 'unexpected error', code: errorCode(err) });
        return false;
      }
    };
    const readable = await step('keyset readable', async () => {
      const { keyset } = await this.readFresh();
      return `${this.store.kind} store, ${keyset.versions.length} version(s), primary ${keyset.primary}`;
    });
    if (readable) {
      await step('rotation not overdue', async () => {
        // The advice for an overdue key is to rotate, which a read-only store refuses: say what applies instead.
        if (!this.store.writable) return `not applicable: the ${this.store.kind} store is read-only, so its keys are rotated where they are managed, not here`;
        const s = this.statusOf((await this.readFresh()).keyset);
        if (s.rotationOverdue) throw new KeyManagementError('ROTATION_FAILED', `primary version ${s.primary} is ${s.primaryAgeDays} days old, past the ${s.rotationPeriodDays}-day period; run 'key-manager rotate'`);
        return `primary is ${s.primaryAgeDays} days old, rotation due in ${s.daysUntilRotationDue} days`;
      });
      const derived = await step('can derive keys', async () => {
        const key = await this.deriveDataKey(context);
        key.key.fill(0);
        return `version ${key.version}, fingerprint ${key.fingerprint}`;
      });
      if (derived) {
        await step('encrypt/decrypt round trip', async () => {
          const probe = this.random.bytes(16);
          const back = await this.decrypt(await this.encrypt(probe, context));
          if (!back.equals(probe)) throw new KeyManagementError('DECRYPT_FAILED', 'the round trip returned different bytes');
          return 'ok';
        });
      }
    }
    const ok = checks.every((c) => c.ok);
    await this.recordQuietly('health', ok ? 'success' : 'failure', { detail: checks.filter((c) => !c.ok).map((c) => c.name).join(', ') || undefined });
    return { ok, checks };
  }

  // ---------------------------------------------------------------- helpers

  private nowIso(): string {
    return this.clock().toISOString();
  }

  private async audited<T>(
    action: string,
    run: () => Promise<{ result: T; version?: number; detail?: string }>,
    fields: { version?: number; detail?: string } = {},
  ): Promise<T> {
    let done: { result: T; version?: number; detail?: string };
    try {
      done = await run();
    } catch (err) {
      await this.recordQuietly(action, 'failure', { version: fields.version, detail: fields.detail, code: errorCode(err) });
      throw err;
    }
    await this.record(action, 'success', { version: done.version, detail: done.detail });
    return done.result;
  }

  /** Writes an audit event; a failing sink fails the operation (management operations must be audited). */
  async record(action: string, outcome: AuditOutcome, fields: AuditFields = {}): Promise<void> {
    await this.audit.write(auditEvent({ time: this.nowIso(), action, actor: this.actor, store: this.store.kind, secret: this.store.location, outcome }, fields));
  }

  /** Audit on the data path: a failing sink must not fail an encrypt or decrypt. */
  private async recordQuietly(action: string, outcome: AuditOutcome, fields: AuditFields): Promise<void> {
    try {
      await this.record(action, outcome, fields);
    } catch {
      /* the failure is visible in the sink's own errors; the data path goes on */
    }
  }
}

/** A context for an audit event: only a valid name, never arbitrary caller text. */
function auditableContext(context: string): string | undefined {
  try {
    return validateContext(context);
  } catch {
    return undefined;
  }
}

/** `wanted`: a ciphertext named the version (`data`), or a caller asked for a key under it (`key`). */
function unknownVersion(version: number, keyset: Keyset, wanted: 'data' | 'key'): KeyManagementError {
  const why = wanted === 'data' ? '; the data was encrypted under another keyset or its version number was altered' : '';
  return new KeyManagementError('UNKNOWN_VERSION', `version ${version} is not in the keyset (latest is ${latestVersion(keyset)})${why}`);
}

function isTransient(err: unknown): boolean {
  const code = errorCode(err);
  return code === 'STORE_UNAVAILABLE' || code === 'THROTTLED' || code === 'STORE_BUSY' || code === 'INTERNAL';
}

function nonNegative(value: number, name: string): number {
  if (!Number.isFinite(value) || value < 0) throw new KeyManagementError('INVALID_INPUT', `${name} must be a non-negative number, got ${value}`);
  return value;
}

function osUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return `uid:${process.getuid?.() ?? 'unknown'}`;
  }
}
