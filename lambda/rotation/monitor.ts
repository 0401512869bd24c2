/**
 * The daily monitor (an EventBridge schedule). It measures and never rotates on its own account:
 *
 * - the storage key: state and rotation status (`StorageKeyHealthy`);
 * - the keyset: primary age, days until the rotation deadline, enabled versions;
 * - Secrets Manager's rotation: enabled, next date, a rotation in progress and whether it is stuck
 *   (`RotationStuck`), and whether the deadline is near with nothing in place to meet it
 *   (`RotationDeadlineAtRisk`: inside the warning window with no rotation scheduled before the deadline, or
 *   the one in progress stuck).
 *
 * Secrets Manager's schedule is the one scheduler. Only as a backstop, when the primary is past its
 * deadline and no rotation is in progress, the monitor asks Secrets Manager to rotate (RotateSecret; it does
 * not wait, since the rotation runs in this same function).
 */
import { errorCode } from '../keys/errors';
import { assertNotAhead, type Keyset, primaryVersion } from '../keys/keyset';
import type { KeysetSnapshot, KeysetStore, ManagedRotation, ManagedRotationStatus } from '../stores/store';
import { emitKeyMetrics, RotationRecorder, type RotatorDeps } from './rotator';
import type { StorageKey, StorageKeyHealth } from './storage-key';
import { newRotationToken } from './trigger';

/** Secrets Manager rotates within the UTC day its next rotation date falls on. */
const SCHEDULE_SLACK_MS = 86_400_000;

export interface MonitorDeps extends RotatorDeps {
  readonly store: Pick<KeysetStore, 'kind' | 'location' | 'read'> & { readonly managedRotation: ManagedRotation };
  /** @default not measured */
  readonly storageKey?: StorageKey;
  /** Days before the deadline from which a missing schedule puts it at risk; null without a rotation period. */
  readonly warningWindowDays: number | null;
}

export interface MonitorResult {
  readonly action: 'monitor';
  readonly primary: number;
  readonly keyAgeDays: number;
  /** Null when the stage rotates on demand only (no ROTATION_PERIOD_DAYS). */
  readonly daysUntilRotationDue: number | null;
  readonly rotationOverdue: boolean;
  readonly enabledVersions: number;
  readonly rotation: ManagedRotationStatus;
  readonly deadlineAtRisk: boolean;
  readonly storageKey?: StorageKeyHealth;
  /** The token of the rotation the backstop asked for, when it did. */
  readonly requestedRotation?: string;
}

export async function monitor(deps: MonitorDeps): Promise<MonitorResult> {
  const recorder = new RotationRecorder(deps, deps.store);
  try {
    const storageKey = await measureStorageKey(deps);
    const snapshot = await readKeyset(deps);
    const now = deps.clock();
    const measured = emitKeyMetrics(deps.metrics, snapshot.keyset, now, deps.rotationPeriodDays);
    const rotation = await deps.store.managedRotation.status(now);
    deps.metrics.gauge('RotationStuck', rotation.pending?.stuck ? 1 : 0, 'Count');
    const deadlineAtRisk = atRisk(deps, snapshot.keyset, measured.daysUntilRotationDue, rotation);
    deps.metrics.gauge('RotationDeadlineAtRisk', deadlineAtRisk ? 1 : 0, 'Count');
    const overdue = measured.daysUntilRotationDue !== null && measured.daysUntilRotationDue < 0;
    const requestedRotation = overdue && !rotation.pending ? await backstop(deps, recorder, snapshot.keyset) : undefined;
    await recorder.audit('monitor', 'success', {
      version: snapshot.keyset.primary,
      detail: describe(measured, rotation, deadlineAtRisk, storageKey, requestedRotation),
    });
    return {
      action: 'monitor',
      primary: snapshot.keyset.primary,
      ...measured,
      rotationOverdue: overdue,
      rotation,
      deadlineAtRisk,
      ...(storageKey ? { storageKey } : {}),
      ...(requestedRotation ? { requestedRotation } : {}),
    };
  } catch (err) {
    await recorder.audit('monitor', 'failure', { code: errorCode(err) }).catch(() => undefined);
    throw err;
  }
}

