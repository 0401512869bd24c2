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

/**
 * The STS caller identity ARN (e.g. the assumed Key Administrator role session) for aws stores;
 * undefined otherwise or when STS cannot answer, so the key manager falls back to the OS user. The
 * explicit --endpoint-url is for Secrets Manager only; STS follows AWS_ENDPOINT_URL(_STS) as the SDK does.
 */
export async function awsActor(options: GlobalOptions, io: CliIo, store: KeysetStore): Promise<string | undefined> {
  if (store.kind !== 'aws') return undefined;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const sts = require('@aws-sdk/client-sts') as typeof import('@aws-sdk/client-sts');
  const r = region(options, io);
  const client: STSClient = new sts.STSClient({ ...(r ? { region: r } : {}), maxAttempts: awsMaxAttempts(2, io.env), requestHandler: awsRequestHandler(io.env) });
  try {
    const out = await client.send(new sts.GetCallerIdentityCommand({}));
    return out.Arn || undefined;
  } catch {
    return undefined;
  } finally {
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
