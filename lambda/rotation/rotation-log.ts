/**
 * The rotation log: the value of the rotation-log secret, a bounded history of rotations (newest
 * last). Pure functions; no key material ever goes in (the entry type has no field that could hold it).
 *
 * Stored as `{"schema":1,"entries":[...]}`. The stack creates the secret empty, so "no value" is an
 * empty log. The log is advisory history, never a gate: nothing decides whether or how to rotate from it
 * (the keyset is the truth), and a value that does not parse is set aside by the store, not obeyed.
 */
import { KeyManagementError } from '../keys/errors';
import { isPlainObject } from '../keys/json';

/**
 * What started a rotation: Secrets Manager's own schedule (or any RotateSecret whose token we did not
 * make: the console, `aws secretsmanager rotate-secret`), `key-manager rotate`, an emergency rotation, or
 * the daily monitor's backstop for an overdue key.
 */
export type RotationTrigger = 'schedule' | 'manual' | 'emergency' | 'overdue';

export const ROTATION_LOG_SCHEMA = 1;
/** Entries kept; the oldest are dropped first. */
export const MAX_ROTATION_LOG_ENTRIES = 100;

export type RotationOutcome = 'success' | 'failure' | 'skipped';

export interface RotationLogEntry {
  readonly rotationId: string;
  /** The primary before the rotation; null when the failure came before the keyset was read. */
  readonly fromVersion: number | null;
  /** The primary after (success), the version that was staged (failure), or the unchanged primary (skipped). */
  readonly toVersion: number | null;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly outcome: RotationOutcome;
  readonly trigger: RotationTrigger;
  /** Error code of a failure. */
  readonly code?: string;
}

export interface RotationLog {
  readonly schema: typeof ROTATION_LOG_SCHEMA;
  readonly entries: readonly RotationLogEntry[];
}

export const EMPTY_ROTATION_LOG: RotationLog = { schema: ROTATION_LOG_SCHEMA, entries: [] };

const OUTCOMES: readonly RotationOutcome[] = ['success', 'failure', 'skipped'];
const TRIGGERS: readonly RotationTrigger[] = ['schedule', 'manual', 'emergency', 'overdue'];

function invalid(field: string, problem: string): KeyManagementError {
  return new KeyManagementError('INVALID_INPUT', `the rotation log is invalid: ${field} ${problem}`);
}

/** Parses a stored log; `undefined` (no value yet) is the empty log. */
export function parseRotationLog(text: string | undefined): RotationLog {
  if (text === undefined || text.trim() === '') return EMPTY_ROTATION_LOG;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw invalid('(document)', 'is not valid JSON');
  }
  if (!isPlainObject(value)) throw invalid('(document)', 'must be a JSON object');
  const doc = value as Record<string, unknown>;
  if (doc.schema !== ROTATION_LOG_SCHEMA) throw invalid('schema', `must be ${ROTATION_LOG_SCHEMA}`);
  if (!Array.isArray(doc.entries)) throw invalid('entries', 'must be an array');
  return { schema: ROTATION_LOG_SCHEMA, entries: doc.entries.map((e, i) => parseEntry(e, `entries[${i}]`)) };
}

function parseEntry(value: unknown, path: string): RotationLogEntry {
  if (!isPlainObject(value)) throw invalid(path, 'must be an object');
  const e = value as Record<string, unknown>;
  if (typeof e.rotationId !== 'string' || e.rotationId === '') throw invalid(`${path}.rotationId`, 'must be a non-empty string');
  for (const field of ['fromVersion', 'toVersion'] as const) {
    if (e[field] !== null && !(typeof e[field] === 'number' && Number.isSafeInteger(e[field]) && (e[field] as number) >= 1)) {
      throw invalid(`${path}.${field}`, 'must be a positive integer or null');
    }
  }
  for (const field of ['startedAt', 'finishedAt'] as const) {
    if (typeof e[field] !== 'string' || Number.isNaN(Date.parse(e[field] as string))) throw invalid(`${path}.${field}`, 'must be an ISO-8601 timestamp');
  }
  if (!OUTCOMES.includes(e.outcome as RotationOutcome)) throw invalid(`${path}.outcome`, `must be one of ${OUTCOMES.join(', ')}`);
  if (!TRIGGERS.includes(e.trigger as RotationTrigger)) throw invalid(`${path}.trigger`, `must be one of ${TRIGGERS.join(', ')}`);
  if (e.code !== undefined && typeof e.code !== 'string') throw invalid(`${path}.code`, 'must be a string');
  return {
    rotationId: e.rotationId,
    fromVersion: e.fromVersion as number | null,
    toVersion: e.toVersion as number | null,
    startedAt: e.startedAt as string,
    finishedAt: e.finishedAt as string,
    outcome: e.outcome as RotationOutcome,
    trigger: e.trigger as RotationTrigger,
    ...(typeof e.code === 'string' ? { code: e.code } : {}),
  };
}

export function serializeRotationLog(log: RotationLog): string {
  return JSON.stringify({ schema: log.schema, entries: log.entries });
}

/**
 * Adds `entry` as the newest. A rotation id appears once: a retried rotation replaces its earlier
 * entry (keeping the first attempt's `startedAt`). Only the newest `max` entries are kept.
 */
export function appendRotationLog(log: RotationLog, entry: RotationLogEntry, max = MAX_ROTATION_LOG_ENTRIES): RotationLog {
  const earlier = log.entries.find((e) => e.rotationId === entry.rotationId);
  const merged: RotationLogEntry = earlier ? { ...entry, startedAt: earlier.startedAt < entry.startedAt ? earlier.startedAt : entry.startedAt } : entry;
  const entries = [...log.entries.filter((e) => e.rotationId !== entry.rotationId), merged];
  return { schema: ROTATION_LOG_SCHEMA, entries: entries.slice(Math.max(0, entries.length - max)) };
}

