/**
 * The one administration path: every write of a keyset (init, rotate, disable, enable, destroy, recover, import) goes
 * through `guardedWrite` (keys/guarded-write.ts), which applies the guard for its kind of write once, before the
 * store's compare-and-set. Every written keyset is adopted by the keyset source, so the data path sees it at once.
 */
import { createKeyset, destroyVersion, disableVersion, enableVersion, type Keyset } from './keys/keyset';
import { guardedWrite, type WriteGuard } from './keys/guarded-write';
import type { CachingKeysetSource } from './keys/keyset-source';
import { freshMaterial, type RandomSource } from './keys/random';
import type { RotationLogStore } from './rotation/rotation-log-store';
import type { RotateOptions, RotateResult } from './rotation/rotator';
import type { KeysetSnapshot, KeysetStore } from './stores/store';
import type { AuditSink } from './telemetry/audit';
import type { Auditor } from './telemetry/auditor';
import type { MetricsSink } from './telemetry/metrics';

export interface AdministrationOptions {
  readonly source: CachingKeysetSource;
  readonly auditor: Auditor;
  readonly clock: () => Date;
  readonly random: RandomSource;
  /** For the rotator's own records (rotation log, metrics, audit). */
  readonly audit: AuditSink;
  readonly metrics: MetricsSink;
  readonly actor: string;
  /** For the rotator's key-age metrics; null when the keyset rotates on demand only. */
  readonly rotationPeriodDays: number | null;
  readonly rotationLog?: RotationLogStore;
}

/** The keyset changes an administrator makes, each audited once and written through `guardedWrite`. */
export class KeysetAdministration {
  constructor(private readonly options: AdministrationOptions) {}

  private get store(): KeysetStore {
    return this.options.source.store;
  }

  /** Creates the first keyset (version 1). Refuses with KEYSET_EXISTS if the store already has one. */
  async init(): Promise<Keyset> {
    return this.options.auditor.audited('init', {}, async () => {
      const keyset = createKeyset({ material: freshMaterial(this.options.random), now: this.nowIso() });
      this.options.source.adopt(await guardedWrite(this.store, keyset, { kind: 'create' }));
      return { result: keyset, audit: { version: 1 } };
    });
  }

  /**
   * Adds a version with fresh material and makes it primary (`emergency` also disables the old primary), through the
   * one rotator (`rotation/rotator.ts`): on a store whose backend rotates the keyset itself (Secrets Manager) the
   * rotation is requested and waited for; elsewhere the candidate passes the canaries and is written through
   * `guardedWrite`, then recorded (rotation log when one is given, metrics, audit).
   */
  async rotate(request: RotateOptions = {}): Promise<RotateResult> {
    // Loaded on first use: a service that only encrypts and decrypts never loads the rotator and its canaries.
    const { rotate } = await import('./rotation/rotator');
    const { store, clock, random, audit, metrics, actor, rotationPeriodDays, rotationLog } = { store: this.store, ...this.options };
    const { result, snapshot } = await rotate({ store, clock, random, audit, metrics, actor, rotationPeriodDays, ...(rotationLog ? { rotationLog } : {}) }, request);
    this.options.source.adopt(snapshot);
    return result;
  }

  async disableVersion(version: number, reason: string): Promise<void> {
    await this.transition('disable_version', (ks) => disableVersion(ks, version, { now: this.nowIso(), reason }), { version, detail: reason });
  }

  async enableVersion(version: number): Promise<void> {
    await this.transition('enable_version', (ks) => enableVersion(ks, version), { version });
  }

  /**
   * Removes a disabled version's material for good. Returns the store's warnings: work it could not finish that still
   * holds the material somewhere (empty when none). `reason` goes into the audit trail; only a destruction that landed
   * is recorded as "material destroyed".
   */
  async destroyVersion(version: number, reason?: string): Promise<readonly string[]> {
    const change = (ks: Keyset) => destroyVersion(ks, version, { now: this.nowIso() });
    return (await this.transition('destroy_version', change, { version, detail: reason }, reason === undefined ? 'material destroyed' : `material destroyed: ${reason}`)).warnings;
  }

  /**
   * Writes a recovered keyset (a verified backup) over the store's: `current` as read (absent when the store is
   * empty), or `unreadableHandle` when the store's keyset could not be parsed and the caller kept it aside. The caller
   * audits the recovery (with where the backup came from).
   * @throws INVALID_TRANSITION when the backup would lose, replace, resurrect or re-enable versions and `force` is not set
   */
  async recover(keyset: Keyset, options: { readonly current?: KeysetSnapshot; readonly unreadableHandle?: string; readonly force: boolean }): Promise<void> {
    const guard: WriteGuard = { kind: 'recover', force: options.force, ...(options.current ? { previous: options.current } : {}), ...(options.unreadableHandle !== undefined ? { expectedHandle: options.unreadableHandle } : {}) };
    this.options.source.adopt(await guardedWrite(this.store, keyset, guard));
  }

  /** Writes an imported keyset (the legacy system's versions) into an empty store; the caller audits the import. */
  async importKeyset(keyset: Keyset): Promise<void> {
    this.options.source.adopt(await guardedWrite(this.store, keyset, { kind: 'create' }));
  }

  /**
   * Reads the keyset fresh (never from cache), applies `change`, and writes it back through the preserve guard.
   * Audited as `action`; throws CONFLICT if another writer got there first. `auditFields` are recorded whatever the
   * outcome; `doneDetail`, when given, replaces their detail once the change was written.
   */
  private async transition(action: string, change: (keyset: Keyset) => Keyset, auditFields: { version?: number; detail?: string }, doneDetail?: string): Promise<{ warnings: readonly string[] }> {
    return this.options.auditor.audited(action, auditFields, async () => {
      const snapshot = await this.options.source.fresh();
      const after = change(snapshot.keyset);
      const written = await guardedWrite(this.store, after, { kind: 'preserve', previous: snapshot });
      this.options.source.adopt(written);
      const warnings = written.warnings ?? [];
      const detail = [doneDetail ?? auditFields.detail, ...warnings.map((w) => `warning: ${w}`)].filter(Boolean).join('; ') || undefined;
      return { result: { warnings }, audit: { version: auditFields.version ?? after.primary, detail } };
    });
  }

  private nowIso(): string {
    return this.options.clock().toISOString();
  }
}
