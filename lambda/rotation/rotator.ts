/**
 * The one rotator. It knows how the next keyset is built (`buildCandidate`), how a candidate is proved
 * before it may become current (`proveCandidate`: the canaries), and how a rotation is recorded when it
 * is done or has failed (`RotationRecorder`: the rotation-log entry, the metrics, the audit line). Two
 * drivers use it:
 *
 * - the Secrets Manager rotation steps (`steps.ts`), where Secrets Manager sequences the work and the
 *   keyset store only reads and labels versions;
 * - `rotate` below, for `KeyManager.rotate` and the CLI: on a store whose backend rotates the keyset
 *   itself (Secrets Manager) it asks the backend and waits; on the others (file, Vault, memory) it builds,
 *   proves and writes in-process with the store's compare-and-set.
 *
 * The rotation log is advisory history: it is written after the fact, a failed write of it is audited
 * and never turns a rotation into a failure, and nothing reads it to decide anything.
 */
import { errorCode, KeyManagementError } from '../keys/errors';
import { guardedWrite } from '../keys/guarded-write';
import { ageDays, assertNotAhead, assertPreserves, findVersion, type Keyset, primaryVersion, rotateKeyset } from '../keys/keyset';
import { freshMaterial, type RandomSource } from '../keys/random';
import type { KeysetSnapshot, KeysetStore } from '../stores/store';
import { type AuditFields, type AuditOutcome, type AuditSink } from '../telemetry/audit';
import { Auditor } from '../telemetry/auditor';
import type { MetricsSink } from '../telemetry/metrics';
import { testStagedKeyset } from './canary';
import type { RotationLogEntry } from './rotation-log';
import type { RotationLogStore } from './rotation-log-store';
import { newRotationToken, type RotationTrigger } from './trigger';

export interface RotationRequest {
  /** Also disable the current primary in the same write (key compromise). */
  readonly emergency?: boolean;
  /** Why; recorded on the disabled version and in the audit trail. */
  readonly reason?: string;
}

/** What every rotation needs besides the store: side effects, injected. */
export interface RotatorDeps {
  readonly clock: () => Date;
  readonly random: RandomSource;
  readonly audit: AuditSink;
  readonly metrics: MetricsSink;
  readonly actor: string;
  /** Where the rotation-log entry goes. @default none: the audit line is the only record */
  readonly rotationLog?: RotationLogStore;
  /** Rotation period for the key-age metrics; null when the keyset rotates on demand only. */
  readonly rotationPeriodDays: number | null;
}

/** The keyset one rotation of `current` produces: a new primary with fresh material (and, in an emergency, the old primary disabled). */
export function buildCandidate(current: Keyset, request: RotationRequest, deps: Pick<RotatorDeps, 'random' | 'clock'>): Keyset {
  const emergency = request.emergency === true;
  const next = rotateKeyset(current, {
    material: freshMaterial(deps.random),
    now: deps.clock().toISOString(),
    disablePrevious: emergency,
    ...(emergency ? { reason: request.reason ?? 'emergency rotation' } : {}),
  });
  assertPreserves(current, next);
  return next;
}

/**
 * The test a candidate must pass before it becomes current: exactly one rotation of `current`, a canary under
 * the old primary still decrypts (or, when this rotation disables it, is refused), one under the new primary
 * round-trips. Throws ROTATION_FAILED naming what failed.
 */
export const proveCandidate: (current: Keyset, candidate: Keyset, random: RandomSource, clock: () => Date) => Promise<void> = testStagedKeyset;

/** The version this rotation disabled, when it is an emergency rotation. */
export function disabledPrimary(before: Keyset, after: Keyset): number | undefined {
  return before.primary !== after.primary && findVersion(after, before.primary)?.state === 'disabled' ? before.primary : undefined;
}

/** Key age, days until the deadline (only with a rotation period) and enabled versions, as gauges. */
export function emitKeyMetrics(metrics: MetricsSink, keyset: Keyset, now: Date, rotationPeriodDays: number | null): { keyAgeDays: number; daysUntilRotationDue: number | null; enabledVersions: number } {
  const keyAgeDays = ageDays(primaryVersion(keyset).createdAt, now);
  const enabledVersions = keyset.versions.filter((v) => v.state === 'enabled').length;
  const daysUntilRotationDue = rotationPeriodDays === null ? null : rotationPeriodDays - keyAgeDays;
  metrics.gauge('KeyAgeDays', keyAgeDays);
  metrics.gauge('EnabledKeyVersions', enabledVersions, 'Count');
  if (daysUntilRotationDue !== null) metrics.gauge('DaysUntilRotationDue', daysUntilRotationDue);
  return { keyAgeDays, daysUntilRotationDue, enabledVersions };
}

