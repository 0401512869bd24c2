/**
 * `@alphapulse/keys`: the runtime library services install to encrypt and decrypt under the AlphaPulse keyset.
 *
 * ```js
 * const { KeyManager, SecretsManagerStore } = require('@alphapulse/keys');
 * const keys = new KeyManager({ store: new SecretsManagerStore({ secretId: 'alphapulse/encryption/master_key' }) });
 * const record = await keys.encrypt('4111 1111 1111 1111', 'user_pii');
 * const plaintext = await keys.decrypt(record);
 * const bytes = await keys.encryptBinary(plaintext, 'user_pii'); // for a BLOB/BYTEA column: no JSON, no base64
 * const same = await keys.decryptBinary(bytes);
 * ```
 *
 * Importing it loads no AWS SDK client and no CDK: `SecretsManagerStore` and the CloudWatch sink (the two exports that
 * need a client) are loaded on first access. In a Lambda, `EmfMetricsSink` needs none: it writes the metrics to the
 * function's log in CloudWatch's embedded metric format. The CDK construct is the `@alphapulse/keys/cdk` entry.
 *
 * @packageDocumentation
 * @module @alphapulse/keys
 */
import type * as CloudWatchMetrics from './telemetry/cloudwatch-metrics';
import type * as SecretsManagerStores from './stores/secrets-manager-store';

// The key manager: data path, administration, status and health.
export { DEFAULT_KEYSET_TTL_MS, DEFAULT_MAX_CACHED_KEYS, DEFAULT_ROTATION_PERIOD_DAYS, KeyManager, LEGACY_DERIVATION_AUDITS_PER_MINUTE } from './key-manager';
export type { DataKey, DecryptResult, HealthCheck, HealthReport, KeyManagerOptions, KeysetStatus, RotateOptions, RotateResult, VersionStatus } from './key-manager';

// Stores: where a keyset lives.
export { EnvStore, KEY_VERSION_VAR, MASTER_KEY_VAR } from './stores/env-store';
export { DEFAULT_KEYSET_PATH, FileStore } from './stores/file-store';
export type { FileStoreOptions } from './stores/file-store';
export { MemoryStore } from './stores/memory-store';
export { DEFAULT_STORE_URI, openStore, parseStoreUri, resolveStoreUri, STORE_ENV_VAR } from './stores/open-store';
export type { OpenStoreOptions, StoreUri } from './stores/open-store';
export type { SecretsManagerStoreOptions } from './stores/secrets-manager-store';
export type { KeysetSnapshot, KeysetStore, ManagedRotationStatus, StoreKind } from './stores/store';
export { openVaultStore, VAULT_ADDR_VAR, VAULT_CACERT_VAR, VAULT_NAMESPACE_VAR, VAULT_TOKEN_VAR, VaultStore, vaultOptionsFromEnv } from './stores/vault-store';
export type { VaultStoreOptions } from './stores/vault-store';

// Sinks: audit events and metrics.
export { FileAuditSink, MemoryAuditSink, noopAudit, readAuditFile, StreamAuditSink } from './telemetry/audit';
export type { AuditEvent, AuditOutcome, AuditSink, FileAuditOptions } from './telemetry/audit';
export type { CloudWatchMetricsSinkOptions, CloudWatchMetricsSinkStats, MetricsPublishError } from './telemetry/cloudwatch-metrics';
export { EMF_MAX_DIMENSIONS, EMF_MAX_METRICS, EMF_MAX_VALUES, EmfMetricsSink } from './telemetry/emf-metrics';
export type { EmfMetricsSinkOptions, EmfMetricsSinkStats } from './telemetry/emf-metrics';
export { DEFAULT_FLUSH_TIMEOUT_MS, withMetricsFlush } from './telemetry/metrics-flush';
export type { MetricsFlushOptions } from './telemetry/metrics-flush';
export { MemoryMetricsSink, noopMetrics } from './telemetry/metrics';
export type { Dimensions, MetricName, MetricsSink, MetricUnit } from './telemetry/metrics';
export { METRICS_NAMESPACE } from './contract';

// Errors: every failure is a KeyManagementError with a stable code.
export { ConflictError, errorCode, isKeyManagementError, KeyManagementError, KeysetInvalidError } from './keys/errors';
export type { ErrorCode } from './keys/errors';

// Envelopes: the formats `encrypt`/`encryptCompact`/`encryptBinary` write and `decrypt`/`decryptBinary` read.
export { ALGORITHM, FORMAT, MAX_ENVELOPE_CHARS, MAX_PLAINTEXT_BYTES, parseEnvelope } from './keys/envelope';
export type { EnvelopeForm, EnvelopeKind, EnvelopeRecord, ParsedEnvelope } from './keys/envelope';
export { isBinaryEnvelope, MAX_BINARY_ENVELOPE_BYTES, parseBinaryEnvelope, toBinary } from './keys/binary-envelope';
export { CONTEXT_PATTERN, MAX_CONTEXT_LENGTH, validateContext } from './keys/context';

// Keysets: the versioned document a store holds (it carries key material: never log one).
export { parseKeyset } from './keys/keyset';
export type { KdfName, Keyset, KeyVersion, VersionState } from './keys/keyset';
export type { RandomSource } from './keys/random';

// Loaded on first access, so that a service on the file, env or Vault store never loads an AWS SDK client (the
// modules import theirs statically, which keeps the rotation Lambda's bundle tree-shaken).
/** The keyset in AWS Secrets Manager (`aws:SECRET_ID`): reads AWSCURRENT, writes through the staged-write protocol. */
export declare const SecretsManagerStore: typeof SecretsManagerStores.SecretsManagerStore;
export type SecretsManagerStore = SecretsManagerStores.SecretsManagerStore;
/** Metrics to CloudWatch in batches, flushed on a timer and on demand, bounded in memory and time. */
export declare const CloudWatchMetricsSink: typeof CloudWatchMetrics.CloudWatchMetricsSink;
export type CloudWatchMetricsSink = CloudWatchMetrics.CloudWatchMetricsSink;

for (const [name, load] of [
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  ['SecretsManagerStore', () => (require('./stores/secrets-manager-store') as typeof SecretsManagerStores).SecretsManagerStore],
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  ['CloudWatchMetricsSink', () => (require('./telemetry/cloudwatch-metrics') as typeof CloudWatchMetrics).CloudWatchMetricsSink],
] as const) {
  Object.defineProperty(exports, name, { enumerable: true, get: load });
}
