/**
 * The data path: derive a data key, encrypt, decrypt. Keys come from the keyset source (cached, see
 * keys/keyset-source.ts) and are derived once per (version, context) into a bounded LRU (keys/data-key-cache.ts), so a
 * warm call does no I/O. Every use of a version counts in KeyDerivations; failures count and are audited quietly (a
 * failing audit sink never fails a data operation).
 *
 * A warm call awaits nothing: the fresh keyset is read synchronously (`peek`), the cached key comes with its AAD,
 * and KeyDerivations is counted through counters bound once per (version, context) and kept beside the key, so the
 * work besides the cipher is a parse, two map lookups and a few comparisons. Text envelopes are decoded into, and
 * sealed into, reused buffers (`readEnvelope`, `sealGcm(…, transient)`): such a payload is used in the turn it is
 * made, so the cold paths work on a copy (open) or spell the envelope in the turn they seal it (seal).
 *
 * The envelope's spelling is the caller's: `seal` takes a `format` and `open` a `parse`, which the key manager passes
 * (record, compact, binary). The data path imports none of them, so the rotation Lambda, whose canary runs here, does
 * not carry the envelope parsers in its bundle.
 */
import { validateContext } from './keys/context';
import { type CachedKey, DataKeyCache, requireMaterial } from './keys/data-key-cache';
import { keyFingerprint } from './keys/derive';
import { aad, assertFormatFitsVersion, IV_BYTES, openGcm, type ParsedEnvelope, sealGcm } from './keys/envelope';
import { errorCode, KeyManagementError } from './keys/errors';
import { findVersion, type Keyset, type KeyVersion } from './keys/keyset';
import type { CachingKeysetSource } from './keys/keyset-source';
import type { RandomSource } from './keys/random';
import { AuditRateLimit } from './telemetry/audit';
import type { Auditor } from './telemetry/auditor';
import { type BoundCounter, boundCounter, type MetricsSink } from './telemetry/metrics';

/**
 * Legacy derivations audited one by one per minute; past that, one summary and then only the metric. Any context named
 * on a legacy record is derived for before the record can be authenticated.
 */
export const LEGACY_DERIVATION_AUDITS_PER_MINUTE = 20;

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

export interface DataPathOptions {
  readonly source: CachingKeysetSource;
  readonly clock: () => Date;
  readonly random: RandomSource;
  readonly auditor: Auditor;
  readonly metrics: MetricsSink;
  /** Derived keys kept (LRU); evicted keys are zeroed. */
  readonly maxCachedKeys: number;
  /** Audit every encrypt and decrypt, not only derivations and failures. */
  readonly auditDataOperations: boolean;
}

/** Spells a sealed payload as an envelope (record, compact, binary). */
export type EnvelopeFormat<T> = (version: number, context: string, payload: Buffer) => T;
/** How `seal` lays out what `format` spells. */
export interface SealLayout {
  /** Bytes written before the payload in the same buffer (the binary form's header). */
  readonly header?: (version: number, context: string) => Buffer;
  /** `format` only encodes the payload (the text forms): it may be a buffer the next seal reuses (see `sealGcm`). */
  readonly transient?: boolean;
}

export class DataPath {
  private readonly keys: DataKeyCache<BoundCounter>;
  /** KeyDerivations without dimensions: the total the unusual-access anomaly alarm watches. */
  private readonly derivations: BoundCounter;
  private readonly legacyDerivationAudits = new AuditRateLimit(LEGACY_DERIVATION_AUDITS_PER_MINUTE, 60_000);

  constructor(private readonly options: DataPathOptions) {
    this.keys = new DataKeyCache(Math.max(1, options.maxCachedKeys));
    this.derivations = boundCounter(options.metrics, 'KeyDerivations');
    // Keys of versions that are no longer usable, or whose material was replaced (recover --force), are dropped and
    // zeroed as soon as a keyset without them is adopted.
    options.source.onAdopt((keyset) => this.keys.retain((version, material) => {
      const v = findVersion(keyset, version);
      return v?.state === 'enabled' && v.material === material;
    }));
  }

