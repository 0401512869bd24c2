/**
 * The rotation function as Lambda runs it and Secrets Manager drives it: the esbuild bundle (built exactly
 * as the CDK construct builds it) in its own Node.js process per invocation, its real SDK clients talking
 * to the loopback stand-in over the AWS JSON protocols, and the stand-in's Secrets Manager running its own
 * rotation sequence (RotateSecret stages an empty AWSPENDING under the token, then invokes the function with
 * createSecret, setSecret, testSecret, finishSecret). The key-manager CLI runs as a process too.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { GetSecretValueCommand, RotateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createKeyset, type Keyset, parseKeyset, preservesVersions, serializeKeyset } from '../../lambda/keys/keyset';
import { parseRotationLog } from '../../lambda/rotation/rotation-log';
import { type AwsStandIn, bundleRotationFunction, bundleRotationHandler, invokeBundle, type RotationFunction, runProcess, startAwsStandIn } from '../support/aws';

const CLI = path.join(__dirname, '..', '..', 'dist', 'bin', 'key-manager.js');
const KEYSET = 'alphapulse/encryption/master_key';
const LOG = 'alphapulse/encryption/rotation_log';
const FUNCTION_ARN = 'arn:aws:lambda:us-east-1:123456789012:function:alphapulse-keys-prod-rotation';

let bundle: string;
let aws: AwsStandIn;
let initial: Keyset;
let functionEnv: NodeJS.ProcessEnv;
let dir: string;

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first (npm test does)`);
  bundle = await bundleRotationHandler();
}, 120_000);

beforeEach(async () => {
  aws = await startAwsStandIn();
  dir = mkdtempSync(path.join(tmpdir(), 'rotation-protocol-'));
  const key = aws.kms.createKey({ rotationEnabled: true });
  initial = createKeyset({ material: Buffer.alloc(32, 7).toString('base64'), now: new Date(Date.now() - 40 * 86_400_000).toISOString() });
  aws.secretsManager.createSecret(KEYSET, { kmsKeyId: key.arn, secretString: serializeKeyset(initial) });
  aws.secretsManager.createSecret(LOG, { kmsKeyId: key.arn });
  functionEnv = aws.env({
    KEYSET_SECRET_ID: aws.secretsManager.arnOf(KEYSET),
    ROTATION_LOG_SECRET_ID: aws.secretsManager.arnOf(LOG),
    STORAGE_KEY_ID: key.arn,
    ROTATION_PERIOD_DAYS: '90',
    STAGE: 'prod',
  });
  setFunction(bundleRotationFunction(bundle, functionEnv, { functionArn: FUNCTION_ARN, functionName: 'alphapulse-keys-prod-rotation', timeoutMs: 20_000, logsTo: functionLogs() }));
  aws.secretsManager.configureRotation(KEYSET, { lambdaArn: FUNCTION_ARN, rules: { ScheduleExpression: 'rate(90 days)', Duration: '4h' }, rotateImmediately: false });
});

afterEach(async () => {
  await aws.secretsManager.rotationsSettled();
  await aws.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The function's log group: its metrics are embedded-metric-format lines there, which CloudWatch Logs extracts. */
const functionLogs = () => ({ logs: aws.logs, logGroup: '/aws/lambda/alphapulse-keys-prod-rotation' });

function setFunction(fn: RotationFunction): void {
  aws.secretsManager.rotationFunction = fn;
}

const sm = () => new SecretsManagerClient(aws.clientConfig());
const current = (): Keyset => parseKeyset(aws.secretsManager.value(KEYSET) as string);
const currentId = () => aws.secretsManager.versionWithStage(KEYSET, 'AWSCURRENT');
const valuedVersions = () => aws.secretsManager.versions(KEYSET).filter((v) => v.hasValue);
const log = () => parseRotationLog(aws.secretsManager.value(LOG));
const snapshot = () => JSON.stringify([aws.secretsManager.versions(KEYSET), aws.secretsManager.versions(LOG)]);

async function rotateSecret(token: string): Promise<void> {
  const client = sm();
  await client.send(new RotateSecretCommand({ SecretId: KEYSET, ClientRequestToken: token })).catch((err: { name?: string }) => {
    if (err.name !== 'InvalidRequestException') throw err;
  });
  client.destroy();
  await aws.secretsManager.rotationsSettled();
}

