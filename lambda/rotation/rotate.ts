/**
 * One rotation, step by step, each step safe to repeat:
 *   1 read AWSCURRENT · 2 build keyset + new version · 3 stage it as AWSPENDING (token from the rotation
 *   id) · 4 test it · 5 promote it to AWSCURRENT · 6 append to the rotation log · 7 metrics and audit.
 * Which step to start from is `planRotation`'s decision over what is found in the secret, so a retried
 * invocation resumes and a crashed run's AWSPENDING is resumed or cleared.
 *
 * Any failure: RotationFailed is counted, the failure is audited and logged (best effort), and the
 * error is thrown so Lambda retries and the dead-letter queue sees it. AWSCURRENT only ever moves to a
 * version that passed the test, so it stays valid whatever fails.
 */
import { ConflictError, errorCode, KeyManagementError } from '../keys/errors';
import { ageDays, assertPreserves, findVersion, type Keyset, primaryVersion, rotateKeyset } from '../keys/keyset';
import { freshMaterial, type RandomSource } from '../keys/random';
import { AWSPENDING, AWSPREVIOUS } from '../stores/secrets-manager-labels';
import type { KeysetVersion, SecretsManagerStore } from '../stores/secrets-manager-store';
import { auditEvent, type AuditEvent, type AuditOutcome, type AuditSink } from '../telemetry/audit';
import type { MetricsSink } from '../telemetry/metrics';
import { testStagedKeyset } from './canary';
import type { RotationConfig } from './config';
import type { RotationCommand } from './events';
import { type Candidate, isRotationOf, planRotation, rotationToken } from './plan';
import { recordsRotationTo, type RotationLogEntry } from './rotation-log';
import type { RotationLogStore } from './rotation-log-store';

/** The staged operations a rotation needs from the keyset store (SecretsManagerStore provides them). */
export type StagedKeysetStore = Pick<SecretsManagerStore, 'kind' | 'location' | 'read' | 'readStage' | 'readVersion' | 'stagePending' | 'promote' | 'removeStage'>;

export interface RotationDeps {
  readonly store: StagedKeysetStore;
  readonly rotationLog: RotationLogStore;
  readonly config: RotationConfig;
  readonly clock: () => Date;
  readonly random: RandomSource;
  readonly audit: AuditSink;
  readonly metrics: MetricsSink;
  readonly actor: string;
}

export type RotationStatus = 'rotated' | 'resumed' | 'resumed-pending' | 'already-rotated' | 'skipped';

export interface RotationResult {
  readonly action: 'rotate';
  readonly status: RotationStatus;
  readonly rotationId: string;
  readonly trigger: Extract<RotationCommand, { kind: 'rotate' }>['trigger'];
  readonly fromVersion: number;
  readonly toVersion: number;
  /** The VersionId now labelled AWSCURRENT. */
  readonly versionId: string;
  readonly disabledVersion?: number;
}

export type RotateCommand = Extract<RotationCommand, { kind: 'rotate' }>;

