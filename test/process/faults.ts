/**
 * What the process-level fault suites share: the faults an operator or the rotation function meets against
 * AWS, how each is injected into the stand-in (or the environment), the error code and the kind of hint each
 * must produce, a snapshot of everything the stand-in holds (to prove a failure changed nothing), and the
 * CLI binary as a process.
 *
 * The faults, as the suites inject them:
 *
 * | fault          | how                                                                              | code              |
 * | -------------- | -------------------------------------------------------------------------------- | ----------------- |
 * | refused        | AWS_ENDPOINT_URL points at a port where nothing listens (every service)          | STORE_UNAVAILABLE |
 * | no-region      | no AWS_REGION / AWS_DEFAULT_REGION, HOME without ~/.aws (every service)           | INVALID_INPUT     |
 * | expired-token  | the operation answers ExpiredToken(Exception), every attempt                      | ACCESS_DENIED     |
 * | access-denied  | the operation answers AccessDenied(Exception), every attempt                      | ACCESS_DENIED     |
 * | throttle       | the operation is throttled on every attempt, beyond the SDK's retries             | THROTTLED         |
 * | server-error   | the operation answers HTTP 500/503 on every attempt, beyond the SDK's retries     | STORE_UNAVAILABLE |
 * | slow           | the operation answers only after 60 s; KEY_MANAGER_AWS_REQUEST_TIMEOUT_MS=1000    | STORE_UNAVAILABLE |
 *
 * `slow` is a response slower than the client's per-attempt timeout, which the operator setting shortens from
 * 10 s to 1 s so that the SDK's four attempts take seconds, not a minute; the delayed answer never lands while
 * the case runs (the stand-in drops it when it closes), so the state compared afterwards is final.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { type AwsStandIn, type FaultKind, type ProcessResult, refusedEndpoint, runProcess, type ServiceName } from '../support/aws';

export const REPO = path.resolve(__dirname, '..', '..');
export const CLI = path.join(REPO, 'dist', 'bin', 'key-manager.js');
export const KEYSET = 'alphapulse/encryption/master_key';
export const ROTATION_LOG = 'alphapulse/encryption/rotation_log';
export const BUCKET = 'alphapulse-keys-prod-backups';
export const LOG_GROUP = '/aws/lambda/alphapulse-keys-prod-rotation';
export const FUNCTION_NAME = 'alphapulse-keys-prod-rotation';
export const FUNCTION_ARN = `arn:aws:lambda:us-east-1:123456789012:function:${FUNCTION_NAME}`;

export const FAULTS = ['refused', 'no-region', 'expired-token', 'access-denied', 'throttle', 'server-error', 'slow'] as const;
export type FaultName = (typeof FAULTS)[number];

/** The per-attempt timeout the `slow` cases set (KEY_MANAGER_AWS_REQUEST_TIMEOUT_MS), and how late the answer comes. */
export const SLOW_ATTEMPT_TIMEOUT_MS = 1_000;
const SLOW_ANSWER_MS = 60_000;

/** The call a fault is aimed at: one operation of one service, or (operation omitted) every call to the service. */
export interface Target {
  readonly service: ServiceName;
  readonly operation?: string;
}

const KINDS: Readonly<Record<Exclude<FaultName, 'refused' | 'no-region' | 'slow'>, FaultKind>> = {
  'expired-token': 'expired-token',
  'access-denied': 'access-denied',
  throttle: 'throttle',
  'server-error': 'server-error',
};

/**
 * Injects `fault` against `target` (or, for refused and no-region, the whole environment) and returns the
 * environment the process should run with. `emptyHome` must be a directory with no `.aws` in it.
 */
export async function injectFault(aws: AwsStandIn, fault: FaultName, target: Target | 'everything', env: NodeJS.ProcessEnv, emptyHome: string): Promise<NodeJS.ProcessEnv> {
  const aim = target === 'everything' ? {} : { service: target.service, ...(target.operation ? { operation: target.operation } : {}) };
  switch (fault) {
    case 'refused':
      return { ...env, AWS_ENDPOINT_URL: await refusedEndpoint() };
    case 'no-region':
      // The SDK's region chain is the environment, then the shared config file (~/.aws/config): neither has one.
      return { ...env, AWS_REGION: undefined, AWS_DEFAULT_REGION: undefined, AWS_CONFIG_FILE: undefined, AWS_SHARED_CREDENTIALS_FILE: undefined, HOME: emptyHome };
    case 'slow':
      aws.faults.add({ ...aim, kind: 'slow', delayMs: SLOW_ANSWER_MS });
      return { ...env, KEY_MANAGER_AWS_REQUEST_TIMEOUT_MS: String(SLOW_ATTEMPT_TIMEOUT_MS) };
    default:
      aws.faults.add({ ...aim, kind: KINDS[fault] });
      return env;
  }
}

