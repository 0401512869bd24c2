/**
 * The key manager: the one object services use to derive data keys, encrypt and decrypt, and that operators use
 * (through the CLI) to rotate and retire versions. A facade over its parts, each with one job:
 *
 * - the keyset source (`keys/keyset-source.ts`): a caching decorator around the store (TTL, refresh ahead, serve
 *   stale, single flight, rate-limited refetch of unknown versions);
 * - the data path (`data-path.ts`): derive, encrypt, decrypt, over a bounded cache of derived keys;
 * - the administration path (`administration.ts`): every keyset write, through one guard;
 * - status and health (`keyset-status.ts`);
 * - the auditor (`telemetry/auditor.ts`), shared by all of them and by the CLI's own commands.
 *
 * Side effects are injected (store, clock, random source, audit sink, metrics sink).
 */
import * as os from 'node:os';
import { KeysetAdministration } from './administration';
import { DataPath, type DataKey, type DecryptResult } from './data-path';
import { binaryHeader, parseBinaryEnvelope } from './keys/binary-envelope';
import { type EnvelopeRecord, type ParsedEnvelope, readEnvelope, toCompact, toRecord } from './keys/envelope';
import { errorCode } from './keys/errors';
import type { Keyset } from './keys/keyset';
import { CachingKeysetSource, DEFAULT_KEYSET_TTL_MS, nonNegative } from './keys/keyset-source';
import { PooledRandom, type RandomSource } from './keys/random';
import { checkHealth, type HealthReport, keysetStatus, type KeysetStatus } from './keyset-status';
import type { RotationLogStore } from './rotation/rotation-log-store';
import type { RotateOptions, RotateResult } from './rotation/rotator';
import type { KeysetSnapshot, KeysetStore } from './stores/store';
import { type AuditSink, noopAudit } from './telemetry/audit';
import { Auditor } from './telemetry/auditor';
import { type MetricsSink, noopMetrics } from './telemetry/metrics';

export type { RotateOptions, RotateResult } from './rotation/rotator';
export type { DataKey, DecryptResult } from './data-path';
export { LEGACY_DERIVATION_AUDITS_PER_MINUTE } from './data-path';
export type { HealthCheck, HealthReport, KeysetStatus, VersionStatus } from './keyset-status';
export { DEFAULT_KEYSET_TTL_MS } from './keys/keyset-source';

export const DEFAULT_MAX_CACHED_KEYS = 1_024;
export const DEFAULT_ROTATION_PERIOD_DAYS = 90;

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

export class KeyManager {
  readonly store: KeysetStore;
  /** Writes every audit event of this key manager; the CLI's composite commands (export, recover, ...) audit through it too. */
  readonly auditor: Auditor;
  private readonly clock: () => Date;
  private readonly random: RandomSource;
  private readonly rotationPeriodDays: number;
  private readonly source: CachingKeysetSource;
  private readonly data: DataPath;
  private readonly admin: KeysetAdministration;

  constructor(options: KeyManagerOptions) {
    this.store = options.store;
    this.clock = options.clock ?? (() => new Date());
    this.random = options.random ?? new PooledRandom();
    const metrics = options.metrics ?? noopMetrics;
    const audit = options.audit ?? noopAudit;
    const actor = options.actor ?? osUser();
    this.rotationPeriodDays = options.rotationPeriodDays ?? DEFAULT_ROTATION_PERIOD_DAYS;
    this.auditor = new Auditor({ sink: audit, clock: this.clock, actor, store: this.store });
    this.source = new CachingKeysetSource(this.store, {
      clock: this.clock,
      ...(options.clock ? {} : { nowMs: Date.now }),
      metrics,
      ttlMs: options.keysetTtlMs ?? DEFAULT_KEYSET_TTL_MS,
      ...(options.maxStaleMs !== undefined ? { maxStaleMs: options.maxStaleMs } : {}),
      ...(options.unknownVersionRefetchMs !== undefined ? { unknownVersionRefetchMs: options.unknownVersionRefetchMs } : {}),
    });
    this.data = new DataPath({
      source: this.source,
      clock: this.clock,
      random: this.random,
      auditor: this.auditor,
      metrics,
      maxCachedKeys: nonNegative(options.maxCachedKeys ?? DEFAULT_MAX_CACHED_KEYS, 'maxCachedKeys'),
      auditDataOperations: options.auditDataOperations ?? false,
    });
    this.admin = new KeysetAdministration({
      source: this.source,
      auditor: this.auditor,
      clock: this.clock,
      random: this.random,
      audit,
      metrics,
      actor,
      rotationPeriodDays: this.rotationPeriodDays,
      ...(options.rotationLog ? { rotationLog: options.rotationLog } : {}),
    });
  }