export async function runRotation(deps: RotationDeps, command: RotateCommand): Promise<RotationResult> {
  const { store, clock } = deps;
  const startedAt = clock().toISOString();
  const action = command.trigger === 'emergency' ? 'emergency_rotate' : 'rotate';
  const token = rotationToken(command.rotationId);
  let fromVersion: number | null = null;
  let toVersion: number | null = null;
  let promoted = false;
  const audit = (outcome: AuditOutcome, fields: Partial<Pick<AuditEvent, 'version' | 'code' | 'detail'>>, name = action) => writeAudit(deps, name, outcome, fields);

  try {
    const current = await store.read();
    fromVersion = current.keyset.primary;
    const own = toCandidate(await store.readVersion(token));
    const pending = own ? undefined : toCandidate(await store.readStage(AWSPENDING));
    // A run that promoted another run's AWSPENDING has no version under its own token: the rotation log
    // is its only record, so a retried run would otherwise rotate a second time. Scheduled runs too: the
    // minimum interval does not hold off a retry that arrives after it, or one with a short interval.
    if (!own) {
      const logged = (await deps.rotationLog.read()).entries.find((e) => e.rotationId === command.rotationId && e.outcome === 'success');
      if (logged?.toVersion != null && findVersion(current.keyset, logged.toVersion)) {
        toVersion = logged.toVersion;
        await audit('success', { version: toVersion, detail: `rotation ${command.rotationId}: version ${toVersion} was already promoted by an earlier attempt; nothing new was written` });
        emitKeyMetrics(deps, current.keyset);
        return { action: 'rotate', status: 'already-rotated', rotationId: command.rotationId, trigger: command.trigger, fromVersion: logged.fromVersion ?? toVersion, toVersion, versionId: current.handle };
      }
    }
    const plan = planRotation({
      trigger: command.trigger,
      now: clock(),
      minIntervalMinutes: deps.config.minRotationIntervalMinutes,
      current: { versionId: current.handle, keyset: current.keyset },
      ...(own ? { own } : {}),
      ...(pending ? { pending } : {}),
    });

    let staged: { versionId: string; keyset: Keyset };
    let status: RotationStatus;
    switch (plan.step) {
      case 'finish': {
        if (plan.clearPendingLabel) await store.removeStage(AWSPENDING, plan.versionId).catch(() => false);
        fromVersion = await previousPrimary(store, current.keyset);
        toVersion = current.keyset.primary;
        await deps.rotationLog.append(entry(command, fromVersion, toVersion, startedAt, clock(), 'success'), (log) => !recordsRotationTo(log, current.keyset.primary));
        await audit('success', { version: toVersion, detail: `rotation ${command.rotationId}: version ${toVersion} was already promoted by an earlier attempt; nothing new was written` });
        emitKeyMetrics(deps, current.keyset);
        return result(command, 'already-rotated', fromVersion, current.keyset, current.handle);
      }
      case 'skip': {
        if (plan.clearOwnPending) await store.removeStage(AWSPENDING, token);
        toVersion = current.keyset.primary;
        const detail = `rotation ${command.rotationId}: primary version ${toVersion} was created less than ${deps.config.minRotationIntervalMinutes} minutes ago; scheduled rotation skipped`;
        deps.metrics.count('RotationSkipped');
        emitKeyMetrics(deps, current.keyset);
        await deps.rotationLog.append(entry(command, fromVersion, toVersion, startedAt, clock(), 'skipped'));
        await audit('skipped', { version: toVersion, detail });
        return result(command, 'skipped', fromVersion, current.keyset, current.handle);
      }
      case 'superseded': {
        if (plan.clearOwnPending) await store.removeStage(AWSPENDING, plan.versionId);
        throw new ConflictError(
          `rotation ${command.rotationId} staged a version on top of a keyset that is no longer current (AWSCURRENT is now primary version ${current.keyset.primary}); its version was not promoted — start a new rotation with a new rotation id if one is still needed`,
        );
      }
      case 'resume-own': {
        staged = { versionId: plan.versionId, keyset: own?.keyset as Keyset };
        status = 'resumed';
        break;
      }
      case 'resume-pending': {
        staged = { versionId: plan.versionId, keyset: pending?.keyset as Keyset };
        status = 'resumed-pending';
        await audit('success', { version: staged.keyset.primary, detail: `rotation ${command.rotationId}: resuming AWSPENDING version ${plan.versionId} left by a crashed run; it is a valid rotation of the current keyset` }, 'resume_pending');
        break;
      }
      case 'rotate': {
        if (plan.clearPending) {
          await store.removeStage(AWSPENDING, plan.clearPending.versionId);
          await audit('success', { detail: `rotation ${command.rotationId}: removed AWSPENDING from version ${plan.clearPending.versionId}: ${plan.clearPending.reason}` }, 'clear_pending');
        }
        const next = build(deps, current.keyset, command);
        assertPreserves(current.keyset, next);
        toVersion = next.primary;
        await store.stagePending(next, token);
        const readBack = await store.readVersion(token);
        if (!readBack?.keyset) throw new KeyManagementError('ROTATION_FAILED', `the version staged as ${token} cannot be read back as a valid keyset; it was not promoted — rerun the rotation`);
        staged = { versionId: readBack.versionId, keyset: readBack.keyset };
        status = 'rotated';
        break;
      }
    }

    toVersion = staged.keyset.primary;
    try {
      await testStagedKeyset(current.keyset, staged.keyset, deps.random, clock);
    } catch (err) {
      // A version that failed its test must not stay AWSPENDING: the next run would resume it and fail again.
      await store.removeStage(AWSPENDING, staged.versionId).catch(() => false);
      throw err;
    }
    await store.promote(staged.versionId, current.handle);
    promoted = true;
    // The rotation has happened: count it now, so a failure to log it below is not a failed rotation.
    const disabled = findDisabledPrimary(current.keyset, staged.keyset);
    deps.metrics.count('RotationSucceeded');
    if (disabled !== undefined) deps.metrics.count('EmergencyRotations');
    emitKeyMetrics(deps, staged.keyset);
    await deps.rotationLog.append(entry(command, fromVersion, toVersion, startedAt, clock(), 'success'));
    await audit('success', {
      version: toVersion,
      detail: `rotation ${command.rotationId} (${command.trigger}): version ${fromVersion} -> ${toVersion}${disabled !== undefined ? `, version ${disabled} disabled` : ''}${status === 'rotated' ? '' : ` (${status})`}`,
    });
    return result(command, status, fromVersion, staged.keyset, staged.versionId);
  } catch (err) {
    const code = errorCode(err);
    if (promoted) {
      // AWSCURRENT already holds the new version; only its log entry is missing. Throwing lets Lambda retry the
      // same id, which finds its version current and writes the entry (and the DLQ alarm covers a retry that never does).
      await audit('failure', { version: toVersion as number, code, detail: `rotation ${command.rotationId} (${command.trigger}): version ${toVersion} is current, but the rotation log could not be written` }, 'rotation_log').catch(() => undefined);
      throw err;
    }
    deps.metrics.count('RotationFailed');
    await audit('failure', { ...(toVersion !== null ? { version: toVersion } : {}), code, detail: `rotation ${command.rotationId} (${command.trigger}) failed` }).catch(() => undefined);
    await deps.rotationLog.append({ ...entry(command, fromVersion, toVersion, startedAt, clock(), 'failure'), code }, (log) => !log.entries.some((e) => e.rotationId === command.rotationId && e.outcome === 'success')).catch(() => undefined);
    throw err;
  }
}

