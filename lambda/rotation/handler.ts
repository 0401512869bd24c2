/**
 * The rotation function. It acts on three kinds of event (see `events.ts` and docs/rotation.md):
 *
 *   Secrets Manager's rotation steps   {"Step":"createSecret"|"setSecret"|"testSecret"|"finishSecret","SecretId","ClientRequestToken"}
 *   the daily monitor                  the EventBridge scheduled event (or {"action":"monitor"})
 *   deployment                         CloudFormation custom-resource events: Create/Update run init, Delete leaves the secret alone
 *
 * and refuses everything else, audited, changing nothing.
 *
 * `createHandler(deps)` takes every side effect (stores, clock, random source, audit and metrics sinks, the
 * KMS key), so tests drive each branch; `handler` is the production wiring from the environment. Metrics are
 * flushed before every invocation returns or throws: a frozen Lambda runs no timers. In production they are
 * embedded-metric-format lines on stdout (telemetry/emf-metrics.ts), which CloudWatch Logs turns into the metrics the
 * alarms watch: the function never calls CloudWatch, so it neither waits on it nor holds `cloudwatch:PutMetricData`.
 */
import * as os from 'node:os';
import { KeysetAdministration } from '../administration';
import { CachingKeysetSource } from '../keys/keyset-source';
import { Auditor } from '../telemetry/auditor';
import { errorCode } from '../keys/errors';
import { PooledRandom, type RandomSource } from '../keys/random';
import { SecretsManagerSecret } from '../stores/secrets-manager-secret';
import { SecretsManagerStore } from '../stores/secrets-manager-store';
import { type AuditSink, StreamAuditSink } from '../telemetry/audit';
import { EmfMetricsSink } from '../telemetry/emf-metrics';
import { withMetricsFlush } from '../telemetry/metrics-flush';
import type { MetricsSink } from '../telemetry/metrics';
import { type RotationConfig, readRotationConfig } from './config';
import { parseRotationEvent } from './events';
import { monitor, type MonitorResult } from './monitor';
import { type RotationLogStore, SecretsManagerRotationLog } from './rotation-log-store';
import { emitKeyMetrics, RotationRecorder, type RotatorDeps } from './rotator';
import { KmsStorageKey, type StorageKey } from './storage-key';
import { runStep, type StepResult } from './steps';

export interface HandlerDeps {
  readonly config: RotationConfig;
  /** The keyset store; a SecretsManagerStore in production. */
  readonly store: SecretsManagerStore;
  readonly rotationLog: RotationLogStore;
  /** @default the KMS key named by STORAGE_KEY_ID, when set */
  readonly storageKey?: StorageKey;
  /** @default () => new Date() */
  readonly clock?: () => Date;
  /** @default a pooled CSPRNG */
  readonly random?: RandomSource;
  /** @default JSON lines on stdout (CloudWatch Logs keeps them) */
  readonly audit?: AuditSink;
  readonly metrics: MetricsSink;
  /** @default `lambda:<function name>` */
  readonly actor?: string;
}

export interface InitResult {
  readonly action: 'init';
  readonly created: boolean;
  readonly primary: number;
}

export interface CustomResourceResult {
  readonly PhysicalResourceId: string;
  readonly Data?: { readonly Primary: string };
}

export type HandlerResult = StepResult | MonitorResult | CustomResourceResult;

/**
 * The metrics flush after each invocation may use the invocation's remaining time (less a second to return), up to
 * 25 s. The production sink's flush is a write to stdout and returns at once; the bound holds for any sink `deps`
 * brings (one that sends requests waits at most this long).
 */
const FLUSH_BOUND = { timeoutMs: 25_000, remainingTimeMarginMs: 1_000 };