function cli(args: string[], timeoutMs = 60_000) {
  return runProcess(process.execPath, ['--no-warnings', CLI, '--store', `aws:${KEYSET}`, '--audit-log', path.join(dir, 'audit.jsonl'), ...args], {
    env: { PATH: process.env.PATH, HOME: dir, ...aws.env() },
    timeoutMs,
  });
}

describe('the bundled rotation function under Secrets Manager', () => {
  it('one RotateSecret: four steps, one version added as primary, the rotation log and metrics written', async () => {
    const token = '7bf73129-1428-4cd3-a780-95db273d1602';
    await rotateSecret(token);
    expect(aws.secretsManager.invocations.map((i) => `${i.step}:${i.outcome}`)).toEqual(['createSecret:succeeded', 'setSecret:succeeded', 'testSecret:succeeded', 'finishSecret:succeeded']);
    expect(aws.secretsManager.eventNames(KEYSET)).toEqual(['RotationStarted', 'RotationSucceeded']);
    expect(currentId()).toBe(token);
    expect(valuedVersions()).toHaveLength(2);
    expect(aws.secretsManager.stagesOf(KEYSET, token)).toEqual(['AWSCURRENT']);
    expect(preservesVersions(initial, current())).toBe(true);
    expect(log().entries).toEqual([expect.objectContaining({ rotationId: token, fromVersion: 1, toVersion: 2, outcome: 'success', trigger: 'schedule' })]);
    // From the function's log (embedded metric format): it never called PutMetricData.
    expect(aws.cloudWatch.sum('AlphaPulse/Encryption', 'RotationSucceeded')).toBe(1);
    expect(aws.cloudWatch.emfRejected).toBe(0);
    expect(aws.requests.filter((r) => r.service === 'monitoring')).toEqual([]);
    expect(aws.cloudWatch.putMetricDataCalls).toBe(0);
    expect(aws.secretsManager.lastRotatedDate(KEYSET)).toBeDefined();
  }, 60_000);

  it('each step delivered again adds nothing', async () => {
    const token = '7bf73129-1428-4cd3-a780-95db273d1603';
    await rotateSecret(token);
    const before = snapshot();
    for (const Step of ['createSecret', 'setSecret', 'testSecret', 'finishSecret']) {
      const again = await invokeBundle(bundle, { Step, SecretId: aws.secretsManager.arnOf(KEYSET), ClientRequestToken: token }, { env: functionEnv, timeoutMs: 20_000 });
      expect({ Step, ok: again.ok, result: again.result }).toEqual({ Step, ok: true, result: { step: Step, token, status: 'done' } });
    }
    expect(snapshot()).toBe(before);
  }, 60_000);

  it.each(['createSecret', 'setSecret', 'testSecret', 'finishSecret'])('a function that died after %s: the rotation still ends with exactly one new version', async (dieAfter) => {
    const run = bundleRotationFunction(bundle, functionEnv, { timeoutMs: 20_000, logsTo: functionLogs() });
    let died = false;
    setFunction(async (event) => {
      await run(event);
      if (event.Step === dieAfter && !died) {
        died = true;
        throw new Error('Runtime.ExitError');
      }
    });
    const token = `7bf73129-1428-4cd3-a780-0000000000${String(dieAfter.length).padStart(2, '0')}`;
    await rotateSecret(token);
    expect(aws.secretsManager.eventNames(KEYSET)).toContain('RotationFailed');
    // Secrets Manager's reattempt (a later RotateSecret while AWSPENDING is outstanding) resumes the same token.
    if (currentId() !== token) await rotateSecret('11111111-2222-4333-8444-555555555555');
    expect(currentId()).toBe(token);
    expect(valuedVersions()).toHaveLength(2);
    expect(current().primary).toBe(2);
  }, 90_000);

  it('the monitor measures the storage key through the bundle\'s KMS client (DescribeKey, GetKeyRotationStatus)', async () => {
    const healthy = await invokeBundle(bundle, { action: 'monitor' }, { env: functionEnv, timeoutMs: 20_000 });
    expect(healthy).toMatchObject({ ok: true, result: { action: 'monitor', storageKey: { state: 'Enabled', rotationEnabled: true, healthy: true } } });
    const disabled = aws.kms.createKey({ rotationEnabled: true, keyState: 'Disabled' });
    const report = await invokeBundle(bundle, { action: 'monitor' }, { env: { ...functionEnv, STORAGE_KEY_ID: disabled.arn }, timeoutMs: 20_000 });
    expect(report).toMatchObject({ ok: true, result: { storageKey: { state: 'Disabled', healthy: false } } });
  });

  it('refuses hostile direct invokes and changes nothing: a rotate action, a token Secrets Manager did not stage, another secret', async () => {
    const before = snapshot();
    const other = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:someone-elses-AbCdEf';
    for (const event of [
      { action: 'rotate', rotationId: 'manual-2026-11-26', emergency: true, reason: 'pwned' },
      { Step: 'createSecret', SecretId: aws.secretsManager.arnOf(KEYSET), ClientRequestToken: '99999999-2222-4333-8444-555555555555' },
      { Step: 'finishSecret', SecretId: other, ClientRequestToken: currentId() },
    ]) {
      const r = await invokeBundle(bundle, event, { env: functionEnv, timeoutMs: 20_000 });
      expect({ event, ok: r.ok, code: r.errorCode }).toEqual({ event, ok: false, code: 'ROTATION_REFUSED' });
      expect(r.logs).toMatch(/"outcome":"failure".*"code":"ROTATION_REFUSED"/);
    }
    expect(snapshot()).toBe(before);
  }, 60_000);
});

