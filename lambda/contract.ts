/**
 * What the infrastructure (lib/) and the runtime (lambda/, cli/) agree on, in one place: the rotation
 * function's environment, the metrics namespace, and the limits both sides check. Plain constants, no
 * imports: lib/ may read it without loading any runtime code or SDK.
 */

/** The rotation function's environment variables (lib/rotation-function.ts sets them, lambda/rotation/config.ts reads them). */
export const ROTATION_ENV = {
  keysetSecretId: 'KEYSET_SECRET_ID',
  rotationLogSecretId: 'ROTATION_LOG_SECRET_ID',
  storageKeyId: 'STORAGE_KEY_ID',
  metricsNamespace: 'METRICS_NAMESPACE',
  rotationPeriodDays: 'ROTATION_PERIOD_DAYS',
  warningWindowDays: 'WARNING_WINDOW_DAYS',
  stage: 'STAGE',
} as const;

/** The CloudWatch namespace of every metric, and the condition of every PutMetricData grant. */
export const METRICS_NAMESPACE = 'AlphaPulse/Encryption';

/** PCI DSS 3.6.4: cryptoperiods are defined and keys change at the end of them; we cap ours at a year. */
export const MAX_ROTATION_PERIOD_DAYS = 365;

/** Days before the deadline from which a primary with no rotation scheduled to meet it is at risk (DESIGN: a 14-day window). */
export const DEFAULT_WARNING_WINDOW_DAYS = 14;

/** Hours of Secrets Manager's rotation window on the due day; a rotation still pending after it is stuck. */
export const DEFAULT_ROTATION_WINDOW_HOURS = 4;
