/**
 * The rotation Lambda's configuration, read once per cold start from its environment. A bad value
 * fails every invocation loudly (and lands in the dead-letter queue) instead of rotating on a guess.
 */
import { DEFAULT_WARNING_WINDOW_DAYS, MAX_ROTATION_PERIOD_DAYS, METRICS_NAMESPACE, ROTATION_ENV } from '../contract';
import { KeyManagementError } from '../keys/errors';

export interface RotationConfig {
  /** KEYSET_SECRET_ID: name or ARN of the keyset secret. */
  readonly keysetSecretId: string;
  /** ROTATION_LOG_SECRET_ID: name or ARN of the rotation-log secret. */
  readonly rotationLogSecretId: string;
  /** METRICS_NAMESPACE. @default 'AlphaPulse/Encryption' */
  readonly metricsNamespace: string;
  /** STORAGE_KEY_ID: ARN of the KMS key the keyset secret is encrypted under, measured by the monitor. @default not measured */
  readonly storageKeyId?: string;
  /**
   * ROTATION_PERIOD_DAYS: the cryptoperiod Secrets Manager's schedule rotates at; null (empty or absent) means
   * rotation on demand only, and no deadline is measured.
   */
  readonly rotationPeriodDays: number | null;
  /**
   * WARNING_WINDOW_DAYS: from this many days before the deadline, a primary with no rotation scheduled to meet it
   * (or a stuck one) is reported at risk. Null without a period. @default 14, and always less than the period
   */
  readonly warningWindowDays: number | null;
  /** STAGE, for audit and logs. @default 'unknown' */
  readonly stage: string;
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
  const rotationPeriodDays = wholeNumber(env, ROTATION_ENV.rotationPeriodDays, 1, MAX_ROTATION_PERIOD_DAYS) ?? null;
  const window = rotationPeriodDays === null ? undefined : wholeNumber(env, ROTATION_ENV.warningWindowDays, 0, rotationPeriodDays - 1);
  const storageKeyId = env[ROTATION_ENV.storageKeyId]?.trim();
  return {
    keysetSecretId: required(env, ROTATION_ENV.keysetSecretId),
    rotationLogSecretId: required(env, ROTATION_ENV.rotationLogSecretId),
    metricsNamespace: env[ROTATION_ENV.metricsNamespace]?.trim() || METRICS_NAMESPACE,
    ...(storageKeyId ? { storageKeyId } : {}),
    rotationPeriodDays,
    warningWindowDays: rotationPeriodDays === null ? null : (window ?? Math.min(DEFAULT_WARNING_WINDOW_DAYS, rotationPeriodDays - 1)),
    stage: env[ROTATION_ENV.stage]?.trim() || 'unknown',
  };
}