/** One rotation as the records see it. */
export interface RotationRecord {
  /** The token (Secrets Manager VersionId) or in-process id the rotation ran under. */
  readonly rotationId: string;
  readonly trigger: RotationTrigger;
  readonly startedAt: string;
  readonly fromVersion: number | null;
  readonly toVersion: number | null;
}

/** The one place a rotation's outcome is written down: audit line, metrics, rotation-log entry. */
export class RotationRecorder {
  private readonly auditor: Auditor;

  constructor(
    private readonly deps: Pick<RotatorDeps, 'audit' | 'metrics' | 'clock' | 'actor' | 'rotationLog' | 'rotationPeriodDays'>,
    where: Pick<KeysetStore, 'kind' | 'location'>,
  ) {
    this.auditor = new Auditor({ sink: deps.audit, clock: deps.clock, actor: deps.actor, store: where });
  }

  /** A rotation made `after` current. Counts it, measures the new primary, logs and audits it. */
  async succeeded(record: RotationRecord, before: Keyset, after: Keyset, note?: string): Promise<void> {
    const disabled = disabledPrimary(before, after);
    this.deps.metrics.count('RotationSucceeded');
    if (disabled !== undefined) this.deps.metrics.count('EmergencyRotations');
    emitKeyMetrics(this.deps.metrics, after, this.deps.clock(), this.deps.rotationPeriodDays);
    await this.log({ ...entry(record, this.deps.clock()), outcome: 'success' });
    await this.audit(actionOf(record.trigger), 'success', {
      version: after.primary,
      detail: `rotation ${record.rotationId} (${record.trigger}): version ${before.primary} -> ${after.primary}${disabled !== undefined ? `, version ${disabled} disabled` : ''}${note ? `; ${note}` : ''}`,
    });
  }

  /** A rotation did not happen. Counts RotationFailed and records why; never throws (the caller rethrows `err`). */
  async failed(record: RotationRecord, err: unknown): Promise<void> {
    const code = errorCode(err);
    this.deps.metrics.count('RotationFailed');
    await this.audit(actionOf(record.trigger), 'failure', { ...(record.toVersion !== null ? { version: record.toVersion } : {}), code, detail: `rotation ${record.rotationId} (${record.trigger}) failed` }).catch(() => undefined);
    await this.log({ ...entry(record, this.deps.clock()), outcome: 'failure', code }).catch(() => undefined);
  }

  async audit(action: string, outcome: AuditOutcome, fields: AuditFields): Promise<void> {
    await this.auditor.record(action, outcome, fields);
  }

  /** Appends to the rotation log; its failure is audited, never thrown (the log is advisory). */
  private async log(item: RotationLogEntry): Promise<void> {
    const log = this.deps.rotationLog;
    if (!log) return;
    try {
      const appended = await log.append(item);
      if (appended.setAside) {
        await this.audit('rotation_log', 'failure', { code: 'INVALID_INPUT', detail: `the rotation log ${log.location} did not parse; it was kept aside (${appended.setAside}) and a fresh log started` });
      }
    } catch (err) {
      await this.audit('rotation_log', 'failure', { code: errorCode(err), detail: `rotation ${item.rotationId}: the entry could not be written to the rotation log ${log.location}; the rotation itself is unaffected` }).catch(() => undefined);
    }
  }
}

function actionOf(trigger: RotationTrigger): string {
  return trigger === 'emergency' ? 'emergency_rotate' : 'rotate';
}

function entry(record: RotationRecord, now: Date): Omit<RotationLogEntry, 'outcome'> {
  return { rotationId: record.rotationId, fromVersion: record.fromVersion, toVersion: record.toVersion, startedAt: record.startedAt, finishedAt: now.toISOString(), trigger: record.trigger };
}