  // ---------------------------------------------------------------- data path

  /** The data key for `context` under `version` (default: the primary). */
  deriveDataKey(context: string, version?: number): Promise<DataKey> {
    return this.data.deriveDataKey(context, version);
  }

  /** Encrypts under the primary version; returns the JSON record form. */
  encrypt(plaintext: Buffer | string, context: string): Promise<EnvelopeRecord> {
    return this.data.seal(plaintext, context, toRecord, TEXT_LAYOUT);
  }

  /** Encrypts under the primary version; returns the compact one-line form `AP2:<v>:<context>:<data>`. */
  encryptCompact(plaintext: Buffer | string, context: string): Promise<string> {
    return this.data.seal(plaintext, context, toCompact, TEXT_LAYOUT);
  }

  /**
   * Encrypts under the primary version; returns the binary form, for callers that store bytes (a BLOB or BYTEA
   * column, an object, a message body): the same authenticated AP2 envelope as `encrypt` writes (AES-256-GCM, the
   * version and context bound as AAD), behind a compact header instead of JSON and base64. Read it with
   * `decryptBinary`. The layout: docs/envelopes.md.
   */
  encryptBinary(plaintext: Buffer | string, context: string): Promise<Buffer> {
    return this.data.seal(plaintext, context, payloadAsIs, BINARY_LAYOUT);
  }

  /** Decrypts any supported text envelope (record, record JSON, compact, legacy record) to its plaintext. */
  decrypt(envelope: string | Buffer | EnvelopeRecord): Promise<Buffer> {
    return this.data.open(envelope, readEnvelope, plaintextOnly);
  }

  decryptDetailed(envelope: string | Buffer | EnvelopeRecord): Promise<DecryptResult> {
    return this.data.open(envelope, readEnvelope, detailed);
  }

  /**
   * Decrypts a binary envelope (`encryptBinary`'s) to its plaintext. `envelope` is read in place, not copied: keep it
   * unchanged until this resolves. Anything else, a text envelope included, is INVALID_ENVELOPE.
   */
  decryptBinary(envelope: Uint8Array): Promise<Buffer> {
    return this.data.open(envelope, parseBinaryEnvelope, plaintextOnly);
  }

  /** `decryptBinary`, with the version and context the envelope was made under. */
  decryptBinaryDetailed(envelope: Uint8Array): Promise<DecryptResult> {
    return this.data.open(envelope, parseBinaryEnvelope, detailed);
  }

  /** Drops the cached keyset and zeroes every cached data key. */
  clearCache(): void {
    this.source.clear();
    this.data.clear();
  }

  /**
   * Reads the store now, bypassing the cached keyset (a read already in flight is shared), and caches what it read.
   * Holds key material: for export, re-encryption and checks, never for printing.
   */
  readFresh(): Promise<KeysetSnapshot> {
    return this.source.fresh();
  }

  // ---------------------------------------------------------------- administration

  /** Creates the first keyset (version 1). Refuses with KEYSET_EXISTS if the store already has one. */
  init(): Promise<Keyset> {
    return this.admin.init();
  }

