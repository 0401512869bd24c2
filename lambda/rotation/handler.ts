/**
 * The rotation Lambda. One function, several events (see docs/rotation.md):
 *   {"action":"rotate","rotationId":"..."[,"emergency":true,"reason":"..."]}  (the schedule sends its event id)
 *   {"action":"monitor"}   measures key age, days until rotation is due, enabled versions; rotates once the
 *                          primary is within WARNING_WINDOW_DAYS of its deadline (the schedule is the backstop)
 *   {"action":"init"}      creates the first keyset if the secret holds none; never overwrites one
 *   CloudFormation custom-resource events (Create/Update run init, Delete leaves the secret alone)
 *
 * `createHandler(deps)` takes every side effect (stores, clock, random source, audit and metrics sinks),
 * so tests drive each branch; `handler` is the production wiring from the environment. Metrics are
 * flushed at the end of every invocation, failed or not: a frozen Lambda runs no timers.
 */
import * as os from 'node:os';
import { DEFAULT_ROTATION_PERIOD_DAYS, KeyManager } from '../key-manager';
import { errorCode } from '../keys/errors';
import { ageDays, type Keyset, primaryVersion } from '../keys/keyset';
import { PooledRandom, type RandomSource } from '../keys/random';
import { SecretsManagerSecret } from '../stores/secrets-manager-secret';
import { SecretsManagerStore } from '../stores/secrets-manager-store';
import type { KeysetSnapshot } from '../stores/store';
import { type AuditSink, StreamAuditSink } from '../telemetry/audit';
import { CloudWatchMetricsSink, withMetricsFlush } from '../telemetry/cloudwatch-metrics';
import type { MetricsSink } from '../telemetry/metrics';
import { type RotationConfig, readRotationConfig } from './config';
import { parseRotationEvent } from './events';
import { emitKeyMetrics, type RotationDeps, type RotationResult, runRotation, type StagedKeysetStore, writeAudit } from './rotate';
import { type RotationLogStore, SecretsManagerRotationLog } from './rotation-log-store';