export interface RotateOptions extends RotationRequest {
  /** How long to wait for a backend-run rotation (Secrets Manager). @default 300000 (5 min) */
  readonly timeoutMs?: number;
  /** Progress of a backend-run rotation, for a CLI line. */
  readonly onProgress?: (message: string) => void;
}

export interface RotateResult {
  readonly fromVersion: number;
  readonly toVersion: number;
  readonly disabledVersion?: number;
  /** The token the rotation ran under (on Secrets Manager, the new AWSCURRENT VersionId). */
  readonly rotationId: string;
  /** Whether the backend ran it (Secrets Manager's rotation) or it was written in-process. */
  readonly via: 'backend' | 'in-process';
}

/** What `rotate` hands its caller: the result, and the keyset now current (for a cache to adopt; it holds key material). */
export interface Rotated {
  readonly result: RotateResult;
  readonly snapshot: KeysetSnapshot;
}

export const DEFAULT_ROTATION_WAIT_MS = 300_000;

/**
 * Rotates the keyset in `store`. An emergency rotation needs a reason (it is written on the disabled version).
 * On a backend that rotates itself, the rotation is requested (an emergency keyset pre-staged under the token) and
 * waited for; its metrics and rotation-log entry are the backend's rotation function's to write, so only the
 * request is audited here. Elsewhere the candidate is proved and written with compare-and-set, then recorded.
 */
export async function rotate(deps: RotatorDeps & { readonly store: KeysetStore }, options: RotateOptions = {}): Promise<Rotated> {
  const { store } = deps;
  const trigger: RotationTrigger = options.emergency ? 'emergency' : 'manual';
  const rotationId = newRotationToken(trigger);
  const recorder = new RotationRecorder(deps, store);
  const startedAt = deps.clock().toISOString();
  if (options.emergency && !options.reason?.trim()) {
    throw new KeyManagementError('INVALID_INPUT', 'an emergency rotation needs a reason (an incident id): it is recorded on the disabled version and in the audit trail');
  }
  let before: Keyset | undefined;
  let candidate: Keyset | undefined;
  try {
    const current = await store.read();
    assertNotAhead(current.keyset, deps.clock());
    before = current.keyset;
    if (store.managedRotation) {
      candidate = options.emergency ? buildCandidate(current.keyset, options, deps) : undefined;
      await store.managedRotation.start({ token: rotationId, ...(candidate ? { candidate } : {}) });
      const snapshot = await store.managedRotation.waitFor(rotationId, {
        timeoutMs: options.timeoutMs ?? DEFAULT_ROTATION_WAIT_MS,
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      });
      const after = snapshot.keyset;
      await recorder.audit(actionOf(trigger), 'success', {
        version: after.primary,
        detail: `rotation ${rotationId} (${trigger}) through the store's rotation: version ${before.primary} -> ${after.primary}${options.reason ? `; ${options.reason}` : ''}`,
      });
      return result(before, after, rotationId, 'backend', snapshot);
    }
    candidate = buildCandidate(current.keyset, options, deps);
    await proveCandidate(current.keyset, candidate, deps.random, deps.clock);
    const written = await guardedWrite(store, candidate, { kind: 'preserve', previous: current });
    const record: RotationRecord = { rotationId, trigger, startedAt, fromVersion: before.primary, toVersion: candidate.primary };
    await recorder.succeeded(record, before, candidate, options.reason);
    return result(before, candidate, rotationId, 'in-process', written);
  } catch (err) {
    const record: RotationRecord = { rotationId, trigger, startedAt, fromVersion: before?.primary ?? null, toVersion: candidate?.primary ?? null };
    if (store.managedRotation) {
      // The backend's rotation function counts its own failures; here only the request is on record.
      await recorder.audit(actionOf(record.trigger), 'failure', { code: errorCode(err), detail: `rotation ${rotationId} (${trigger}) through the store's rotation did not complete` }).catch(() => undefined);
    } else {
      await recorder.failed(record, err);
    }
    throw err;
  }
}

function result(before: Keyset, after: Keyset, rotationId: string, via: RotateResult['via'], snapshot: KeysetSnapshot): Rotated {
  const disabled = disabledPrimary(before, after);
  return { result: { fromVersion: before.primary, toVersion: after.primary, ...(disabled !== undefined ? { disabledVersion: disabled } : {}), rotationId, via }, snapshot };
}
