/**
 * Pure decisions about a rotation candidate: whether a keyset is exactly one rotation of another. The
 * rotation steps ask this of every value they find staged, because a value under a token can come from
 * Secrets Manager's placeholder filled by us, from an operator's pre-staged emergency keyset, or from a
 * rotation built on a keyset that is no longer current.
 */
import { findVersion, type Keyset, latestVersion, rotateKeyset, serializeKeyset } from '../keys/keyset';

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