describe('key-manager rotate on the aws store, as a process', () => {
  it('rotate asks Secrets Manager, waits for the function, and prints old and new version; the rotation log has it', async () => {
    const r = await cli(['rotate']);
    expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 0 });
    expect(r.stdout).toMatch(/^rotated: version 1 -> 2 \(primary\); Secrets Manager version manual-[0-9a-f-]{36} is AWSCURRENT/);
    const token = currentId() as string;
    expect(token).toMatch(/^manual-/);
    expect(aws.secretsManager.invocations.map((i) => i.step)).toEqual(['createSecret', 'setSecret', 'testSecret', 'finishSecret']);
    expect(log().entries).toEqual([expect.objectContaining({ rotationId: token, trigger: 'manual', outcome: 'success' })]);
    const audit = readFileSync(path.join(dir, 'audit.jsonl'), 'utf8');
    expect(audit).toContain(`"action":"rotate"`);
  }, 60_000);

  it('rotate --emergency stages the emergency keyset under its token, then RotateSecret: the old primary is disabled with the reason', async () => {
    const r = await cli(['--json', 'rotate', '--emergency', '--reason', 'INC-1 key exposed']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ fromVersion: 1, toVersion: 2, disabledVersion: 1, via: 'backend', emergency: true });
    expect(current().versions.map((v) => [v.version, v.state, v.reason])).toEqual([
      [1, 'disabled', 'INC-1 key exposed'],
      [2, 'enabled', undefined],
    ]);
    expect(log().entries).toEqual([expect.objectContaining({ trigger: 'emergency', outcome: 'success' })]);
    expect(aws.cloudWatch.sum('AlphaPulse/Encryption', 'EmergencyRotations')).toBe(1);
  }, 60_000);

  it('a RotateSecret while a rotation is in progress is refused, by Secrets Manager and by the CLI with the command that clears it', async () => {
    let release = (): void => undefined;
    const blocked = new Promise<void>((resolve) => (release = resolve));
    const run = bundleRotationFunction(bundle, functionEnv, { timeoutMs: 20_000, logsTo: functionLogs() });
    setFunction(async (event) => {
      await blocked;
      await run(event);
    });
    const client = sm();
    const started = await client.send(new RotateSecretCommand({ SecretId: KEYSET, ClientRequestToken: 'aaaaaaaa-2222-4333-8444-555555555555' }));
    await expect(client.send(new RotateSecretCommand({ SecretId: KEYSET, ClientRequestToken: 'bbbbbbbb-2222-4333-8444-555555555555' }))).rejects.toMatchObject({ name: 'InvalidRequestException' });
    const r = await cli(['rotate', '--emergency', '--reason', 'INC-2']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error \[ROTATION_IN_PROGRESS\]/);
    expect(r.stderr).toContain(`--remove-from-version-id ${started.VersionId}`);
    release();
    await aws.secretsManager.rotationsSettled();
    expect(current().primary).toBe(2);
    expect(current().versions.every((v) => v.state === 'enabled')).toBe(true);
    expect((await client.send(new GetSecretValueCommand({ SecretId: KEYSET }))).VersionId).toBe(started.VersionId);
    client.destroy();
  }, 90_000);
});
