/**
 * The rotation Lambda's configuration, read once per cold start from its environment. A bad value
 * fails every invocation loudly (and lands in the dead-letter queue) instead of rotating on a guess.
 */
import { KeyManagementError } from '../keys/errors';
import { METRICS_NAMESPACE } from '../telemetry/metrics';
import { DEFAULT_MIN_ROTATION_INTERVAL_MINUTES } from './plan';

/** PCI DSS 3.6.4: cryptoperiods of at most a year. */
export const MAX_ROTATION_PERIOD_DAYS = 365;
/** Days before the deadline at which the daily monitor rotates (DESIGN: a 14-day warning window). */
export const DEFAULT_WARNING_WINDOW_DAYS = 14;

export interface RotationConfig {
  /** KEYSET_SECRET_ID: name or ARN of the keyset secret. */
  readonly keysetSecretId: string;
  /** ROTATION_LOG_SECRET_ID: name or ARN of the rotation-log secret. */
  readonly rotationLogSecretId: string;
  /** METRICS_NAMESPACE. @default 'AlphaPulse/Encryption' */
  readonly metricsNamespace: string;
  /** ROTATION_PERIOD_DAYS; null (empty or absent) means manual rotation only: no deadline is measured. */
  readonly rotationPeriodDays: number | null;
  /**
   * WARNING_WINDOW_DAYS: the daily monitor rotates once the primary is this close to its deadline, so a
   * healthy stage never enters the window the RotationDeadlineApproaching alarm watches. Null without a
   * period. @default 14, and always less than the period
   */
  readonly warningWindowDays: number | null;
  /** STAGE, for audit and logs. @default 'unknown' */
  readonly stage: string;
  /** MIN_ROTATION_INTERVAL_MINUTES: a scheduled rotation sooner than this after the last is skipped. @default 60 */
  readonly minRotationIntervalMinutes: number;
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name]?.trim();
  if (!value) throw new KeyManagementError('INVALID_INPUT', `${name} is not set; the rotation function needs it (the stack sets it — redeploy, or set it on the function)`);
  return value;
}

function wholeNumber(env: NodeJS.ProcessEnv, name: string, min: number, max: number): number | undefined {
  const raw = env[name]?.trim();
  if (!raw) return undefined;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new KeyManagementError('INVALID_INPUT', `${name} must be a whole number from ${min} to ${max}, got '${raw.slice(0, 20)}'`);
  }
  return n;
}

export function readRotationConfig(env: NodeJS.ProcessEnv): RotationConfig {
  const rotationPeriodDays = wholeNumber(env, 'ROTATION_PERIOD_DAYS', 1, MAX_ROTATION_PERIOD_DAYS) ?? null;
  const window = rotationPeriodDays === null ? undefined : wholeNumber(env, 'WARNING_WINDOW_DAYS', 0, rotationPeriodDays - 1);
  return {
    keysetSecretId: required(env, 'KEYSET_SECRET_ID'),
    rotationLogSecretId: required(env, 'ROTATION_LOG_SECRET_ID'),
    metricsNamespace: env.METRICS_NAMESPACE?.trim() || METRICS_NAMESPACE,
    rotationPeriodDays,
    warningWindowDays: rotationPeriodDays === null ? null : (window ?? Math.min(DEFAULT_WARNING_WINDOW_DAYS, rotationPeriodDays - 1)),
    stage: env.STAGE?.trim() || 'unknown',
    minRotationIntervalMinutes: wholeNumber(env, 'MIN_ROTATION_INTERVAL_MINUTES', 0, 525_600) ?? DEFAULT_MIN_ROTATION_INTERVAL_MINUTES,
  };
}