  /**
   * Adds a version with fresh material and makes it primary (`emergency` also disables the old primary). On Secrets
   * Manager the rotation is requested from it and waited for; elsewhere it is proved and written in-process.
   */
  rotate(options: RotateOptions = {}): Promise<RotateResult> {
    return this.admin.rotate(options);
  }

  disableVersion(version: number, reason: string): Promise<void> {
    return this.admin.disableVersion(version, reason);
  }

  enableVersion(version: number): Promise<void> {
    return this.admin.enableVersion(version);
  }

  /**
   * Removes a disabled version's material for good and zeroes any cached key derived from it. Returns the
   * store's warnings: work it could not finish that still holds the material somewhere (empty when none).
   */
  destroyVersion(version: number, reason?: string): Promise<readonly string[]> {
    return this.admin.destroyVersion(version, reason);
  }

  /**
   * Writes a verified backup's keyset over the store's (`current` as read, none when empty, or `unreadableHandle`
   * for a keyset kept aside as unreadable). Refuses, writing nothing, when versions would be lost, replaced,
   * resurrected or re-enabled, unless `force`. The caller audits the recovery through `auditor`.
   */
  recover(keyset: Keyset, options: { readonly current?: KeysetSnapshot; readonly unreadableHandle?: string; readonly force: boolean }): Promise<void> {
    return this.admin.recover(keyset, options);
  }

  /** Writes an imported keyset into an empty store (KEYSET_EXISTS otherwise). The caller audits the import through `auditor`. */
  importKeyset(keyset: Keyset): Promise<void> {
    return this.admin.importKeyset(keyset);
  }

  // ---------------------------------------------------------------- status and health

  /** The keyset's state, read fresh from the store; audited (quietly, as a read) as `status`. */
  async status(): Promise<KeysetStatus> {
    let status: KeysetStatus;
    try {
      const { keyset } = await this.readFresh();
      status = keysetStatus(keyset, this.store, this.clock(), this.rotationPeriodDays, await this.store.managedRotation?.status(this.clock()));
    } catch (err) {
      await this.auditor.quietly('status', 'failure', { code: errorCode(err) });
      throw err;
    }
    await this.auditor.quietly('status', 'success', { version: status.primary });
    return status;
  }

  /** The seed's health check: keyset readable, a key derives, an encrypt/decrypt round trip works. */
  async health(context = 'health_check'): Promise<HealthReport> {
    const report = await checkHealth({
      store: this.store,
      readKeyset: async () => (await this.readFresh()).keyset,
      status: (keyset) => keysetStatus(keyset, this.store, this.clock(), this.rotationPeriodDays),
      derive: async () => {
        const key = await this.deriveDataKey(context);
        key.key.fill(0);
        return key;
      },
      roundTrip: async () => {
        const probe = this.random.bytes(16);
        return (await this.decrypt(await this.encrypt(probe, context))).equals(probe);
      },
    });
    await this.auditor.quietly('health', report.ok ? 'success' : 'failure', { detail: report.checks.filter((c) => !c.ok).map((c) => c.name).join(', ') || undefined });
    return report;
  }
}

/** The text forms encode the payload at once, so it is sealed into a reused buffer. */
const TEXT_LAYOUT = { transient: true } as const;
/** The binary envelope is the caller's to keep: its own buffer, the header first. */
const BINARY_LAYOUT = { header: binaryHeader } as const;

/** The binary form's payload already follows its header (`sealGcm` writes both into one buffer). */
function payloadAsIs(_version: number, _context: string, payload: Buffer): Buffer {
  return payload;
}

function plaintextOnly(plaintext: Buffer): Buffer {
  return plaintext;
}

function detailed(plaintext: Buffer, p: ParsedEnvelope): DecryptResult {
  return { plaintext, version: p.version, context: p.context, kind: p.kind };
}

function osUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return `uid:${process.getuid?.() ?? 'unknown'}`;
  }
}