  /** The data key for `context` under `version` (default: the primary). */
  async deriveDataKey(context: string, version?: number): Promise<DataKey> {
    try {
      validateContext(context);
      const keyset = version === undefined ? await this.options.source.current() : await this.options.source.containing(version, 'key');
      const n = version ?? keyset.primary;
      const v = this.usableVersion(keyset, n);
      const cached = this.counted(v, context);
      const key = cached !== undefined ? Buffer.from(cached.key) : await this.deriveMissing(v, context);
      return { key, version: n, fingerprint: keyFingerprint(key) };
    } catch (err) {
      await this.options.auditor.quietly('derive_key', 'failure', { version, context: auditableContext(context), code: errorCode(err) });
      throw err;
    }
  }

  /**
   * Encrypts under the primary version and spells the payload with `format`, laid out as `layout` says. A warm call
   * (fresh keyset, cached key, no per-operation audit) runs synchronously and returns a settled promise; anything else
   * takes `sealCold`.
   */
  seal<T>(plaintext: Buffer | string, context: string, format: EnvelopeFormat<T>, layout: SealLayout = {}): Promise<T> {
    let version: number | undefined;
    try {
      validateContext(context);
      const keyset = this.options.auditDataOperations ? undefined : this.options.source.peek();
      if (keyset) {
        const primary = (version = keyset.primary);
        const hit = this.hit(this.usableVersion(keyset, primary), context);
        if (hit) return Promise.resolve(format(primary, context, sealGcm(hit.key, this.options.random.bytes(IV_BYTES), bytesOf(plaintext), hit.aad, layout.header?.(primary, context), layout.transient)));
      }
    } catch (err) {
      return this.failed('encrypt', err, version, context);
    }
    return this.sealCold(plaintext, context, format, layout);
  }

  /**
   * Decrypts `input` as `parse` reads it; `shape` makes the result from the plaintext and the parsed envelope. A warm
   * call runs synchronously, as `seal`'s does; anything else takes `openCold`.
   */
  open<I, T>(input: I, parse: (input: I) => ParsedEnvelope, shape: (plaintext: Buffer, parsed: ParsedEnvelope) => T): Promise<T> {
    let p: ParsedEnvelope | undefined;
    try {
      p = parse(input);
      const keyset = this.options.auditDataOperations ? undefined : this.options.source.peek(p.version);
      const hit = keyset && this.hit(this.openableVersion(keyset, p), p.context);
      if (hit) return Promise.resolve(shape(openGcm(hit.key, p.payload, p.kind === 'ap2' ? hit.aad : undefined), p));
    } catch (err) {
      return this.failed('decrypt', err, p?.version, p?.context);
    }
    // The payload may be borrowed (see readEnvelope) or the caller's: the cold path awaits, so it works on a copy.
    return this.openCold({ ...p, payload: Buffer.from(p.payload) }, shape);
  }

  /** Zeroes every cached data key. */
  clear(): void {
    this.keys.clear();
  }

  private async sealCold<T>(plaintext: Buffer | string, context: string, format: EnvelopeFormat<T>, layout: SealLayout): Promise<T> {
    let version: number | undefined;
    let envelope: T;
    try {
      const data = bytesOf(plaintext);
      const keyset = await this.options.source.current();
      const primary = (version = keyset.primary);
      const v = this.usableVersion(keyset, primary);
      const iv = this.options.random.bytes(IV_BYTES);
      const head = layout.header?.(primary, context);
      // Spelled in the turn it is sealed in: a transient payload is overwritten by the next seal, which may be another
      // caller's running between two awaits.
      const spell = (key: Buffer, additionalData: Buffer) => format(primary, context, sealGcm(key, iv, data, additionalData, head, layout.transient));
      const cached = this.counted(v, context);
      envelope = cached ? spell(cached.key, cached.aad) : await this.withDerived(v, context, (key) => spell(key, aad(primary, context)));
    } catch (err) {
      return this.failed('encrypt', err, version, context);
    }
    if (this.options.auditDataOperations) await this.options.auditor.record('encrypt', 'success', { version, context });
    return envelope;
  }

  private async openCold<T>(p: ParsedEnvelope, shape: (plaintext: Buffer, parsed: ParsedEnvelope) => T): Promise<T> {
    try {
      const keyset = await this.options.source.containing(p.version, 'data');
      const v = this.openableVersion(keyset, p);
      const ap2 = p.kind === 'ap2';
      const cached = this.counted(v, p.context);
      const plaintext = cached
        ? openGcm(cached.key, p.payload, ap2 ? cached.aad : undefined)
        : await this.withDerived(v, p.context, (key) => openGcm(key, p.payload, ap2 ? aad(p.version, p.context) : undefined));
      if (this.options.auditDataOperations) await this.options.auditor.record('decrypt', 'success', { version: p.version, context: p.context });
      return shape(plaintext, p);
    } catch (err) {
      return this.failed('decrypt', err, p.version, p.context);
    }
  }

