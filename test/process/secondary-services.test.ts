/**
 * Faults in the services a command or the rotation function only uses on the side, and the two settings that
 * bound every AWS call, with the built binary and the bundled handler as processes against the stand-in:
 *
 * - STS GetCallerIdentity (who the audit actor is) failing in any way never fails a command, nor holds it up
 *   for more than 3 s: it succeeds, says nothing about it, and the audit event names the OS user instead of
 *   the caller's ARN.
 * - CloudWatch PutMetricData failing in any way never changes a command's exit status; it costs at most the
 *   3 s flush bound and is exactly one `warning:` line, after the command's own output (or its error line).
 * - A CloudWatch that accepts requests and never answers cannot hold up the rotation function: it never calls it
 *   (its metrics are embedded-metric-format lines in its log, which CloudWatch Logs extracts), and returns in time
 *   with its own outcome and its metrics.
 * - AWS_MAX_ATTEMPTS (the SDK's setting) sets the attempts of every call, and KEY_MANAGER_AWS_REQUEST_TIMEOUT_MS the
 *   time each may take; an invalid value is refused, naming it, before any call is made.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import * as path from 'node:path';
import { createKeyset, type Keyset, parseKeyset, rotateKeyset, serializeKeyset } from '../../lambda/keys/keyset';
import { type AwsStandIn, type FaultRule, bundleRotationHandler, deliverLogs, type InvokeResult, invokeBundle, type ProcessResult, refusedEndpoint, startAwsStandIn } from '../support/aws';
import { CaseTally, cliEnv, FUNCTION_ARN, FUNCTION_NAME, KEYSET, pool, requestsTo, ROTATION_LOG, runCli, SLOW_ATTEMPT_TIMEOUT_MS, stderrLines } from './faults';

const DAY = 86_400_000;
const NOW = Date.now();
const CONCURRENCY = 8;
/**
 * The CLI's 3 s bounds on its side calls (the metrics flush, the caller-identity lookup) plus what a command itself
 * takes, with processes sharing the cores; well under the 20 s of two unbounded 10 s attempts.
 */
const CLI_BOUND_MS = 15_000;
/** A short function timeout: a function that waited on the hung CloudWatch would not return within it. */
const FLUSH_CASE_TIMEOUT_MS = 8_000;
/** Starting Node and loading the bundle, on top of the handler's own time, with processes sharing the cores. */
const INIT_MARGIN_MS = 5_000;
const TOKEN = '7d2b6e0f-4a1c-4e9b-b5d3-2f8c1a6e9b47';
const OS_USER = userInfo().username;
const STAND_IN_ARN = 'arn:aws:iam::123456789012:user/aws-stand-in';

const material = (n: number): string => Buffer.alloc(32, n).toString('base64');
const KEYSET_V1: Keyset = rotateKeyset(createKeyset({ material: material(1), now: new Date(NOW - 200 * DAY).toISOString() }), { material: material(2), now: new Date(NOW - 40 * DAY).toISOString() });

/** A way a secondary service fails: a stand-in fault, or (refused) its endpoint variable pointed where nothing listens. */
interface SideFault {
  readonly name: string;
  /** The error the metrics warning names. */
  readonly errorName: string;
  readonly rule?: Omit<FaultRule, 'service'>;
  readonly env?: NodeJS.ProcessEnv;
  readonly refused?: boolean;
}

const SIDE_FAULTS: readonly SideFault[] = [
  { name: 'refused', errorName: 'ECONNREFUSED', refused: true },
  { name: 'expired token', errorName: 'ExpiredToken', rule: { kind: 'expired-token' } },
  { name: 'access denied', errorName: 'AccessDenied', rule: { kind: 'access-denied' } },
  { name: 'throttled', errorName: 'Throttling', rule: { kind: 'throttle' } },
  { name: 'HTTP 5xx', errorName: 'InternalServiceFault', rule: { kind: 'server-error' } },
  { name: 'slower than the request timeout', errorName: 'TimeoutError', rule: { kind: 'slow', delayMs: 60_000 }, env: { KEY_MANAGER_AWS_REQUEST_TIMEOUT_MS: String(SLOW_ATTEMPT_TIMEOUT_MS) } },
  // The default 10 s per attempt: only a bound of the caller's ends it (the CLI's 3 s metrics flush, its 3 s actor lookup).
  { name: 'never answering', errorName: 'TimeoutError', rule: { kind: 'hang' } },
];

interface CliRun {
  readonly run: ProcessResult;
  readonly keyset: Keyset | undefined;
  readonly audit: Array<{ action: string; outcome: string; actor: string }>;
  readonly requests: Array<{ service: string; operation: string }>;
}