export interface HandlerDeps {
  readonly config: RotationConfig;
  /** The keyset store (KeysetStore plus the staged operations); a SecretsManagerStore in production. */
  readonly store: StagedKeysetStore & Pick<SecretsManagerStore, 'write' | 'writable'>;
  readonly rotationLog: RotationLogStore;
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

export interface MonitorResult {
  readonly action: 'monitor';
  readonly primary: number;
  readonly keyAgeDays: number;
  /** Null when the stage rotates manually only (no ROTATION_PERIOD_DAYS). */
  readonly daysUntilRotationDue: number | null;
  readonly rotationOverdue: boolean;
  readonly enabledVersions: number;
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

export type HandlerResult = RotationResult | MonitorResult | InitResult | CustomResourceResult;

export function createHandler(input: HandlerDeps): (event: unknown, context?: unknown) => Promise<HandlerResult> {
  const deps: RotationDeps = {
    store: input.store,
    rotationLog: input.rotationLog,
    config: input.config,
    clock: input.clock ?? (() => new Date()),
    random: input.random ?? new PooledRandom(),
    audit: input.audit ?? new StreamAuditSink(process.stdout),
    metrics: input.metrics,
    actor: input.actor ?? lambdaActor(),
  };
  const manager = () =>
    new KeyManager({
      store: input.store,
      clock: deps.clock,
      random: deps.random,
      audit: deps.audit,
      metrics: deps.metrics,
      actor: deps.actor,
      keysetTtlMs: 0,
      rotationPeriodDays: deps.config.rotationPeriodDays ?? DEFAULT_ROTATION_PERIOD_DAYS,
    });

  return withMetricsFlush(deps.metrics, async (event: unknown): Promise<HandlerResult> => {
    let command;
    try {
      command = parseRotationEvent(event);
    } catch (err) {
      await writeAudit(deps, 'rotation_event', 'failure', { code: errorCode(err), detail: 'the event was not understood' }).catch(() => undefined);
      throw err;
    }
    switch (command.kind) {
      case 'rotate':
        return runRotation(deps, command);
      case 'monitor':
        return monitor(deps);
      case 'init':
        return init(deps, manager());
      case 'custom-resource': {
        if (command.requestType === 'Delete') {
          // Deleting the stack's custom resource must never touch key material: the secret's own removal policy decides.
          await writeAudit(deps, 'init', 'skipped', { detail: 'CloudFormation Delete: the keyset secret is left untouched' });
          return { PhysicalResourceId: command.physicalResourceId ?? deps.config.keysetSecretId };
        }
        const done = await init(deps, manager());
        return { PhysicalResourceId: deps.config.keysetSecretId, Data: { Primary: String(done.primary) } };
      }
    }
  }, { remainingTimeMarginMs: 1_000 });
}

/**
 * The id of the monitor's rotation of a primary: the same for every retry on the same primary (so a retry
 * resumes instead of rotating twice), different once the primary changed.
 */
export function dueRotationId(keyset: Keyset): string {
  return `due-v${keyset.primary}-${primaryVersion(keyset).createdAt.slice(0, 10).replace(/-/g, '')}`;
}

async function monitor(deps: RotationDeps): Promise<MonitorResult> {
  let { keyset } = await readForMonitor(deps);
  const { rotationPeriodDays: period, warningWindowDays: window } = deps.config;
  if (period !== null && window !== null && period - ageDays(primaryVersion(keyset).createdAt, deps.clock()) <= window) {
    // Rotate before the warning window's alarm can see the key: the `rate(period)` rule is only the backstop.
    try {
      await runRotation(deps, { kind: 'rotate', rotationId: dueRotationId(keyset), trigger: 'schedule' });
      keyset = (await readForMonitor(deps)).keyset;
    } catch (err) {
      emitKeyMetrics(deps, keyset); // the deadline metric then shows the key inside the window, and the alarm fires
      throw err;
    }
  }
  try {
    const measured = emitKeyMetrics(deps, keyset);
    await writeAudit(deps, 'monitor', 'success', {
      version: keyset.primary,
      detail: `primary ${keyset.primary} is ${measured.keyAgeDays} days old; ${measured.enabledVersions} enabled version(s); ${measured.daysUntilRotationDue === null ? 'manual rotation only' : `rotation due in ${measured.daysUntilRotationDue} days`}`,
    });
    return {
      action: 'monitor',
      primary: keyset.primary,
      keyAgeDays: measured.keyAgeDays,
      daysUntilRotationDue: measured.daysUntilRotationDue,
      rotationOverdue: measured.daysUntilRotationDue !== null && measured.daysUntilRotationDue < 0,
      enabledVersions: measured.enabledVersions,
    };
  } catch (err) {
    await writeAudit(deps, 'monitor', 'failure', { code: errorCode(err) }).catch(() => undefined);
    throw err;
  }
}

async function readForMonitor(deps: RotationDeps): Promise<KeysetSnapshot> {
  try {
    return await deps.store.read();
  } catch (err) {
    deps.metrics.count('KeyRetrievalFailures');
    await writeAudit(deps, 'monitor', 'failure', { code: errorCode(err) }).catch(() => undefined);
    throw err;
  }
}

/** Creates version 1 when the secret holds no keyset; an existing valid keyset is left as it is, an invalid one is reported. */
async function init(deps: RotationDeps, manager: KeyManager): Promise<InitResult> {
  const existing = await readExisting(deps);
  if (existing !== undefined) return existing;
  try {
    const keyset = await manager.init();
    // A new stack's first key age, so the monitor-silent alarm does not wait a day for the first monitor run.
    emitKeyMetrics(deps, keyset);
    return { action: 'init', created: true, primary: keyset.primary };
  } catch (err) {
    // Another init won the race: that is the idempotent outcome, not a failure.
    if (errorCode(err) === 'KEYSET_EXISTS') return (await readExisting(deps)) ?? Promise.reject(err);
    throw err;
  }
}

async function readExisting(deps: RotationDeps): Promise<InitResult | undefined> {
  try {
    const { keyset } = await deps.store.read();
    emitKeyMetrics(deps, keyset);
    await writeAudit(deps, 'init', 'skipped', { version: keyset.primary, detail: `a keyset already exists (primary ${keyset.primary}); it was left untouched` });
    return { action: 'init', created: false, primary: keyset.primary };
  } catch (err) {
    if (errorCode(err) === 'KEYSET_NOT_FOUND') return undefined;
    await writeAudit(deps, 'init', 'failure', { code: errorCode(err) }).catch(() => undefined);
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
    audit: new StreamAuditSink(process.stdout),
    metrics: new CloudWatchMetricsSink({ namespace: config.metricsNamespace, flushIntervalMs: 0 }),
  };
}

let production: ((event: unknown, context?: unknown) => Promise<HandlerResult>) | undefined;

export async function handler(event: unknown, context?: unknown): Promise<HandlerResult> {
  production ??= createHandler(productionDeps(process.env));
  return production(event, context);
}