function build(deps: RotationDeps, current: Keyset, command: RotateCommand): Keyset {
  return rotateKeyset(current, {
    material: freshMaterial(deps.random),
    now: deps.clock().toISOString(),
    disablePrevious: command.trigger === 'emergency',
    ...(command.trigger === 'emergency' ? { reason: command.reason ?? `emergency rotation ${command.rotationId}` } : {}),
  });
}

function toCandidate(found: KeysetVersion | undefined): Candidate | undefined {
  return found ? { versionId: found.versionId, stages: found.stages, ...(found.keyset ? { keyset: found.keyset } : {}) } : undefined;
}

/** The primary before the rotation that produced `current`, from AWSPREVIOUS; for a retried run that finds its work done. */
async function previousPrimary(store: StagedKeysetStore, current: Keyset): Promise<number> {
  const previous = await store.readStage(AWSPREVIOUS).catch(() => undefined);
  if (previous?.keyset && isRotationOf(previous.keyset, current)) return previous.keyset.primary;
  return current.primary;
}

function findDisabledPrimary(before: Keyset, after: Keyset): number | undefined {
  return after.versions.find((v) => v.version === before.primary)?.state === 'disabled' ? before.primary : undefined;
}

function entry(command: RotateCommand, fromVersion: number | null, toVersion: number | null, startedAt: string, now: Date, outcome: RotationLogEntry['outcome']): RotationLogEntry {
  return { rotationId: command.rotationId, fromVersion, toVersion, startedAt, finishedAt: now.toISOString(), outcome, trigger: command.trigger };
}

function result(command: RotateCommand, status: RotationStatus, fromVersion: number, keyset: Keyset, versionId: string): RotationResult {
  const disabled = keyset.versions.find((v) => v.version === fromVersion && v.state === 'disabled');
  return {
    action: 'rotate',
    status,
    rotationId: command.rotationId,
    trigger: command.trigger,
    fromVersion,
    toVersion: keyset.primary,
    versionId,
    ...(disabled && fromVersion !== keyset.primary ? { disabledVersion: fromVersion } : {}),
  };
}

/** Key age, days until the deadline (only with a rotation period) and enabled versions. */
export function emitKeyMetrics(deps: Pick<RotationDeps, 'metrics' | 'config' | 'clock'>, keyset: Keyset): { keyAgeDays: number; daysUntilRotationDue: number | null; enabledVersions: number } {
  const keyAgeDays = ageDays(primaryVersion(keyset).createdAt, deps.clock());
  const enabledVersions = keyset.versions.filter((v) => v.state === 'enabled').length;
  const period = deps.config.rotationPeriodDays;
  deps.metrics.gauge('KeyAgeDays', keyAgeDays);
  deps.metrics.gauge('EnabledKeyVersions', enabledVersions, 'Count');
  if (period !== null) deps.metrics.gauge('DaysUntilRotationDue', period - keyAgeDays);
  return { keyAgeDays, daysUntilRotationDue: period === null ? null : period - keyAgeDays, enabledVersions };
}

export async function writeAudit(deps: Pick<RotationDeps, 'audit' | 'clock' | 'actor' | 'store'>, action: string, outcome: AuditOutcome, fields: Partial<Pick<AuditEvent, 'version' | 'code' | 'detail'>>): Promise<void> {
  await deps.audit.write(auditEvent({ time: deps.clock().toISOString(), action, actor: deps.actor, store: deps.store.kind, secret: deps.store.location, outcome }, fields));
}
