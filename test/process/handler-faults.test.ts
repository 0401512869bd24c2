/**
 * No silent success, for the rotation function: the esbuild bundle (built as the CDK construct builds it) run
 * as Lambda runs it, one process per invocation, for each event it acts on — the daily monitor (EventBridge
 * scheduled event), each of Secrets Manager's four rotation steps, and CloudFormation's custom-resource Create
 * (init) — under every fault of ./faults.ts aimed at the call the event exists to make.
 *
 * Each (event × fault) case asserts:
 * - the invocation fails (ok false) with the fault's error code, and returns before the function timeout
 *   (never a Sandbox.Timedout: the per-attempt timeout ends it first, and its metrics flush is a write to its log);
 * - the keyset secret is exactly what it was (versions, labels, values; AWSPENDING still where Secrets
 *   Manager staged it), and the rotation log holds no success;
 * - the error message names the call that failed (and, for a change whose answer never came, that it may have
 *   been made);
 * - the SDK retried what it retries, 4 attempts of the Secrets Manager call on the keyset (a failed step then
 *   tries to note the failure in the rotation log, which the same fault also stops).
 *
 * (A CloudWatch that never answers cannot hold the function up either, since it never calls CloudWatch:
 * secondary-services.test.ts.)
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createKeyset, type Keyset, rotateKeyset, serializeKeyset } from '../../lambda/keys/keyset';
import { parseRotationLog } from '../../lambda/rotation/rotation-log';
import { type AwsStandIn, bundleRotationHandler, type InvokeResult, invokeBundle, startAwsStandIn } from '../support/aws';
import {
  CaseTally,
  defaultAttempts,
  EXPECTED_CODE,
  FAULTS,
  type FaultName,
  FUNCTION_ARN,
  FUNCTION_NAME,
  injectFault,
  isRetried,
  KEYSET,
  pool,
  requestsTo,
  ROTATION_LOG,
  snapshot,
  type Target,
  WRITES,
} from './faults';

const DAY = 86_400_000;
/** The function timeout the cases run under (the stack's is 2 minutes). */
const FUNCTION_TIMEOUT_MS = 30_000;
const CONCURRENCY = 8;
const TOKEN = '3c1e5a4b-9f2d-4c7e-8a61-0d5b2f9e7c13';

const material = (n: number): string => Buffer.alloc(32, n).toString('base64');

interface Ctx {
  readonly aws: AwsStandIn;
  readonly keyset: Keyset;
}

interface EventCase {
  readonly name: string;
  /** Seeds the stand-in as Secrets Manager or CloudFormation would have left it; returns the event. */
  readonly setup: (ctx: Ctx) => Promise<unknown> | unknown;
  /** The call the event exists to make: where the fault is aimed. */
  readonly target: Target;
  /** The first call it makes, which a refused connection or a missing region fails. */
  readonly first: string;
  /** The keyset secret starts empty (CloudFormation created it without a value). */
  readonly emptySecret?: boolean;
}

const SM = (operation: string): Target => ({ service: 'secretsmanager', operation });

/** What RotateSecret leaves: a version under TOKEN labelled AWSPENDING, with no value yet (createSecret fills it). */
async function stagePlaceholder(ctx: Ctx): Promise<void> {
  const sm = ctx.aws.secretsManager;
  // The rotation Secrets Manager starts fails at once: the test, not the model, invokes the function step by step.
  sm.rotationFunction = async () => {
    throw new Error('invoked by the test instead');
  };
  sm.rotateSecret({ SecretId: KEYSET, ClientRequestToken: TOKEN });
  await sm.rotationsSettled();
  sm.rotationFunction = undefined;
}

/** What a createSecret that succeeded leaves: the next keyset under TOKEN, still AWSPENDING. */
async function stageCandidate(ctx: Ctx): Promise<void> {
  await stagePlaceholder(ctx);
  const candidate = rotateKeyset(ctx.keyset, { material: material(8), now: new Date().toISOString() });
  ctx.aws.secretsManager.putSecretValue({ SecretId: KEYSET, ClientRequestToken: TOKEN, SecretString: serializeKeyset(candidate), VersionStages: ['AWSPENDING'] });
}

const step = (Step: string, ctx: Ctx) => ({ Step, SecretId: ctx.aws.secretsManager.arnOf(KEYSET), ClientRequestToken: TOKEN });

const EVENTS: readonly EventCase[] = [
  {
    name: 'monitor (EventBridge schedule)',
    setup: () => ({ version: '0', id: randomUUID(), 'detail-type': 'Scheduled Event', source: 'aws.events', account: '123456789012', time: new Date().toISOString(), region: 'us-east-1', resources: ['arn:aws:events:us-east-1:123456789012:rule/alphapulse-keys-prod-monitor'], detail: {} }),
    target: SM('GetSecretValue'),
    // The storage key is measured first: when it is disabled, it is the one figure that says why nothing else reads.
    first: 'DescribeKey',
  },
  { name: 'createSecret', setup: async (ctx) => (await stagePlaceholder(ctx), step('createSecret', ctx)), target: SM('PutSecretValue'), first: 'DescribeSecret' },
  // setSecret changes nothing anywhere; what it must do is check the event against the secret (DescribeSecret).
  { name: 'setSecret', setup: async (ctx) => (await stageCandidate(ctx), step('setSecret', ctx)), target: SM('DescribeSecret'), first: 'DescribeSecret' },
  { name: 'testSecret', setup: async (ctx) => (await stageCandidate(ctx), step('testSecret', ctx)), target: SM('GetSecretValue'), first: 'DescribeSecret' },
  { name: 'finishSecret', setup: async (ctx) => (await stageCandidate(ctx), step('finishSecret', ctx)), target: SM('UpdateSecretVersionStage'), first: 'DescribeSecret' },
  {
    name: 'custom resource Create (init)',
    emptySecret: true,
    setup: () => ({
      RequestType: 'Create',
      ServiceToken: FUNCTION_ARN,
      ResponseURL: 'https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/stand-in',
      StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/AlphaPulseKeys-prod/11111111-2222-3333-4444-555555555555',
      RequestId: randomUUID(),
      LogicalResourceId: 'KeysetInit',
      ResourceType: 'Custom::KeysetInit',
      ResourceProperties: { ServiceToken: FUNCTION_ARN },
    }),
    target: SM('PutSecretValue'),
    first: 'GetSecretValue',
  },
];

