/**
 * The guard every keyset write passes, once, before the store's compare-and-set (the administration path and the
 * rotator's in-process write both write through `guardedWrite`):
 *
 * - `create`: only into an empty store (compare-and-set against "no keyset");
 * - `preserve`: the new keyset holds every version of the one it replaces with its material unchanged
 *   (`assertPreserves`; the one sanctioned loss is a destroyed version's material);
 * - `recover`: a backup may replace the store's keyset only if no version would be lost, replaced, brought back from
 *   destruction or re-enabled (`recoveryLosses`), unless forced.
 *
 * The store validates what it writes (`keysetText`), so a write never stores a keyset its next read would refuse.
 */
import { KeyManagementError } from './errors';
import { assertPreserves, isPruned, type Keyset } from './keyset';
import type { KeysetSnapshot, KeysetStore } from '../stores/store';

export interface RecoveryLosses {
  /** Versions in the store that the backup does not hold: their data would no longer decrypt. */
  readonly missing: readonly number[];
  /** Versions in both whose material differs: the backup is of another keyset. */
  readonly differing: readonly number[];
  /** Versions in both with the same material but another kdf in the backup: keys derived from it would differ. */
  readonly rederived: readonly number[];
  /** Versions in both alike but for their creation date: the key's age and rotation deadline would change. */
  readonly redated: readonly number[];
  /** Versions destroyed in the store whose material the backup would bring back. */
  readonly resurrected: readonly number[];
  /** Versions disabled in the store (e.g. compromised) that the backup holds enabled: they would decrypt again. */
  readonly reenabled: readonly number[];
}

/** What writing `backup` over `current` would lose or undo; all empty when recovery is safe. */
export function recoveryLosses(current: Keyset, backup: Keyset): RecoveryLosses {
  const missing: number[] = [];
  const differing: number[] = [];
  const rederived: number[] = [];
  const redated: number[] = [];
  const resurrected: number[] = [];
  const reenabled: number[] = [];
  for (const now of current.versions) {
    const restored = backup.versions.find((v) => v.version === now.version);
    if (!restored) missing.push(now.version);
    else if (now.state === 'destroyed') {
      if (restored.material !== undefined) resurrected.push(now.version);
    } else if (restored.material !== undefined && restored.material !== now.material) {
      differing.push(now.version);
    } else if (restored.material !== undefined && restored.kdf !== now.kdf) {
      rederived.push(now.version);
    } else if (restored.material !== undefined && restored.createdAt !== now.createdAt) {
      redated.push(now.version);
    } else if (restored.material === undefined) {
      missing.push(now.version);
    } else if (now.state === 'disabled' && restored.state === 'enabled') {
      reenabled.push(now.version);
    }
  }
  for (const restored of backup.versions) {
    if (restored.material !== undefined && isPruned(current, restored.version)) resurrected.push(restored.version);
  }
  return { missing, differing, rederived, redated, resurrected, reenabled };
}

export function isSafeRecovery(losses: RecoveryLosses): boolean {
  return [losses.missing, losses.differing, losses.rederived, losses.redated, losses.resurrected, losses.reenabled].every((versions) => versions.length === 0);
}

/** The guard a write must pass. */
export type WriteGuard =
  | { readonly kind: 'create' }
  | { readonly kind: 'preserve'; readonly previous: KeysetSnapshot }
  | { readonly kind: 'recover'; readonly previous?: KeysetSnapshot; readonly force: boolean; readonly expectedHandle?: string };

/**
 * Writes `next` to `store` once `guard` allows it; the compare-and-set names the keyset the guard checked against.
 * @throws INVALID_TRANSITION when the guard refuses (nothing is written); CONFLICT / KEYSET_EXISTS when another writer got there first
 */
export async function guardedWrite(store: KeysetStore, next: Keyset, guard: WriteGuard): Promise<KeysetSnapshot> {
  switch (guard.kind) {
    case 'create':
      return store.write(next, null);
    case 'preserve':
      assertPreserves(guard.previous.keyset, next);
      return store.write(next, guard.previous.handle);
    case 'recover': {
      const losses = guard.previous ? recoveryLosses(guard.previous.keyset, next) : undefined;
      if (losses && !isSafeRecovery(losses) && !guard.force) {
        throw new KeyManagementError('INVALID_TRANSITION', `refusing to recover: ${describeLosses(losses)}; nothing was written`);
      }
      return store.write(next, guard.expectedHandle ?? guard.previous?.handle ?? null);
    }
  }
}

/** What a recovery would override, for the refusal and the operator's summary. */
export function describeLosses(l: RecoveryLosses): string {
  const parts: string[] = [];
  if (l.missing.length) parts.push(`the store has version(s) ${l.missing.join(', ')} that the backup lacks (data under them would no longer decrypt)`);
  if (l.differing.length) parts.push(`version(s) ${l.differing.join(', ')} hold different key material in the backup (it is of another keyset)`);
  if (l.rederived.length) parts.push(`version(s) ${l.rederived.join(', ')} have the same material but another kdf in the backup (keys derived from them would change, and data under them would no longer decrypt)`);
  if (l.redated.length) parts.push(`version(s) ${l.redated.join(', ')} have the same material but another creation date in the backup (their age and the rotation deadline would change)`);
  if (l.resurrected.length) parts.push(`version(s) ${l.resurrected.join(', ')} were destroyed and the backup would bring their material back`);
  if (l.reenabled.length) parts.push(`version(s) ${l.reenabled.join(', ')} are disabled in the store and the backup would enable them again (data under them would decrypt)`);
  return parts.join('; ');
}

