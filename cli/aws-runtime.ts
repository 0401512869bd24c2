/**
 * What the CLI adds for `--store aws:...`: the caller's AWS identity as the audit actor, and metrics
 * sent to CloudWatch. The AWS SDK modules are required only when the store is an aws store, so file
 * and env commands start without loading them.
 */
import type { STSClient } from '@aws-sdk/client-sts';
import { awsMaxAttempts, awsRequestHandler } from '../lambda/stores/aws-client-options';
import { parseStoreUri, resolveStoreUri } from '../lambda/stores/open-store';
import type { KeysetStore } from '../lambda/stores/store';
import type { MetricsSink } from '../lambda/telemetry/metrics';
import { printWarning } from './output';
import type { CliIo, GlobalOptions } from './runtime';

function region(options: GlobalOptions, io: CliIo): string | undefined {
  return options.region ?? (io.env.AWS_REGION || io.env.AWS_DEFAULT_REGION || undefined);
}

function isAwsStore(options: GlobalOptions, io: CliIo): boolean {
  try {
    return parseStoreUri(resolveStoreUri(options.store, io.env)).kind === 'aws';
  } catch {
    return false;
  }
}

/** The most the caller-identity lookup may take, retries included: it only names the audit actor. */
export const ACTOR_LOOKUP_TIMEOUT_MS = 3_000;

/**
 * The STS caller identity ARN (e.g. the assumed Key Administrator role session) for aws stores;
 * undefined otherwise or when STS cannot answer within ACTOR_LOOKUP_TIMEOUT_MS, so the key manager falls
 * back to the OS user: an STS that accepts requests and never answers must not hold every command up for
 * its two attempts of 10 s. The explicit --endpoint-url is for Secrets Manager only; STS follows
 * AWS_ENDPOINT_URL(_STS) as the SDK does.
 */
export async function awsActor(options: GlobalOptions, io: CliIo, store: KeysetStore): Promise<string | undefined> {
  if (store.kind !== 'aws') return undefined;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const sts = require('@aws-sdk/client-sts') as typeof import('@aws-sdk/client-sts');
  const r = region(options, io);
  const client: STSClient = new sts.STSClient({ ...(r ? { region: r } : {}), maxAttempts: awsMaxAttempts(2, io.env), requestHandler: awsRequestHandler(io.env) });
  const abort = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const bound = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => {
      abort.abort();
      resolve(undefined);
    }, ACTOR_LOOKUP_TIMEOUT_MS);
  });
  try {
    // The race, not only the abort: credential and endpoint resolution before the request do not see the signal.
    const out = await Promise.race([client.send(new sts.GetCallerIdentityCommand({}), { abortSignal: abort.signal }), bound]);
    return out?.Arn || undefined;
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
    client.destroy();
  }
}

/**
 * A CloudWatch sink for aws stores (flushed, bounded, by the program after each command); undefined
 * otherwise. A batch it could not send is one warning line on stderr: the command's own result stands,
 * but the operator should know its metrics (and any alarm they feed) are missing.
 */
export function awsMetrics(options: GlobalOptions, io: CliIo): MetricsSink | undefined {
  if (!isAwsStore(options, io)) return undefined;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { CloudWatchMetricsSink } = require('../lambda/telemetry/cloudwatch-metrics') as typeof import('../lambda/telemetry/cloudwatch-metrics');
  const r = region(options, io);
  return new CloudWatchMetricsSink({
    ...(r ? { region: r } : {}),
    namespace: io.env.METRICS_NAMESPACE || undefined,
    flushIntervalMs: 0,
    onError: (e) => printWarning(options, io, 'METRICS_NOT_SENT', `metrics were not sent to CloudWatch: ${e.message} (${e.errorName})`),
  });
}