/** One CLI run against its own stand-in holding KEYSET_V1, with `side` applied to `service` (and any other rules). */
async function cli(args: string[], options: { service?: 'sts' | 'monitoring'; side?: SideFault; rules?: FaultRule[]; env?: NodeJS.ProcessEnv; stdin?: string }): Promise<CliRun> {
  const aws = await startAwsStandIn();
  const dir = mkdtempSync(path.join(tmpdir(), 'secondary-'));
  try {
    mkdirSync(path.join(dir, 'home'));
    aws.secretsManager.createSecret(KEYSET, { secretString: serializeKeyset(KEYSET_V1) });
    let env = cliEnv(aws, path.join(dir, 'home'), options.env);
    const { side, service } = options;
    if (side?.rule && service) aws.faults.add({ ...side.rule, service });
    if (side?.refused && service) env = { ...env, [service === 'sts' ? 'AWS_ENDPOINT_URL_STS' : 'AWS_ENDPOINT_URL_CLOUDWATCH']: await refusedEndpoint() };
    if (side?.env) env = { ...env, ...side.env };
    for (const rule of options.rules ?? []) aws.faults.add(rule);
    const auditLog = path.join(dir, 'audit.jsonl');
    const run = await runCli(['--store', `aws:${KEYSET}`, '--audit-log', auditLog, ...args], { env, cwd: dir, stdin: options.stdin });
    let audit: CliRun['audit'] = [];
    try {
      audit = readFileSync(auditLog, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as CliRun['audit'][number]);
    } catch {
      // no audit log: the command wrote none
    }
    const text = aws.secretsManager.value(KEYSET);
    return { run, keyset: text === undefined ? undefined : parseKeyset(text), audit, requests: aws.requests.map((r) => ({ service: r.service, operation: r.operation })) };
  } finally {
    await aws.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

interface HandlerRun {
  readonly invocation: InvokeResult;
  /** Requests the function made to CloudWatch. */
  readonly cloudWatchRequests: number;
  /** The metrics CloudWatch Logs extracted from the function's log. */
  readonly metricNames: readonly string[];
  readonly current?: string;
  readonly attempts: number;
}

let bundle: string;

/** One invocation of the bundle against its own stand-in, with a rotation staged under TOKEN when `staged`. */
async function invoke(event: (aws: AwsStandIn) => unknown, options: { staged?: boolean; rules?: FaultRule[]; env?: NodeJS.ProcessEnv; timeoutMs: number; count?: FaultRule }): Promise<HandlerRun> {
  const aws = await startAwsStandIn();
  try {
    const key = aws.kms.createKey({ rotationEnabled: true });
    const sm = aws.secretsManager;
    sm.createSecret(KEYSET, { kmsKeyId: key.arn, secretString: serializeKeyset(KEYSET_V1) });
    sm.createSecret(ROTATION_LOG, { kmsKeyId: key.arn });
    sm.configureRotation(KEYSET, { lambdaArn: FUNCTION_ARN, rules: { ScheduleExpression: 'rate(90 days)' }, rotateImmediately: false });
    if (options.staged) {
      sm.rotationFunction = async () => {
        throw new Error('invoked by the test instead');
      };
      sm.rotateSecret({ SecretId: KEYSET, ClientRequestToken: TOKEN });
      await sm.rotationsSettled();
      sm.rotationFunction = undefined;
      sm.putSecretValue({ SecretId: KEYSET, ClientRequestToken: TOKEN, SecretString: serializeKeyset(rotateKeyset(KEYSET_V1, { material: material(3), now: new Date().toISOString() })), VersionStages: ['AWSPENDING'] });
    }
    for (const rule of options.rules ?? []) aws.faults.add(rule);
    const env = aws.env({ KEYSET_SECRET_ID: sm.arnOf(KEYSET), ROTATION_LOG_SECRET_ID: sm.arnOf(ROTATION_LOG), STORAGE_KEY_ID: key.arn, ROTATION_PERIOD_DAYS: '90', STAGE: 'prod', ...options.env });
    const invocation = await invokeBundle(bundle, event(aws), { env, timeoutMs: options.timeoutMs, functionName: FUNCTION_NAME, functionArn: FUNCTION_ARN });
    const count = options.count;
    deliverLogs({ logs: aws.logs, logGroup: `/aws/lambda/${FUNCTION_NAME}` }, invocation);
    const metricNames = [...new Set(aws.cloudWatch.datums('AlphaPulse/Encryption').map((d) => d.MetricName))];
    const cloudWatchRequests = aws.requests.filter((r) => r.service === 'monitoring').length;
    return { invocation, cloudWatchRequests, metricNames, current: sm.versionWithStage(KEYSET, 'AWSCURRENT'), attempts: count ? requestsTo(aws, { service: count.service ?? 'secretsmanager', operation: count.operation }, KEYSET) : 0 };
  } finally {
    await aws.close();
  }
}

const stepEvent = (Step: string) => (aws: AwsStandIn) => ({ Step, SecretId: aws.secretsManager.arnOf(KEYSET), ClientRequestToken: TOKEN });
const monitorEvent = () => ({ action: 'monitor' });

/** Every case, run up front several at a time; each `it` then checks one. */
const jobs = new Map<string, () => Promise<unknown>>();
const done = new Map<string, unknown>();
function job<T>(id: string, run: () => Promise<T>): () => T {
  jobs.set(id, run);
  return () => done.get(id) as T;
}

const tally = new CaseTally('secondary services');

const stsCases = SIDE_FAULTS.flatMap((side) => [
  { side, name: 'disable-version', result: job(`sts ${side.name} disable`, () => cli(['disable-version', '--version', '1', '--reason', 'INC-3 retired'], { service: 'sts', side })) },
  { side, name: 'encrypt', result: job(`sts ${side.name} encrypt`, () => cli(['encrypt', '--context', 'trading_data'], { service: 'sts', side, stdin: 'order 7' })) },
]);
const stsHealthy = job('sts healthy', () => cli(['disable-version', '--version', '1', '--reason', 'INC-3 retired'], {}));

const cwCases = SIDE_FAULTS.map((side) => ({
  side,
  ok: job(`cw ${side.name} encrypt`, () => cli(['encrypt', '--context', 'trading_data'], { service: 'monitoring', side, stdin: 'order 7' })),
  failed: job(`cw ${side.name} derive`, () => cli(['derive', '--context', 'trading_data'], { service: 'monitoring', side, rules: [{ service: 'secretsmanager', operation: 'GetSecretValue', kind: 'access-denied' }] })),
}));

const HANG = { service: 'monitoring', kind: 'hang' } as const satisfies FaultRule;
const flushCases = {
  finish: job('flush finishSecret', () => invoke(stepEvent('finishSecret'), { staged: true, rules: [HANG], timeoutMs: FLUSH_CASE_TIMEOUT_MS })),
  monitor: job('flush monitor', () => invoke(monitorEvent, { rules: [HANG], timeoutMs: FLUSH_CASE_TIMEOUT_MS })),
  failing: job('flush failing testSecret', () =>
    invoke(stepEvent('testSecret'), { staged: true, rules: [HANG, { service: 'secretsmanager', operation: 'GetSecretValue', kind: 'access-denied' }], timeoutMs: FLUSH_CASE_TIMEOUT_MS }),
  ),
};

const THROTTLED_READ: FaultRule = { service: 'secretsmanager', operation: 'GetSecretValue', kind: 'throttle' };
const settings = {
  cliTwoAttempts: job('cli AWS_MAX_ATTEMPTS=2', () => cli(['status'], { rules: [THROTTLED_READ], env: { AWS_MAX_ATTEMPTS: '2' } })),
  cliOneSlowAttempt: job('cli AWS_MAX_ATTEMPTS=1 slow', () =>
    cli(['status'], { rules: [{ service: 'secretsmanager', operation: 'GetSecretValue', kind: 'slow', delayMs: 60_000 }], env: { AWS_MAX_ATTEMPTS: '1', KEY_MANAGER_AWS_REQUEST_TIMEOUT_MS: '500' } }),
  ),
  cliBadAttempts: job('cli AWS_MAX_ATTEMPTS=0', () => cli(['status'], { env: { AWS_MAX_ATTEMPTS: '0' } })),
  cliBadTimeout: job('cli bad timeout', () => cli(['status'], { env: { KEY_MANAGER_AWS_REQUEST_TIMEOUT_MS: '10s' } })),
  handlerOneAttempt: job('handler AWS_MAX_ATTEMPTS=1', () => invoke(monitorEvent, { rules: [THROTTLED_READ], env: { AWS_MAX_ATTEMPTS: '1' }, timeoutMs: 30_000, count: THROTTLED_READ })),
  handlerBadTimeout: job('handler bad timeout', () => invoke(monitorEvent, { env: { KEY_MANAGER_AWS_REQUEST_TIMEOUT_MS: '0' }, timeoutMs: 30_000 })),
};

beforeAll(async () => {
  bundle = await bundleRotationHandler();
  await pool([...jobs], CONCURRENCY, async ([id, run]) => {
    done.set(id, await run());
  });
}, 600_000);

afterAll(() => tally.print());

const lastAudit = (r: CliRun, action: string) => r.audit.filter((e) => e.action === action).at(-1);

describe('STS GetCallerIdentity failing (the audit actor)', () => {
  it('when it answers, the audit event names the caller it identifies', () => {
    tally.check(() => {
      const r = stsHealthy();
      expect({ exit: r.run.code, stderr: r.run.stderr }).toEqual({ exit: 0, stderr: '' });
      expect(lastAudit(r, 'disable_version')).toMatchObject({ outcome: 'success', actor: STAND_IN_ARN });
    });
  });

  it.each(stsCases.map((c) => [c.side.name, c.name, c] as const))('%s: %s succeeds as if nothing happened, audited as the OS user', (_fault, name, c) => {
    tally.check(() => {
      const r = c.result();
      expect({ exit: r.run.code, stderr: r.run.stderr, timedOut: r.run.timedOut }).toEqual({ exit: 0, stderr: '', timedOut: false });
      // It was asked (a refused connection never reaches the stand-in).
      if (!c.side.refused) expect(r.requests.filter((q) => q.service === 'sts').length).toBeGreaterThan(0);
      if (name === 'disable-version') {
        expect(r.run.stdout).toMatch(/^disabled version 1: data under it no longer decrypts\n/);
        expect(r.keyset?.versions.find((v) => v.version === 1)).toMatchObject({ state: 'disabled', reason: 'INC-3 retired' });
        expect(lastAudit(r, 'disable_version')).toMatchObject({ outcome: 'success', actor: OS_USER });
      } else {
        expect(JSON.parse(r.run.stdout)).toMatchObject({ key_version: 2, context: 'trading_data', format: 'AP2' });
        expect(lastAudit(r, 'encrypt')).toMatchObject({ outcome: 'success', actor: OS_USER });
      }
      expect(r.run.durationMs).toBeLessThan(CLI_BOUND_MS);
    });
  });
});

describe('CloudWatch PutMetricData failing (the metrics)', () => {
  it.each(cwCases.map((c) => [c.side.name, c] as const))('%s: encrypt still exits 0 with its envelope, and one warning line says the metrics were not sent', (_fault, c) => {
    tally.check(() => {
      const r = c.ok();
      const lines = stderrLines(r.run.stderr);
      expect({ exit: r.run.code, timedOut: r.run.timedOut, errors: lines.errors, other: lines.other }).toEqual({ exit: 0, timedOut: false, errors: [], other: [] });
      expect(JSON.parse(r.run.stdout)).toMatchObject({ key_version: 2, context: 'trading_data' });
      const why = c.side.name === 'never answering' ? 'did not finish within the 3000 ms flush bound' : 'failed twice';
      expect(lines.warnings).toHaveLength(1);
      expect(lines.warnings[0]).toMatch(new RegExp(`^warning: metrics were not sent to CloudWatch: PutMetricData ${why}; dropped \\d+ datum\\(s\\) for AlphaPulse/Encryption \\(${c.side.errorName}\\)$`));
      expect(r.requests.filter((q) => q.service === 'monitoring').length).toBe(c.side.refused ? 0 : c.side.name === 'never answering' ? 1 : 2);
      expect(r.run.durationMs).toBeLessThan(CLI_BOUND_MS);
    });
  });

  it.each(cwCases.map((c) => [c.side.name, c] as const))('%s: a derive denied by Secrets Manager still exits 1 with its one error line, then the one warning', (_fault, c) => {
    tally.check(() => {
      const r = c.failed();
      const lines = r.run.stderr.split('\n').filter(Boolean);
      expect({ exit: r.run.code, stdout: r.run.stdout, timedOut: r.run.timedOut }).toEqual({ exit: 1, stdout: '', timedOut: false });
      expect(lines).toEqual([expect.stringMatching(/^error \[ACCESS_DENIED\]: access denied to secretsmanager:GetSecretValue /), expect.stringMatching(/^warning: metrics were not sent to CloudWatch: /)]);
      expect(r.run.durationMs).toBeLessThan(CLI_BOUND_MS);
    });
  });
});

describe('the rotation function with a CloudWatch that never answers', () => {
  const inTime = (r: HandlerRun) => {
    // Settled before the function timeout, counted from the handler's call as Lambda counts it (the process also
    // starts Node and loads the bundle, Lambda's init phase, which has a budget of its own).
    expect(r.invocation.timedOut).toBe(false);
    expect(r.invocation.durationMs).toBeLessThan(FLUSH_CASE_TIMEOUT_MS + INIT_MARGIN_MS);
    // It never asked CloudWatch: its metrics are embedded-metric-format lines in its log, which CloudWatch Logs extracts.
    expect(r.cloudWatchRequests).toBe(0);
    expect(r.metricNames.length).toBeGreaterThan(0);
  };

  it('a finishSecret that promoted the version returns success in time, the rotation done', () => {
    tally.check(() => {
      const r = flushCases.finish();
      expect({ ok: r.invocation.ok, result: r.invocation.result, error: r.invocation.errorMessage }).toMatchObject({ ok: true, result: { step: 'finishSecret', status: 'completed' } });
      expect(r.current).toBe(TOKEN);
      inTime(r);
    });
  });

  it('the monitor returns its measurements in time', () => {
    tally.check(() => {
      const r = flushCases.monitor();
      expect({ ok: r.invocation.ok, result: r.invocation.result, error: r.invocation.errorMessage }).toMatchObject({ ok: true, result: { action: 'monitor', primary: 2 } });
      inTime(r);
    });
  });

  it('a testSecret denied its read fails in time with ACCESS_DENIED, not a timeout', () => {
    tally.check(() => {
      const r = flushCases.failing();
      expect({ ok: r.invocation.ok, code: r.invocation.errorCode }).toEqual({ ok: false, code: 'ACCESS_DENIED' });
      expect(r.current).not.toBe(TOKEN);
      inTime(r);
    });
  });
});

describe('AWS_MAX_ATTEMPTS and KEY_MANAGER_AWS_REQUEST_TIMEOUT_MS', () => {
  it('AWS_MAX_ATTEMPTS=2: the CLI makes two attempts of a throttled read, then THROTTLED', () => {
    tally.check(() => {
      const r = settings.cliTwoAttempts();
      expect({ exit: r.run.code, stderr: r.run.stderr }).toMatchObject({ exit: 1, stderr: expect.stringMatching(/^error \[THROTTLED\]: /) });
      expect(r.requests.filter((q) => q.operation === 'GetSecretValue')).toHaveLength(2);
    });
  });

  it('AWS_MAX_ATTEMPTS=1 with a 500 ms request timeout: one attempt, given up after half a second', () => {
    tally.check(() => {
      const r = settings.cliOneSlowAttempt();
      expect({ exit: r.run.code, stderr: r.run.stderr }).toMatchObject({ exit: 1, stderr: expect.stringMatching(/^error \[STORE_UNAVAILABLE\]: cannot reach Secrets Manager for GetSecretValue .*\(TimeoutError\)/) });
      expect(r.requests.filter((q) => q.operation === 'GetSecretValue')).toHaveLength(1);
      expect(r.run.durationMs).toBeLessThan(CLI_BOUND_MS);
    });
  });

  it.each([
    ['AWS_MAX_ATTEMPTS=0', () => settings.cliBadAttempts(), /^error \[INVALID_INPUT\]: AWS_MAX_ATTEMPTS must be a whole number of attempts from 1 .*got '0'/],
    ['KEY_MANAGER_AWS_REQUEST_TIMEOUT_MS=10s', () => settings.cliBadTimeout(), /^error \[INVALID_INPUT\]: KEY_MANAGER_AWS_REQUEST_TIMEOUT_MS must be a whole number of milliseconds from 100 to 300000 .*got '10s'/],
  ])('%s is a usage error naming it, before any AWS call', (_name, result, message) => {
    tally.check(() => {
      const r = result();
      expect({ exit: r.run.code, stdout: r.run.stdout }).toEqual({ exit: 2, stdout: '' });
      expect(r.run.stderr).toMatch(message);
      expect(r.requests).toEqual([]);
    });
  });

  it('the rotation function honours AWS_MAX_ATTEMPTS=1: one attempt of a throttled read', () => {
    tally.check(() => {
      const r = settings.handlerOneAttempt();
      expect({ ok: r.invocation.ok, code: r.invocation.errorCode }).toEqual({ ok: false, code: 'THROTTLED' });
      expect(r.attempts).toBe(1);
    });
  });

  it('the rotation function refuses an invalid KEY_MANAGER_AWS_REQUEST_TIMEOUT_MS loudly, naming it', () => {
    tally.check(() => {
      const r = settings.handlerBadTimeout();
      expect({ ok: r.invocation.ok, code: r.invocation.errorCode, message: r.invocation.errorMessage }).toMatchObject({ ok: false, code: 'INVALID_INPUT', message: expect.stringContaining('KEY_MANAGER_AWS_REQUEST_TIMEOUT_MS must be') });
      expect(r.current).toBeDefined();
    });
  });
});