/** The error code each fault must produce. */
export const EXPECTED_CODE: Readonly<Record<FaultName, string>> = {
  refused: 'STORE_UNAVAILABLE',
  'no-region': 'INVALID_INPUT',
  'expired-token': 'ACCESS_DENIED',
  'access-denied': 'ACCESS_DENIED',
  throttle: 'THROTTLED',
  'server-error': 'STORE_UNAVAILABLE',
  slow: 'STORE_UNAVAILABLE',
};

/** What the message must tell the operator to do, per fault. */
export const EXPECTED_HINT: Readonly<Record<FaultName, RegExp>> = {
  refused: /check the network path/,
  'no-region': /pass --region or set AWS_REGION/,
  'expired-token': /credentials have expired.*(refresh|renew)/,
  'access-denied': /run with the stack's [A-Za-z ]+ role/,
  throttle: /wait a minute and retry/,
  'server-error': /retry shortly|then retry/,
  slow: /check the network path/,
};

/** Secrets Manager calls that change something: when their answer never comes, the message must say the outcome is unknown. */
export const WRITES: ReadonlySet<string> = new Set(['PutSecretValue', 'UpdateSecretVersionStage', 'RotateSecret']);

/** Whether the SDK retries the fault (so the stand-in must see more than one attempt of the target). */
export function isRetried(fault: FaultName): boolean {
  return fault === 'throttle' || fault === 'server-error' || fault === 'slow';
}

/** Attempts each client makes by default: Secrets Manager 4 (ours), S3 and CloudWatch Logs 3 (the SDK's). */
export function defaultAttempts(service: ServiceName): number {
  return service === 'secretsmanager' ? 4 : 3;
}

/** How many requests the stand-in received for `target`; with `secret`, only those naming that secret (by name or ARN). */
export function requestsTo(aws: AwsStandIn, target: Target, secret?: string): number {
  const ids = secret === undefined ? undefined : [secret, aws.secretsManager.arnOf(secret)];
  return aws.requests.filter((r) => r.service === target.service && (target.operation === undefined || r.operation === target.operation) && (ids === undefined || ids.includes(r.input.SecretId as string))).length;
}

/**
 * Everything a command could change, as one comparable string: each secret's versions (ids, labels, values),
 * rotation configuration and dates; S3 objects (keys and ETags); log events; and the given local files
 * (existence and content hash). KMS is left out: nothing here can change a key.
 */
export function snapshot(aws: AwsStandIn, secrets: readonly string[], files: readonly string[] = []): string {
  const sm = aws.secretsManager;
  return JSON.stringify({
    secrets: secrets.map((s) => ({
      secret: s,
      versions: sm.versions(s).map((v) => ({ id: v.versionId, stages: [...v.stages].sort(), value: v.secretString, hasValue: v.hasValue })),
      rotationEnabled: sm.rotationEnabled(s),
      lastRotated: sm.lastRotatedDate(s)?.toISOString(),
    })),
    s3: aws.s3.keys(BUCKET).map((k) => [k, aws.s3.object(BUCKET, k)?.etag]),
    logs: aws.logs.events(LOG_GROUP).length,
    files: files.map((f) => [f, existsSync(f) ? createHash('sha256').update(readFileSync(f)).digest('hex') : null]),
  });
}

/** The binary's environment: nothing of this process's but PATH; the stand-in's endpoint, region and test key. */
export function cliEnv(aws: AwsStandIn, home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: home, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...aws.env(), ...extra };
}

/** Runs `node dist/bin/key-manager.js ...args` as an operator's shell would (no --no-warnings: a Node warning is output too). */
export function runCli(args: readonly string[], options: { env: NodeJS.ProcessEnv; cwd: string; stdin?: string; timeoutMs?: number }): Promise<ProcessResult> {
  return runProcess(process.execPath, [CLI, ...args], { env: options.env, cwd: options.cwd, stdin: options.stdin, timeoutMs: options.timeoutMs ?? 60_000 });
}

/** stderr split into the `error [CODE]: ...` lines, the `warning: ...` lines, and anything else. */
export function stderrLines(stderr: string): { errors: string[]; warnings: string[]; other: string[] } {
  const lines = stderr.split('\n').filter((l) => l !== '');
  return {
    errors: lines.filter((l) => l.startsWith('error [')),
    warnings: lines.filter((l) => l.startsWith('warning: ')),
    other: lines.filter((l) => !l.startsWith('error [') && !l.startsWith('warning: ')),
  };
}

/** Runs `work` over `items` with at most `limit` at a time; results in input order. */
export async function pool<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]);
    }
  });
  await Promise.all(runners);
  return results;
}

/** Counts cases and failures for the suite's summary line (`[process] <suite>: N cases, M failures`). */
export class CaseTally {
  cases = 0;
  failures = 0;

  constructor(readonly suite: string) {}

  /** Runs one case's assertions, counting it and (if they throw) its failure. */
  check(assertions: () => void): void {
    this.cases++;
    try {
      assertions();
    } catch (err) {
      this.failures++;
      throw err;
    }
  }

  print(): void {
    process.stdout.write(`[process] ${this.suite}: ${this.cases} cases, ${this.failures} failures\n`);
  }
}