  /** Counts a failed encrypt or decrypt, audits it quietly and rethrows it. */
  private async failed(action: 'encrypt' | 'decrypt', err: unknown, version: number | undefined, context: string | undefined): Promise<never> {
    if (action === 'decrypt') {
      this.options.metrics.count('DecryptionFailures');
      if (errorCode(err) === 'UNKNOWN_VERSION') this.options.metrics.count('KeyVersionMismatch');
    }
    await this.options.auditor.quietly(action, 'failure', { version, context: action === 'encrypt' ? auditableContext(context as string) : context, code: errorCode(err) });
    throw err;
  }

  /** The cached key for (`v`, `context`) on a hit, counted in KeyDerivations; undefined on a miss, not counted. */
  private hit(v: KeyVersion, context: string): CachedKey<BoundCounter> | undefined {
    const cached = this.keys.cached(v, context);
    if (cached) this.count(v, context, cached);
    return cached;
  }

  /**
   * The cached key for (`v`, `context`), or undefined on a miss; counts the use in KeyDerivations either way. A cached
   * key must be used in the turn it is looked up in (see DataKeyCache).
   */
  private counted(v: KeyVersion, context: string): CachedKey<BoundCounter> | undefined {
    const cached = this.keys.cached(v, context);
    this.count(v, context, cached);
    return cached;
  }

  private count(v: KeyVersion, context: string, cached: CachedKey<BoundCounter> | undefined): void {
    const counter = cached ? (cached.meter ??= this.pairCounter(v.version, context)) : this.pairCounter(v.version, context);
    counter();
    this.derivations();
  }

  private pairCounter(version: number, context: string): BoundCounter {
    return boundCounter(this.options.metrics, 'KeyDerivations', { KeyVersion: String(version), Context: context });
  }

  /** The version `p` may be opened under: a legacy record only under a legacy version, and never a disabled one. */
  private openableVersion(keyset: Keyset, p: ParsedEnvelope): KeyVersion {
    assertFormatFitsVersion(p, findVersion(keyset, p.version)?.kdf);
    return this.usableVersion(keyset, p.version);
  }

  /** Runs `use` with a key derived for a miss: our own copy, zeroed after. */
  private async withDerived<T>(v: KeyVersion, context: string, use: (key: Buffer) => T): Promise<T> {
    const own = await this.deriveMissing(v, context);
    try {
      return use(own);
    } finally {
      own.fill(0);
    }
  }

  /** The version a data key may be used under (not disabled, not destroyed). */
  private usableVersion(keyset: Keyset, version: number): KeyVersion {
    const v = requireMaterial(keyset, version);
    if (v.state === 'disabled') {
      throw new KeyManagementError('VERSION_DISABLED', `version ${version} is disabled${v.reason ? ` (${v.reason})` : ''}: no key under it is derived and no data under it decrypts`);
    }
    return v;
  }

  /** A cache miss: derives (legacy PBKDF2 off the event loop) and audits the derivation, legacy ones rate-limited. */
  private async deriveMissing(v: KeyVersion, context: string): Promise<Buffer> {
    const { key, derived } = await this.keys.derive(v, context);
    if (!derived) return key;
    const admitted = v.kdf === 'legacy-pbkdf2' ? this.legacyDerivationAudits.admit(this.options.clock().getTime()) : 'record';
    if (admitted === 'record') await this.options.auditor.quietly('derive_key', 'success', { version: v.version, context });
    if (admitted === 'summarize') {
      const until = new Date(this.legacyDerivationAudits.windowEndMs).toISOString();
      await this.options.auditor.quietly('audit_rate_limited', 'skipped', {
        detail: `over ${LEGACY_DERIVATION_AUDITS_PER_MINUTE} legacy key derivations in a minute; until ${until} the rest count in KeyDerivations but are not audited one by one (many new contexts on legacy records can be forged input)`,
      });
    }
    return key;
  }
}

function bytesOf(plaintext: Buffer | string): Buffer {
  return typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext;
}

/** A context for an audit event: only a valid name, never arbitrary caller text. */
function auditableContext(context: string): string | undefined {
  try {
    return validateContext(context);
  } catch {
    return undefined;
  }
}