/** Measured first: when the key is disabled the keyset cannot be read, and this is the one figure that says why. */
async function measureStorageKey(deps: MonitorDeps): Promise<StorageKeyHealth | undefined> {
  if (!deps.storageKey) return undefined;
  try {
    const health = await deps.storageKey.health();
    deps.metrics.gauge('StorageKeyHealthy', health.healthy ? 1 : 0, 'Count');
    return health;
  } catch (err) {
    deps.metrics.gauge('StorageKeyHealthy', 0, 'Count');
    throw err;
  }
}

async function readKeyset(deps: MonitorDeps): Promise<KeysetSnapshot> {
  let snapshot: KeysetSnapshot;
  try {
    snapshot = await deps.store.read();
  } catch (err) {
    deps.metrics.count('KeyRetrievalFailures');
    throw err;
  }
  // A primary stamped in the future would read as young for ever, and no deadline would ever come.
  assertNotAhead(snapshot.keyset, deps.clock());
  return snapshot;
}

/** Inside the warning window with no rotation scheduled to land before the deadline, or the one in progress stuck. */
function atRisk(deps: MonitorDeps, keyset: Keyset, daysUntilDue: number | null, rotation: ManagedRotationStatus): boolean {
  if (daysUntilDue === null || deps.rotationPeriodDays === null || deps.warningWindowDays === null || daysUntilDue > deps.warningWindowDays) return false;
  if (rotation.pending?.stuck) return true;
  const deadline = Date.parse(primaryVersion(keyset).createdAt) + deps.rotationPeriodDays * 86_400_000;
  const next = rotation.nextRotation ? Date.parse(rotation.nextRotation) : Number.NaN;
  return !(rotation.enabled && next <= deadline + SCHEDULE_SLACK_MS);
}

async function backstop(deps: MonitorDeps, recorder: RotationRecorder, keyset: Keyset): Promise<string> {
  const token = newRotationToken('overdue');
  try {
    await deps.store.managedRotation.start({ token });
  } catch (err) {
    await recorder.audit('rotation_requested', 'failure', { version: keyset.primary, code: errorCode(err), detail: `primary ${keyset.primary} is past its deadline; asking Secrets Manager to rotate failed` }).catch(() => undefined);
    throw err;
  }
  await recorder.audit('rotation_requested', 'success', { version: keyset.primary, detail: `primary ${keyset.primary} is past its deadline and no rotation was in progress: asked Secrets Manager to rotate (token ${token})` });
  return token;
}

function describe(measured: ReturnType<typeof emitKeyMetrics>, rotation: ManagedRotationStatus, atRisk: boolean, key: StorageKeyHealth | undefined, requested: string | undefined): string {
  const parts = [
    `primary is ${measured.keyAgeDays} days old`,
    `${measured.enabledVersions} enabled version(s)`,
    measured.daysUntilRotationDue === null ? 'rotation on demand only' : `deadline in ${measured.daysUntilRotationDue} days`,
    rotation.enabled ? `Secrets Manager rotation ${rotation.schedule ?? 'on demand'}${rotation.nextRotation ? `, next ${rotation.nextRotation}` : ''}` : 'Secrets Manager rotation NOT enabled',
  ];
  if (rotation.pending) parts.push(`rotation ${rotation.pending.versionId} in progress${rotation.pending.stuck ? ' and STUCK' : ''}`);
  if (atRisk) parts.push('deadline AT RISK');
  if (key) parts.push(`storage key ${key.state}${key.rotationEnabled === false ? ', its rotation OFF' : ''}`);
  if (requested) parts.push(`rotation requested (${requested})`);
  return parts.join('; ');
}