export function createHandler(input: HandlerDeps): (event: unknown, context?: unknown) => Promise<HandlerResult> {
  const deps: RotatorDeps = {
    clock: input.clock ?? (() => new Date()),
    random: input.random ?? new PooledRandom(),
    audit: input.audit ?? new StreamAuditSink(process.stdout),
    metrics: input.metrics,
    actor: input.actor ?? lambdaActor(),
    rotationLog: input.rotationLog,
    rotationPeriodDays: input.config.rotationPeriodDays,
  };
  const { config, store } = input;
  const recorder = new RotationRecorder(deps, store);

  return withMetricsFlush(deps.metrics, async (event: unknown): Promise<HandlerResult> => {
    let command;
    try {
      command = parseRotationEvent(event);
    } catch (err) {
      await recorder.audit('rotation_event', 'failure', { code: errorCode(err), detail: 'the event is not one this function acts on; nothing was changed' }).catch(() => undefined);
      throw err;
    }
    switch (command.kind) {
      case 'step':
        return runStep({ ...deps, store, keysetSecretId: config.keysetSecretId }, command);
      case 'monitor':
        return monitor({ ...deps, store, warningWindowDays: config.warningWindowDays, ...(input.storageKey ? { storageKey: input.storageKey } : {}) });
      case 'custom-resource': {
        if (command.requestType === 'Delete') {
          // Deleting the stack's custom resource must never touch key material: the secret's own removal policy decides.
          await recorder.audit('init', 'skipped', { detail: 'CloudFormation Delete: the keyset secret is left untouched' });
          return { PhysicalResourceId: command.physicalResourceId ?? config.keysetSecretId };
        }
        const done = await init(deps, store, recorder);
        return { PhysicalResourceId: config.keysetSecretId, Data: { Primary: String(done.primary) } };
      }
    }
  }, FLUSH_BOUND);
}

/** Creates version 1 when the secret holds no keyset; an existing valid keyset is left as it is, an invalid one is reported. */
async function init(deps: RotatorDeps, store: SecretsManagerStore, recorder: RotationRecorder): Promise<InitResult> {
  const existing = await readExisting(deps, store, recorder);
  if (existing !== undefined) return existing;
  const admin = new KeysetAdministration({
    source: new CachingKeysetSource(store, { clock: deps.clock, metrics: deps.metrics, ttlMs: 0 }),
    auditor: new Auditor({ sink: deps.audit, clock: deps.clock, actor: deps.actor, store }),
    clock: deps.clock,
    random: deps.random,
    audit: deps.audit,
    metrics: deps.metrics,
    actor: deps.actor,
    rotationPeriodDays: deps.rotationPeriodDays,
  });
  try {
    const keyset = await admin.init();
    // A new stack's first key age, so the monitor-silent alarm does not wait a day for the first monitor run.
    emitKeyMetrics(deps.metrics, keyset, deps.clock(), deps.rotationPeriodDays);
    return { action: 'init', created: true, primary: keyset.primary };
  } catch (err) {
    // Another init won the race: that is the idempotent outcome, not a failure.
    if (errorCode(err) === 'KEYSET_EXISTS') return (await readExisting(deps, store, recorder)) ?? Promise.reject(err);
    throw err;
  }
}

async function readExisting(deps: RotatorDeps, store: SecretsManagerStore, recorder: RotationRecorder): Promise<InitResult | undefined> {
  try {
    const { keyset } = await store.read();
    emitKeyMetrics(deps.metrics, keyset, deps.clock(), deps.rotationPeriodDays);
    await recorder.audit('init', 'skipped', { version: keyset.primary, detail: `a keyset already exists (primary ${keyset.primary}); it was left untouched` });
    return { action: 'init', created: false, primary: keyset.primary };
  } catch (err) {
    if (errorCode(err) === 'KEYSET_NOT_FOUND') return undefined;
    await recorder.audit('init', 'failure', { code: errorCode(err) }).catch(() => undefined);
    throw err;
  }
}

function lambdaActor(): string {
  const name = process.env.AWS_LAMBDA_FUNCTION_NAME;
  if (name) return `lambda:${name}`;
  try {
    return os.userInfo().username;
  } catch {
    return 'rotation';
  }
}

/** Production wiring, built on the first invocation of a cold start and reused while the environment is warm. */
function productionDeps(env: NodeJS.ProcessEnv): HandlerDeps {
  const config = readRotationConfig(env);
  const store = new SecretsManagerStore({ secretId: config.keysetSecretId });
  return {
    config,
    store,
    rotationLog: new SecretsManagerRotationLog(new SecretsManagerSecret(config.rotationLogSecretId, { client: store.secret.client })),
    ...(config.storageKeyId ? { storageKey: new KmsStorageKey(config.storageKeyId) } : {}),
    audit: new StreamAuditSink(process.stdout),
    metrics: new EmfMetricsSink({ namespace: config.metricsNamespace }),
  };
}

let production: ((event: unknown, context?: unknown) => Promise<HandlerResult>) | undefined;

export async function handler(event: unknown, context?: unknown): Promise<HandlerResult> {
  production ??= createHandler(productionDeps(process.env));
  return production(event, context);
}
