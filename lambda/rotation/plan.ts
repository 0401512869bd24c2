/**
 * Rotation decisions, as pure functions over what the rotation Lambda read: which step to resume,
 * whether a pending version may be promoted, whether a scheduled run is too soon.
 *
 * The rotation id names the run; the Secrets Manager version it stages has VersionId = its token
 * (`rotationToken`), so a retried invocation finds its own version and never adds a second one.
 */
import { createHash } from 'node:crypto';
import type { Keyset } from '../keys/keyset';
import { findVersion, latestVersion, rotateKeyset, serializeKeyset } from '../keys/keyset';
import { isValidToken } from '../stores/secrets-manager-labels';
import type { RotationTrigger } from './events';

export const DEFAULT_MIN_ROTATION_INTERVAL_MINUTES = 60;

/**
 * The ClientRequestToken (= VersionId) for a rotation id: the id itself when Secrets Manager accepts
 * it (an EventBridge event id, 36 characters), else a stable 64-hex-digit digest of it (`manual-...`
 * ids are shorter than the 32-character minimum).
 */
export function rotationToken(rotationId: string): string {
  if (isValidToken(rotationId)) return rotationId;
  return createHash('sha256').update(`alphapulse/rotation/v1|${rotationId}`).digest('hex');
}

/** True when the primary was created less than `minIntervalMinutes` before `now`. */
export function rotatedRecently(keyset: Keyset, now: Date, minIntervalMinutes: number): boolean {
  const primary = findVersion(keyset, keyset.primary);
  if (!primary) return false;
  return now.getTime() - Date.parse(primary.createdAt) < minIntervalMinutes * 60_000;
}

/**
 * True when `candidate` is exactly what one rotation of `current` produces: `rotateKeyset` applied to
 * `current` with the candidate's new material and time (and, when the old primary is disabled in the
 * candidate, the emergency form with its reason) gives the same document. So every earlier version is
 * intact, exactly one version is new, and it is the primary.
 */
export function isRotationOf(current: Keyset, candidate: Keyset): boolean {
  if (latestVersion(candidate) !== latestVersion(current) + 1) return false;
  const added = findVersion(candidate, latestVersion(candidate));
  if (!added || added.material === undefined) return false;
  const oldPrimary = findVersion(candidate, current.primary);
  if (!oldPrimary) return false;
  const emergency = oldPrimary.state === 'disabled' && findVersion(current, current.primary)?.state === 'enabled';
  try {
    const expected = rotateKeyset(current, {
      material: added.material,
      now: added.createdAt,
      kdf: added.kdf,
      disablePrevious: emergency,
      ...(emergency ? { reason: oldPrimary.reason } : {}),
    });
    return serializeKeyset(expected) === serializeKeyset(candidate);
  } catch {
    return false;
  }
}

/** Whether `candidate` disables the primary of `current` (an emergency rotation). */
export function disablesPrimary(current: Keyset, candidate: Keyset): boolean {
  return findVersion(candidate, current.primary)?.state === 'disabled';
}

/** What the rotation found in the keyset secret. */
export interface RotationFacts {
  readonly trigger: RotationTrigger;
  readonly now: Date;
  readonly minIntervalMinutes: number;
  readonly current: { readonly versionId: string; readonly keyset: Keyset };
  /** The version whose VersionId is this rotation's token, when a previous attempt staged it. */
  readonly own?: Candidate;
  /** The version labelled AWSPENDING, when there is one and it is not `own`. */
  readonly pending?: Candidate;
}

export interface Candidate {
  readonly versionId: string;
  readonly stages: readonly string[];
  /** Undefined when the value is not a valid keyset. */
  readonly keyset?: Keyset;
}

export type RotationPlan =
  /** This rotation already promoted its version (a retried invocation): only finish the log and metrics. */
  | { readonly step: 'finish'; readonly versionId: string; readonly clearPendingLabel: boolean }
  /** This rotation staged its version earlier: test and promote it. */
  | { readonly step: 'resume-own'; readonly versionId: string }
  /** Another run crashed after staging a valid rotation of the current keyset: test and promote that. */
  | { readonly step: 'resume-pending'; readonly versionId: string }
  /** A scheduled run too soon after the last rotation. */
  | { readonly step: 'skip'; readonly clearOwnPending: boolean }
  /** This rotation's version was built on a keyset that is no longer current: another rotation won. */
  | { readonly step: 'superseded'; readonly versionId: string; readonly clearOwnPending: boolean }
  /** Build, stage, test and promote a new version; first remove a stale AWSPENDING label if `clearPending` says so. */
  | { readonly step: 'rotate'; readonly clearPending?: { readonly versionId: string; readonly reason: string } };

export function planRotation(facts: RotationFacts): RotationPlan {
  const { own, pending, current } = facts;
  if (own && own.versionId === current.versionId) {
    return { step: 'finish', versionId: own.versionId, clearPendingLabel: own.stages.includes('AWSPENDING') };
  }
  if (own?.keyset && isRotationOf(current.keyset, own.keyset)) return { step: 'resume-own', versionId: own.versionId };
  if (facts.trigger === 'schedule' && rotatedRecently(current.keyset, facts.now, facts.minIntervalMinutes)) {
    return { step: 'skip', clearOwnPending: Boolean(own?.stages.includes('AWSPENDING')) };
  }
  if (own) return { step: 'superseded', versionId: own.versionId, clearOwnPending: own.stages.includes('AWSPENDING') };
  if (!pending) return { step: 'rotate' };
  if (pending.versionId === current.versionId) {
    return { step: 'rotate', clearPending: { versionId: pending.versionId, reason: 'the AWSPENDING label was left on the current version by a completed write' } };
  }
  if (!pending.keyset) return { step: 'rotate', clearPending: { versionId: pending.versionId, reason: 'it is not a valid keyset' } };
  if (!isRotationOf(current.keyset, pending.keyset)) {
    return { step: 'rotate', clearPending: { versionId: pending.versionId, reason: 'it is not one rotation of the current keyset (built on an older keyset, or earlier versions differ)' } };
  }
  if (facts.trigger === 'emergency' && !disablesPrimary(current.keyset, pending.keyset)) {
    return { step: 'rotate', clearPending: { versionId: pending.versionId, reason: 'it does not disable the current primary, which this emergency rotation must' } };
  }
  return { step: 'resume-pending', versionId: pending.versionId };
}
