/**
 * Which rotations we start, told apart by their token. Secrets Manager passes the ClientRequestToken it
 * was given (or one it made up) to every rotation step and nothing else about why the rotation runs, so
 * the tokens we create carry a prefix: `manual-`, `emergency-`, `overdue-`. A token without one came from
 * Secrets Manager's schedule or from someone else's RotateSecret (console, AWS CLI).
 *
 * The prefix only labels the rotation log, audit lines and metrics; it grants nothing. Whether a rotation
 * disables the old primary is decided by the staged keyset itself, checked against the current one.
 */
import { randomUUID } from 'node:crypto';
import type { RotationTrigger } from './rotation-log';

export type { RotationTrigger } from './rotation-log';

const PREFIXES: readonly (readonly [RotationTrigger, string])[] = [
  ['manual', 'manual-'],
  ['emergency', 'emergency-'],
  ['overdue', 'overdue-'],
];

/** A fresh ClientRequestToken for a rotation we start: the trigger's prefix and a UUID (at most 46 characters). */
export function newRotationToken(trigger: Exclude<RotationTrigger, 'schedule'>): string {
  const prefix = PREFIXES.find(([t]) => t === trigger)?.[1] as string;
  return `${prefix}${randomUUID()}`;
}

export function triggerOfToken(token: string): RotationTrigger {
  return PREFIXES.find(([, prefix]) => token.startsWith(prefix))?.[0] ?? 'schedule';
}