interface CaseResult {
  readonly invocation: InvokeResult;
  readonly before: string;
  readonly after: string;
  readonly attempts: number;
  /** Rotation-log outcomes after the invocation. */
  readonly logOutcomes: string[];
}

let bundle: string;

/** A stand-in seeded as the stack leaves it: the KMS key, the keyset (40 days old), the empty rotation log, rotation configured. */
async function standIn(emptySecret: boolean): Promise<{ aws: AwsStandIn; ctx: Ctx; functionEnv: NodeJS.ProcessEnv }> {
  const aws = await startAwsStandIn();
  const key = aws.kms.createKey({ rotationEnabled: true });
  const keyset = createKeyset({ material: material(1), now: new Date(Date.now() - 40 * DAY).toISOString() });
  aws.secretsManager.createSecret(KEYSET, { kmsKeyId: key.arn, ...(emptySecret ? {} : { secretString: serializeKeyset(keyset) }) });
  aws.secretsManager.createSecret(ROTATION_LOG, { kmsKeyId: key.arn });
  aws.secretsManager.configureRotation(KEYSET, { lambdaArn: FUNCTION_ARN, rules: { ScheduleExpression: 'rate(90 days)', Duration: '4h' }, rotateImmediately: false });
  const functionEnv = aws.env({
    KEYSET_SECRET_ID: aws.secretsManager.arnOf(KEYSET),
    ROTATION_LOG_SECRET_ID: aws.secretsManager.arnOf(ROTATION_LOG),
    STORAGE_KEY_ID: key.arn,
    ROTATION_PERIOD_DAYS: '90',
    STAGE: 'prod',
  });
  return { aws, ctx: { aws, keyset }, functionEnv };
}

function logOutcomes(aws: AwsStandIn): string[] {
  const text = aws.secretsManager.value(ROTATION_LOG);
  return text === undefined ? [] : parseRotationLog(text).entries.map((e) => e.outcome);
}

async function runCase(event: EventCase, fault: FaultName): Promise<CaseResult> {
  const { aws, ctx, functionEnv } = await standIn(event.emptySecret === true);
  const home = mkdtempSync(path.join(tmpdir(), 'handler-faults-'));
  try {
    mkdirSync(path.join(home, 'empty'));
    const payload = await event.setup(ctx);
    const before = snapshot(aws, [KEYSET]);
    const env = await injectFault(aws, fault, event.target, { ...functionEnv, HOME: home }, path.join(home, 'empty'));
    const invocation = await invokeBundle(bundle, payload, { env, timeoutMs: FUNCTION_TIMEOUT_MS, functionName: FUNCTION_NAME, functionArn: FUNCTION_ARN });
    return { invocation, before, after: snapshot(aws, [KEYSET]), attempts: requestsTo(aws, event.target, KEYSET), logOutcomes: logOutcomes(aws) };
  } finally {
    await aws.close();
    rmSync(home, { recursive: true, force: true });
  }
}

const results = new Map<string, CaseResult>();
const key = (event: string, fault: string) => `${event} × ${fault}`;
const tally = new CaseTally('handler faults');

beforeAll(async () => {
  bundle = await bundleRotationHandler();
  const cases = FAULTS.flatMap((fault) => EVENTS.map((event) => ({ event, fault })));
  await pool(cases, CONCURRENCY, async ({ event, fault }) => {
    results.set(key(event.name, fault), await runCase(event, fault));
  });
}, 600_000);

afterAll(() => tally.print());

describe.each(FAULTS)('under %s', (fault) => {
  it.each(EVENTS.map((e) => [e.name, e] as const))('%s fails with its code, in time, changing nothing', (_name, event) => {
    const r = results.get(key(event.name, fault)) as CaseResult;
    tally.check(() => {
      const { invocation } = r;
      expect({ ok: invocation.ok, timedOut: invocation.timedOut, code: invocation.errorCode, message: invocation.errorMessage }).toMatchObject({ ok: false, timedOut: false, code: EXPECTED_CODE[fault] });
      expect(invocation.errorMessage).toContain(fault === 'refused' || fault === 'no-region' ? event.first : event.target.operation);
      if (fault === 'slow' && WRITES.has(event.target.operation ?? '')) expect(invocation.errorMessage).toMatch(/whether it was applied is unknown/);
      expect(invocation.durationMs).toBeLessThan(FUNCTION_TIMEOUT_MS);
      expect(r.after).toBe(r.before);
      expect(r.logOutcomes.filter((o) => o === 'success')).toEqual([]);
      if (isRetried(fault)) expect({ attempts: r.attempts }).toEqual({ attempts: defaultAttempts('secretsmanager') });
    });
  });
});
