/**
 * The AWS stand-in (test/support/aws), driven over HTTP by the real SDK v3 clients: the documented
 * Secrets Manager semantics, the other services, faults as the SDK surfaces them, and the process
 * helpers (runProcess, the Lambda-like runner).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { CloudWatchClient, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { CloudWatchLogsClient, FilterLogEventsCommand, paginateFilterLogEvents } from '@aws-sdk/client-cloudwatch-logs';
import { CancelKeyDeletionCommand, DescribeKeyCommand, EnableKeyCommand, EnableKeyRotationCommand, GetKeyRotationStatusCommand, KMSClient } from '@aws-sdk/client-kms';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  CancelRotateSecretCommand,
  CreateSecretCommand,
  DeleteSecretCommand,
  DeleteResourcePolicyCommand,
  DescribeSecretCommand,
  GetResourcePolicyCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  paginateListSecretVersionIds,
  PutResourcePolicyCommand,
  PutSecretValueCommand,
  RestoreSecretCommand,
  RotateSecretCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { TestClock } from './fixed';
import {
  AWSCURRENT,
  AWSPENDING,
  AWSPREVIOUS,
  AwsServiceError,
  type AwsStandIn,
  bundleLambdaHandler,
  bundleRotationFunction,
  bundleRotationHandler,
  deliverLogs,
  type FaultKind,
  invokeBundle,
  warmLambdaHandler,
  type RotationEvent,
  refusedEndpoint,
  runProcess,
  SecretsManagerModel,
  type ServiceName,
  startAwsStandIn,
} from './aws';

const REPO = path.resolve(__dirname, '..', '..');

const T0 = Date.parse('2026-03-01T00:00:00.000Z');
const DAY = 86_400_000;
const token = (n: number | string): string => `token-${String(n).padStart(4, '0')}-${'x'.repeat(26)}`;

interface SdkError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
  readonly $metadata?: { httpStatusCode?: number; attempts?: number };
}

async function failure(promise: Promise<unknown>): Promise<SdkError> {
  try {
    await promise;
  } catch (err) {
    return err as SdkError;
  }
  throw new Error('expected the call to fail');
}

let aws: AwsStandIn;
let clock: TestClock;
const clients: Array<{ destroy(): void }> = [];

function client<T extends { destroy(): void }>(make: (config: ReturnType<AwsStandIn['clientConfig']> & { maxAttempts: number }) => T, maxAttempts = 1): T {
  const c = make({ ...aws.clientConfig(), maxAttempts });
  clients.push(c);
  return c;
}
const sm = (maxAttempts = 1) => client((c) => new SecretsManagerClient(c), maxAttempts);

beforeEach(async () => {
  clock = new TestClock(T0);
  aws = await startAwsStandIn({ clock: clock.now });
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await aws.close();
});

describe('Secrets Manager: values, versions and labels', () => {
  test('GetSecretValue reads AWSCURRENT by default, a version by id, and refuses a stage the version does not carry', async () => {
    const { arn, versionId } = aws.secretsManager.createSecret('app/keyset', { secretString: 'v1' });
    const client = sm();
    const current = await client.send(new GetSecretValueCommand({ SecretId: 'app/keyset' }));
    expect(current).toMatchObject({ ARN: arn, Name: 'app/keyset', VersionId: versionId, SecretString: 'v1', VersionStages: [AWSCURRENT] });
    expect(current.CreatedDate).toEqual(new Date(T0));
    expect(arn).toMatch(/^arn:aws:secretsmanager:us-east-1:123456789012:secret:app\/keyset-[A-Za-z0-9]{6}$/);

    await expect(client.send(new GetSecretValueCommand({ SecretId: arn, VersionId: versionId }))).resolves.toMatchObject({ SecretString: 'v1' });
    const wrongStage = await failure(client.send(new GetSecretValueCommand({ SecretId: arn, VersionId: versionId, VersionStage: AWSPREVIOUS })));
    expect(wrongStage.name).toBe('ResourceNotFoundException');
    const noLabel = await failure(client.send(new GetSecretValueCommand({ SecretId: arn, VersionStage: AWSPENDING })));
    expect(noLabel.message).toBe("Secrets Manager can't find the specified secret value for staging label: AWSPENDING");
    const missing = await failure(client.send(new GetSecretValueCommand({ SecretId: 'nope' })));
    expect([missing.name, missing.message]).toEqual(['ResourceNotFoundException', "Secrets Manager can't find the specified secret."]);
  });

  test('an empty secret (created without a value, as CloudFormation does) has no AWSCURRENT; its first version always gets it', async () => {
    aws.secretsManager.createSecret('empty');
    const client = sm();
    expect((await failure(client.send(new GetSecretValueCommand({ SecretId: 'empty' })))).name).toBe('ResourceNotFoundException');
    const put = await client.send(new PutSecretValueCommand({ SecretId: 'empty', SecretString: 'first', ClientRequestToken: token(1), VersionStages: [AWSPENDING] }));
    expect(put.VersionStages?.sort()).toEqual([AWSCURRENT, AWSPENDING]);
  });

  test('PutSecretValue: VersionStages omitted moves AWSCURRENT, and AWSPREVIOUS follows to the version it left', async () => {
    const { versionId: v1 } = aws.secretsManager.createSecret('s', { secretString: 'one' });
    const client = sm();
    await client.send(new PutSecretValueCommand({ SecretId: 's', SecretString: 'two', ClientRequestToken: token(2) }));
    await client.send(new PutSecretValueCommand({ SecretId: 's', SecretString: 'three', ClientRequestToken: token(3) }));
    expect(aws.secretsManager.versions('s').map((v) => [v.versionId, v.stages])).toEqual([
      [v1, []],
      [token(2), [AWSPREVIOUS]],
      [token(3), [AWSCURRENT]],
    ]);
    await client.send(new PutSecretValueCommand({ SecretId: 's', SecretString: 'staged', ClientRequestToken: token(4), VersionStages: ['CUSTOM'] }));
    expect(aws.secretsManager.value('s')).toBe('three');
    expect(aws.secretsManager.versionWithStage('s', 'CUSTOM')).toBe(token(4));
  });

  test('PutSecretValue is idempotent per ClientRequestToken; another value under the same token is ResourceExistsException', async () => {
    aws.secretsManager.createSecret('s', { secretString: 'one' });
    const client = sm();
    const first = await client.send(new PutSecretValueCommand({ SecretId: 's', SecretString: 'two', ClientRequestToken: token(2) }));
    const before = aws.secretsManager.versions('s');
    const again = await client.send(new PutSecretValueCommand({ SecretId: 's', SecretString: 'two', ClientRequestToken: token(2) }));
    expect(again.VersionId).toBe(first.VersionId);
    expect(aws.secretsManager.versions('s')).toEqual(before);
    expect((await failure(client.send(new PutSecretValueCommand({ SecretId: 's', SecretString: 'other', ClientRequestToken: token(2) })))).name).toBe('ResourceExistsException');
    const short = await failure(client.send(new PutSecretValueCommand({ SecretId: 's', SecretString: 'x', ClientRequestToken: 'too-short' })));
    expect(short.name).toBe('ValidationException');
    expect(short.message).toContain('Member must have length greater than or equal to 32');
  });

  test('the SDK fills ClientRequestToken with a UUID when the caller omits it', async () => {
    aws.secretsManager.createSecret('s', { secretString: 'one' });
    const put = await sm().send(new PutSecretValueCommand({ SecretId: 's', SecretString: 'two' }));
    expect(put.VersionId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(aws.requests.at(-1)?.input.ClientRequestToken).toBe(put.VersionId);
  });

  test('UpdateSecretVersionStage: the label rules of the API reference', async () => {
    const v1 = aws.secretsManager.createSecret('s', { secretString: 'one' }).versionId as string;
    const client = sm();
    await client.send(new PutSecretValueCommand({ SecretId: 's', SecretString: 'two', ClientRequestToken: token(2), VersionStages: [AWSPENDING] }));
    const move = (input: Omit<ConstructorParameters<typeof UpdateSecretVersionStageCommand>[0], 'SecretId'>) => client.send(new UpdateSecretVersionStageCommand({ SecretId: 's', ...input }));

    const noRemove = await failure(move({ VersionStage: AWSCURRENT, MoveToVersionId: token(2) }));
    expect(noRemove.name).toBe('InvalidParameterException');
    expect(noRemove.message).toBe(`The parameter RemoveFromVersionId can't be empty. Staging label AWSCURRENT is currently attached to version ${v1}, so you must explicitly reference that version in RemoveFromVersionId.`);
    expect((await failure(move({ VersionStage: AWSCURRENT, MoveToVersionId: token(2), RemoveFromVersionId: token(2) }))).name).toBe('InvalidParameterException');
    expect((await failure(move({ VersionStage: 'CUSTOM', RemoveFromVersionId: v1 }))).name).toBe('InvalidParameterException');
    expect((await failure(move({ VersionStage: AWSCURRENT, RemoveFromVersionId: v1 }))).name).toBe('InvalidParameterException');
    expect((await failure(move({ VersionStage: AWSCURRENT, MoveToVersionId: token(9), RemoveFromVersionId: v1 }))).name).toBe('ResourceNotFoundException');

    await move({ VersionStage: AWSCURRENT, MoveToVersionId: token(2), RemoveFromVersionId: v1 });
    expect(aws.secretsManager.stagesOf('s', v1)).toEqual([AWSPREVIOUS]);
    expect(aws.secretsManager.stagesOf('s', token(2)).sort()).toEqual([AWSCURRENT, AWSPENDING]);
    await move({ VersionStage: AWSPENDING, RemoveFromVersionId: token(2) });
    await move({ VersionStage: 'CUSTOM', MoveToVersionId: v1 });
    expect(aws.secretsManager.stagesOf('s', v1).sort()).toEqual([AWSPREVIOUS, 'CUSTOM']);
  });

  test('DescribeSecret lists only labelled versions; ListSecretVersionIds shows unlabelled ones only with IncludeDeprecated, page by page', async () => {
    const key = aws.kms.createKey();
    aws.secretsManager.createSecret('s', { secretString: 'v0', kmsKeyId: key.arn, description: 'keyset' });
    const client = sm();
    for (let i = 1; i <= 6; i++) {
      clock.advance(1_000);
      await client.send(new PutSecretValueCommand({ SecretId: 's', SecretString: `v${i}`, ClientRequestToken: token(i) }));
    }
    const described = await client.send(new DescribeSecretCommand({ SecretId: 's' }));
    expect(described).toMatchObject({ Name: 's', KmsKeyId: key.arn, Description: 'keyset', RotationEnabled: false, CreatedDate: new Date(T0), LastChangedDate: new Date(T0 + 6_000) });
    expect(described.VersionIdsToStages).toEqual({ [token(5)]: [AWSPREVIOUS], [token(6)]: [AWSCURRENT] });

    const labelled = await client.send(new ListSecretVersionIdsCommand({ SecretId: 's' }));
    expect(labelled.Versions?.map((v) => v.VersionId)).toEqual([token(5), token(6)]);
    const pages: string[][] = [];
    for await (const page of paginateListSecretVersionIds({ client, pageSize: 3 }, { SecretId: 's', IncludeDeprecated: true })) {
      pages.push((page.Versions ?? []).map((v) => v.VersionId as string));
    }
    expect(pages.map((p) => p.length)).toEqual([3, 3, 1]);
    expect(pages.flat()).toHaveLength(7);
    expect((await failure(client.send(new ListSecretVersionIdsCommand({ SecretId: 's', NextToken: 'garbage' })))).name).toBe('InvalidNextTokenException');
  });

  test('version retention: past 100 versions the unlabelled ones go, but never one created in the last 24 hours', async () => {
    aws.secretsManager.createSecret('s', { secretString: 'v0' });
    const client = sm();
    for (let i = 1; i <= 104; i++) await client.send(new PutSecretValueCommand({ SecretId: 's', SecretString: `v${i}`, ClientRequestToken: token(i) }));
    expect(aws.secretsManager.versionCount('s')).toBe(105);
    clock.advance(DAY + 1);
    await client.send(new PutSecretValueCommand({ SecretId: 's', SecretString: 'late', ClientRequestToken: token('late') }));
    expect(aws.secretsManager.versionCount('s')).toBe(100);
    const ids = aws.secretsManager.versions('s').map((v) => v.versionId);
    expect(ids).not.toContain(token(5));
    expect(ids).toContain(token(6));
    expect(aws.secretsManager.versionWithStage('s', AWSPREVIOUS)).toBe(token(104));
  });

  test('backdate moves a secret\'s recorded times into the past: to a reader of the real clock, a day has passed', async () => {
    const { versionId } = aws.secretsManager.createSecret('s', { secretString: 'v0' });
    const client = sm();
    await client.send(new GetSecretValueCommand({ SecretId: 's' }));
    aws.secretsManager.backdate('s', DAY + 1);
    const described = await client.send(new DescribeSecretCommand({ SecretId: 's' }));
    expect([described.CreatedDate, described.LastChangedDate]).toEqual([new Date(T0 - DAY - 1), new Date(T0 - DAY - 1)]);
    const listed = await client.send(new ListSecretVersionIdsCommand({ SecretId: 's' }));
    expect(listed.Versions?.map((v) => [v.VersionId, v.CreatedDate])).toEqual([[versionId, new Date(T0 - DAY - 1)]]);
    // Retention counts from the backdated creation: 100 more versions push out the unlabelled old one at once.
    for (let i = 1; i <= 101; i++) await client.send(new PutSecretValueCommand({ SecretId: 's', SecretString: `v${i}`, ClientRequestToken: token(i) }));
    expect(aws.secretsManager.versions('s').map((v) => v.versionId)).not.toContain(versionId);
  });

  test('a secret under a KMS key that is not Enabled: DecryptionFailure on read, EncryptionFailure on write', async () => {
    const key = aws.kms.createKey();
    aws.secretsManager.createSecret('s', { secretString: 'one', kmsKeyId: key.keyId });
    const client = sm();
    aws.kms.setState(key.keyId, 'Disabled');
    expect((await failure(client.send(new GetSecretValueCommand({ SecretId: 's' })))).name).toBe('DecryptionFailure');
    expect((await failure(client.send(new PutSecretValueCommand({ SecretId: 's', SecretString: 'two' })))).name).toBe('EncryptionFailure');
    aws.kms.setState(key.keyId, 'Enabled');
    await expect(client.send(new GetSecretValueCommand({ SecretId: 's' }))).resolves.toMatchObject({ SecretString: 'one' });
  });

  test('a secret scheduled for deletion refuses reads with InvalidRequestException until restored', async () => {
    aws.secretsManager.createSecret('s', { secretString: 'one' });
    const client = sm();
    const deleted = await client.send(new DeleteSecretCommand({ SecretId: 's', RecoveryWindowInDays: 7 }));
    expect(deleted.DeletionDate).toEqual(new Date(T0 + 7 * DAY));
    expect((await failure(client.send(new GetSecretValueCommand({ SecretId: 's' })))).name).toBe('InvalidRequestException');
    expect((await client.send(new DescribeSecretCommand({ SecretId: 's' }))).DeletedDate).toEqual(new Date(T0));
    await client.send(new RestoreSecretCommand({ SecretId: 's' }));
    await expect(client.send(new GetSecretValueCommand({ SecretId: 's' }))).resolves.toMatchObject({ SecretString: 'one' });
    await client.send(new CreateSecretCommand({ Name: 'other', SecretString: 'x' }));
    expect((await failure(client.send(new CreateSecretCommand({ Name: 'other', SecretString: 'x' })))).name).toBe('ResourceExistsException');
  });
});

test('the models work in-process, without HTTP, on an injected clock', async () => {
  const local = new TestClock(T0);
  const model = new SecretsManagerModel({ region: 'eu-west-1', accountId: '111122223333', clock: local.now });
  const { arn } = model.createSecret('s', { secretString: 'one' });
  expect(arn).toMatch(/^arn:aws:secretsmanager:eu-west-1:111122223333:secret:s-/);
  local.advance(5_000);
  model.putSecretValue({ SecretId: 's', SecretString: 'two' });
  expect(model.getSecretValue({ SecretId: arn })).toMatchObject({ SecretString: 'two', CreatedDate: new Date(T0 + 5_000) });
  let thrown: unknown;
  try {
    model.getSecretValue({ SecretId: 'nope' });
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(AwsServiceError);
  expect(thrown).toMatchObject({ code: 'ResourceNotFoundException', status: 400 });
  model.rotationFunction = async () => undefined;
  model.rotateSecret({ SecretId: 's', RotationLambdaARN: 'arn:aws:lambda:eu-west-1:111122223333:function:f' });
  await model.rotationsSettled();
  expect(model.invocations.map((i) => i.step)).toEqual(['createSecret', 'setSecret', 'testSecret', 'finishSecret']);
});

/** A rotation function like AWS's template: fill AWSPENDING in createSecret, move AWSCURRENT in finishSecret. */
function templateRotation(client: SecretsManagerClient, value: (token: string) => string, seen: RotationEvent[] = []) {
  return async (event: RotationEvent): Promise<void> => {
    seen.push(event);
    const { SecretId, ClientRequestToken } = event;
    if (event.Step === 'createSecret') {
      const pending = await client.send(new GetSecretValueCommand({ SecretId, VersionId: ClientRequestToken, VersionStage: AWSPENDING })).catch((err: SdkError) => err);
      if ('name' in pending && pending.name === 'ResourceNotFoundException') {
        await client.send(new PutSecretValueCommand({ SecretId, ClientRequestToken, SecretString: value(ClientRequestToken), VersionStages: [AWSPENDING] }));
      }
    }
    if (event.Step === 'finishSecret') {
      const described = await client.send(new DescribeSecretCommand({ SecretId }));
      const current = Object.entries(described.VersionIdsToStages ?? {}).find(([, stages]) => stages.includes(AWSCURRENT))?.[0];
      if (current === ClientRequestToken) return;
      await client.send(new UpdateSecretVersionStageCommand({ SecretId, VersionStage: AWSCURRENT, MoveToVersionId: ClientRequestToken, RemoveFromVersionId: current }));
    }
  };
}

describe('Secrets Manager: rotation', () => {
  const LAMBDA = 'arn:aws:lambda:us-east-1:123456789012:function:rotate';

  test('RotateSecret creates an AWSPENDING placeholder, answers at once, then runs the four steps in order with the same token', async () => {
    const { versionId: v1, arn } = aws.secretsManager.createSecret('s', { secretString: 'one' });
    const client = sm();
    const seen: RotationEvent[] = [];
    let placeholderWhileCreating: SdkError | undefined;
    const template = templateRotation(client, (t) => `value-${t}`, seen);
    aws.secretsManager.rotationFunction = async (event) => {
      if (event.Step === 'createSecret') placeholderWhileCreating = await failure(client.send(new GetSecretValueCommand({ SecretId: arn, VersionStage: AWSPENDING })));
      await template(event);
    };
    clock.advance(DAY);
    const rotated = await client.send(new RotateSecretCommand({ SecretId: 's', RotationLambdaARN: LAMBDA, RotationRules: { AutomaticallyAfterDays: 30 } }));
    expect(rotated.VersionId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/); // the SDK's idempotency token
    expect(aws.secretsManager.versions('s').find((v) => v.versionId === rotated.VersionId)).toMatchObject({ stages: [AWSPENDING], hasValue: false });
    await aws.secretsManager.rotationsSettled();

    expect(seen.map((e) => e.Step)).toEqual(['createSecret', 'setSecret', 'testSecret', 'finishSecret']);
    expect(new Set(seen.map((e) => `${e.SecretId} ${e.ClientRequestToken} ${e.RotationToken}`)).size).toBe(1);
    expect(seen[0]).toMatchObject({ SecretId: arn, ClientRequestToken: rotated.VersionId });
    expect(placeholderWhileCreating?.message).toBe("Secrets Manager can't find the specified secret value for staging label: AWSPENDING");
    expect(aws.secretsManager.value('s')).toBe(`value-${rotated.VersionId}`);
    expect(aws.secretsManager.stagesOf('s', v1 as string)).toEqual([AWSPREVIOUS]);
    expect(aws.secretsManager.eventNames('s')).toEqual(['RotationStarted', 'RotationSucceeded']);
    const described = await client.send(new DescribeSecretCommand({ SecretId: 's' }));
    expect(described).toMatchObject({ RotationEnabled: true, RotationLambdaARN: LAMBDA, RotationRules: { AutomaticallyAfterDays: 30 }, LastRotatedDate: new Date(T0 + DAY), NextRotationDate: new Date(T0 + 31 * DAY) });
  });

  test('RotateSecret without a rotation function is InvalidRequestException; RotateImmediately false only configures', async () => {
    aws.secretsManager.createSecret('s', { secretString: 'one' });
    const client = sm();
    expect((await failure(client.send(new RotateSecretCommand({ SecretId: 's' })))).name).toBe('InvalidRequestException');
    const configured = await client.send(new RotateSecretCommand({ SecretId: 's', RotationLambdaARN: LAMBDA, RotationRules: { ScheduleExpression: 'rate(10 days)' }, RotateImmediately: false }));
    expect(configured.VersionId).toBeUndefined();
    await aws.secretsManager.rotationsSettled();
    expect(aws.secretsManager.invocations).toEqual([]);
    expect(aws.secretsManager.versionCount('s')).toBe(1);
    expect(aws.secretsManager.nextRotationDate('s')).toEqual(new Date(T0 + 10 * DAY));
  });

  test('a failing step stops the rotation (RotationFailed, labels as left); the next RotateSecret reattempts it and answers InvalidRequestException', async () => {
    aws.secretsManager.createSecret('s', { secretString: 'one' });
    const client = sm();
    const template = templateRotation(client, () => 'two');
    let failSet = true;
    aws.secretsManager.rotationFunction = async (event) => {
      await template(event);
      if (event.Step === 'setSecret' && failSet) throw Object.assign(new Error('database unreachable'), { name: 'ConnectError' });
    };
    aws.secretsManager.configureRotation('s', { lambdaArn: LAMBDA, rotateImmediately: false });
    const first = await client.send(new RotateSecretCommand({ SecretId: 's', ClientRequestToken: token('first') }));
    await aws.secretsManager.rotationsSettled();
    expect(aws.secretsManager.invocations.map((i) => `${i.step}:${i.outcome}`)).toEqual(['createSecret:succeeded', 'setSecret:failed']);
    const failed = aws.secretsManager.events.at(-1);
    expect(failed?.detail).toMatchObject({ eventName: 'RotationFailed', additionalEventData: { Step: 'setSecret', VersionId: first.VersionId }, errorMessage: 'ConnectError: database unreachable' });
    expect(aws.secretsManager.versionWithStage('s', AWSPENDING)).toBe(token('first'));
    expect(aws.secretsManager.value('s', token('first'))).toBe('two');

    failSet = false;
    const again = await failure(client.send(new RotateSecretCommand({ SecretId: 's', ClientRequestToken: token('second') })));
    expect([again.name, again.message]).toEqual(['InvalidRequestException', "A previous rotation isn't complete. That rotation will be reattempted."]);
    await aws.secretsManager.rotationsSettled();
    expect(aws.secretsManager.invocations.slice(2).map((i) => `${i.step}:${i.token}`)).toEqual(['createSecret', 'setSecret', 'testSecret', 'finishSecret'].map((s) => `${s}:${token('first')}`));
    expect(aws.secretsManager.value('s')).toBe('two');
    expect(aws.secretsManager.eventNames('s')).toEqual(['RotationStarted', 'RotationFailed', 'RotationStarted', 'RotationSucceeded']);
  });

  test('RotateSecret with the ClientRequestToken of the pending version starts the rotation with it (a pre-staged value is delivered)', async () => {
    aws.secretsManager.createSecret('s', { secretString: 'one' });
    const client = sm();
    await client.send(new PutSecretValueCommand({ SecretId: 's', SecretString: 'pre-staged', ClientRequestToken: token('staged'), VersionStages: [AWSPENDING] }));
    const seen: RotationEvent[] = [];
    aws.secretsManager.rotationFunction = templateRotation(client, () => 'never used', seen);
    const rotated = await client.send(new RotateSecretCommand({ SecretId: 's', ClientRequestToken: token('staged'), RotationLambdaARN: LAMBDA }));
    expect(rotated.VersionId).toBe(token('staged'));
    await aws.secretsManager.rotationsSettled();
    expect(seen.every((e) => e.ClientRequestToken === token('staged'))).toBe(true);
    expect(aws.secretsManager.value('s')).toBe('pre-staged');
  });

  test('PutSecretValue of a new version during a rotation abandons it: AWSPENDING is removed and RotationAbandoned emitted', async () => {
    const { arn } = aws.secretsManager.createSecret('s', { secretString: 'one' });
    const client = sm();
    await client.send(new PutSecretValueCommand({ SecretId: 's', SecretString: 'in progress', ClientRequestToken: token('pending'), VersionStages: [AWSPENDING] }));
    await client.send(new PutSecretValueCommand({ SecretId: 's', SecretString: 'manual', ClientRequestToken: token('manual') }));
    expect(aws.secretsManager.stagesOf('s', token('pending'))).toEqual([]);
    expect(aws.secretsManager.value('s')).toBe('manual');
    expect(aws.secretsManager.events.map((e) => [e.detail.eventName, e.detail.additionalEventData.SecretId])).toEqual([['RotationAbandoned', arn]]);
  });

  test('CancelRotateSecret turns rotation off and leaves labels and versions alone', async () => {
    aws.secretsManager.createSecret('s', { secretString: 'one' });
    const client = sm();
    aws.secretsManager.rotationFunction = async (event) => {
      if (event.Step === 'setSecret') throw new Error('stop here');
    };
    const rotated = await client.send(new RotateSecretCommand({ SecretId: 's', RotationLambdaARN: LAMBDA, RotationRules: { AutomaticallyAfterDays: 1 } }));
    await aws.secretsManager.rotationsSettled();
    const before = aws.secretsManager.versions('s');
    const cancelled = await client.send(new CancelRotateSecretCommand({ SecretId: 's' }));
    expect(cancelled.VersionId).toBe(rotated.VersionId);
    expect(aws.secretsManager.versions('s')).toEqual(before);
    expect((await client.send(new DescribeSecretCommand({ SecretId: 's' }))).RotationEnabled).toBe(false);
    clock.advanceDays(5);
    expect(aws.secretsManager.runDueRotations()).toEqual([]);
  });

  test('the schedule: runDueRotations rotates each enabled secret whose NextRotationDate has come, counting from the last rotation', async () => {
    aws.secretsManager.createSecret('days', { secretString: 'a' });
    aws.secretsManager.createSecret('rate', { secretString: 'b' });
    const client = sm();
    aws.secretsManager.rotationFunction = templateRotation(client, (t) => `rotated-${t}`);
    aws.secretsManager.configureRotation('days', { lambdaArn: LAMBDA, rules: { AutomaticallyAfterDays: 7 }, rotateImmediately: false });
    aws.secretsManager.configureRotation('rate', { lambdaArn: LAMBDA, rules: { ScheduleExpression: 'rate(3 days)' }, rotateImmediately: false });
    expect(aws.secretsManager.nextRotationDate('rate')).toEqual(new Date(T0 + 3 * DAY));

    clock.advanceDays(2);
    expect(aws.secretsManager.runDueRotations()).toEqual([]);
    clock.advanceDays(1);
    expect(aws.secretsManager.runDueRotations()).toEqual([aws.secretsManager.arnOf('rate')]);
    await aws.secretsManager.rotationsSettled();
    expect(aws.secretsManager.lastRotatedDate('rate')).toEqual(new Date(T0 + 3 * DAY));
    expect(aws.secretsManager.nextRotationDate('rate')).toEqual(new Date(T0 + 6 * DAY));
    clock.advanceDays(4);
    expect(aws.secretsManager.runDueRotations().sort()).toEqual([aws.secretsManager.arnOf('days'), aws.secretsManager.arnOf('rate')].sort());
    await aws.secretsManager.rotationsSettled();
    expect(aws.secretsManager.value('days')).toMatch(/^rotated-/);
    expect(aws.secretsManager.eventNames()).toEqual(['RotationStarted', 'RotationSucceeded', 'RotationStarted', 'RotationStarted', 'RotationSucceeded', 'RotationSucceeded']);
  });

  test('events have the CloudTrail-via-EventBridge shape; a rotation with no function fails at createSecret', async () => {
    const { arn } = aws.secretsManager.createSecret('s', { secretString: 'one' });
    await sm().send(new RotateSecretCommand({ SecretId: 's', RotationLambdaARN: LAMBDA }));
    await aws.secretsManager.rotationsSettled();
    const [started, failed] = aws.secretsManager.events;
    expect(started).toMatchObject({
      source: 'aws.secretsmanager',
      'detail-type': 'AWS Service Event via CloudTrail',
      account: '123456789012',
      region: 'us-east-1',
      time: '2026-03-01T00:00:00Z',
      detail: { eventSource: 'secretsmanager.amazonaws.com', eventName: 'RotationStarted', eventType: 'AwsServiceEvent', additionalEventData: { SecretId: arn } },
    });
    expect(failed.detail).toMatchObject({ eventName: 'RotationFailed', additionalEventData: { Step: 'createSecret' } });
  });
});

describe('KMS, CloudWatch, Logs, STS and S3', () => {
  test('KMS DescribeKey and GetKeyRotationStatus follow the key state (Disabled keeps the status, PendingDeletion reads false)', async () => {
    const kms = client((c) => new KMSClient(c));
    const key = aws.kms.createKey({ rotationEnabled: true, description: 'keyset key' });
    const described = await kms.send(new DescribeKeyCommand({ KeyId: key.arn }));
    expect(described.KeyMetadata).toMatchObject({ KeyId: key.keyId, Arn: key.arn, KeyState: 'Enabled', Enabled: true, KeyManager: 'CUSTOMER', Description: 'keyset key', CreationDate: new Date(T0) });
    expect(key.arn).toMatch(/^arn:aws:kms:us-east-1:123456789012:key\/[0-9a-f-]{36}$/);
    aws.kms.setState(key.keyId, 'Disabled');
    expect((await kms.send(new DescribeKeyCommand({ KeyId: key.keyId }))).KeyMetadata).toMatchObject({ KeyState: 'Disabled', Enabled: false });
    expect((await kms.send(new GetKeyRotationStatusCommand({ KeyId: key.keyId }))).KeyRotationEnabled).toBe(true);
    aws.kms.setState(key.keyId, 'PendingDeletion');
    expect((await kms.send(new DescribeKeyCommand({ KeyId: key.keyId }))).KeyMetadata?.DeletionDate).toEqual(new Date(T0 + 30 * DAY));
    expect((await kms.send(new GetKeyRotationStatusCommand({ KeyId: key.keyId }))).KeyRotationEnabled).toBe(false);
    const unknown = await failure(kms.send(new DescribeKeyCommand({ KeyId: '00000000-0000-0000-0000-000000000000' })));
    expect([unknown.name, unknown.message]).toEqual(['NotFoundException', "Key 'arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000' does not exist"]);
  });

  test('KMS CancelKeyDeletion leaves the key Disabled, EnableKey enables it, EnableKeyRotation needs an enabled key', async () => {
    const kms = client((c) => new KMSClient(c));
    const key = aws.kms.createKey({ rotationEnabled: false });
    const notPending = await failure(kms.send(new CancelKeyDeletionCommand({ KeyId: key.arn })));
    expect([notPending.name, notPending.message]).toEqual(['KMSInvalidStateException', `${key.arn} is not pending deletion`]);
    aws.kms.setState(key.keyId, 'PendingDeletion');
    expect((await failure(kms.send(new EnableKeyCommand({ KeyId: key.arn })))).name).toBe('KMSInvalidStateException');
    expect((await failure(kms.send(new EnableKeyRotationCommand({ KeyId: key.arn })))).name).toBe('KMSInvalidStateException');
    await expect(kms.send(new CancelKeyDeletionCommand({ KeyId: key.keyId }))).resolves.toMatchObject({ KeyId: key.arn });
    expect((await kms.send(new DescribeKeyCommand({ KeyId: key.arn }))).KeyMetadata).toMatchObject({ KeyState: 'Disabled', Enabled: false });
    expect((await kms.send(new DescribeKeyCommand({ KeyId: key.arn }))).KeyMetadata?.DeletionDate).toBeUndefined();
    const disabled = await failure(kms.send(new EnableKeyRotationCommand({ KeyId: key.arn })));
    expect([disabled.name, disabled.message]).toEqual(['DisabledException', `${key.arn} is disabled.`]);
    await kms.send(new EnableKeyCommand({ KeyId: key.arn }));
    await kms.send(new EnableKeyCommand({ KeyId: key.arn }));
    expect(aws.kms.usable(key.arn)).toBe(true);
    await kms.send(new EnableKeyRotationCommand({ KeyId: key.arn, RotationPeriodInDays: 180 }));
    expect(await kms.send(new GetKeyRotationStatusCommand({ KeyId: key.arn }))).toMatchObject({ KeyRotationEnabled: true, RotationPeriodInDays: 180 });
    expect((await failure(kms.send(new EnableKeyRotationCommand({ KeyId: key.arn, RotationPeriodInDays: 30 })))).name).toBe('ValidationException');
  });

  test('Secrets Manager resource policies: put (a JSON object only), get (none: no ResourcePolicy member), delete', async () => {
    const { arn } = aws.secretsManager.createSecret('app/keyset', { secretString: 'v1' });
    const client = sm();
    expect(await client.send(new GetResourcePolicyCommand({ SecretId: 'app/keyset' }))).toMatchObject({ ARN: arn, Name: 'app/keyset' });
    expect((await client.send(new GetResourcePolicyCommand({ SecretId: 'app/keyset' }))).ResourcePolicy).toBeUndefined();
    const policy = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Deny', Principal: '*', Action: 'secretsmanager:DeleteSecret', Resource: '*' }] });
    await client.send(new PutResourcePolicyCommand({ SecretId: arn, ResourcePolicy: policy }));
    expect((await client.send(new GetResourcePolicyCommand({ SecretId: 'app/keyset' }))).ResourcePolicy).toBe(policy);
    expect((await failure(client.send(new PutResourcePolicyCommand({ SecretId: arn, ResourcePolicy: '[1]' })))).name).toBe('MalformedPolicyDocumentException');
    await client.send(new DeleteResourcePolicyCommand({ SecretId: arn }));
    expect((await client.send(new GetResourcePolicyCommand({ SecretId: arn }))).ResourcePolicy).toBeUndefined();
  });

  test('CloudWatch PutMetricData (JSON 1.0, gzip-compressed when large) is recorded per namespace; validation errors keep their query-compatible code', async () => {
    const cw = client((c) => new CloudWatchClient(c));
    await cw.send(new PutMetricDataCommand({ Namespace: 'AlphaPulse/Encryption', MetricData: [{ MetricName: 'KeyAgeDays', Value: 12, Unit: 'Count', Dimensions: [{ Name: 'Stage', Value: 'dev' }] }] }));
    const many = Array.from({ length: 400 }, (_, i) => ({ MetricName: 'Decrypts', StatisticValues: { SampleCount: 2, Sum: 2, Minimum: 1, Maximum: 1 }, Timestamp: new Date(T0 + i * 1000) }));
    await cw.send(new PutMetricDataCommand({ Namespace: 'AlphaPulse/Encryption', MetricData: many }));
    expect(aws.cloudWatch.datums('AlphaPulse/Encryption')).toHaveLength(401);
    expect(aws.cloudWatch.datums('AlphaPulse/Encryption')[0]).toMatchObject({ MetricName: 'KeyAgeDays', Value: 12, Unit: 'Count', Dimensions: [{ Name: 'Stage', Value: 'dev' }], Timestamp: new Date(T0) });
    expect(aws.cloudWatch.datums('AlphaPulse/Encryption')[401 - 1].Timestamp).toEqual(new Date(T0 + 399_000));
    expect(aws.cloudWatch.sum('AlphaPulse/Encryption', 'Decrypts')).toBe(800);
    expect(aws.cloudWatch.sum('AlphaPulse/Encryption', 'KeyAgeDays', { Stage: 'dev' })).toBe(12);
    const invalid = (await failure(cw.send(new PutMetricDataCommand({ Namespace: 'AWS/Lambda', MetricData: [{ MetricName: 'X', Value: 1 }] })))) as SdkError & { Code?: string };
    expect([invalid.name, invalid.Code]).toEqual(['InvalidParameterValueException', 'InvalidParameterValue']);
  });

  test('CloudWatch Logs extracts the metrics of log events in the embedded metric format, and nothing from one that breaks the specification', () => {
    const emf = (extra: Record<string, unknown>, directive: Record<string, unknown> = {}) =>
      JSON.stringify({ _aws: { Timestamp: T0, CloudWatchMetrics: [{ Namespace: 'AlphaPulse/Encryption', Dimensions: [['Stage']], Metrics: [{ Name: 'RotationSucceeded', Unit: 'Count' }], ...directive }] }, Stage: 'prod', RotationSucceeded: 1, ...extra });
    aws.logs.putEvents('/aws/lambda/rotation', [
      { timestamp: T0, message: emf({}) },
      { timestamp: T0, message: emf({ RotationSucceeded: [1, 2] }) },
      { timestamp: T0, message: '{"action":"rotate","outcome":"success"}' },
      { timestamp: T0, message: 'not json' },
      { timestamp: T0, message: emf({ Stage: 7 }) },
      { timestamp: T0, message: emf({ RotationSucceeded: 'one' }) },
      { timestamp: T0, message: emf({ RotationSucceeded: Array.from({ length: 101 }, () => 1) }) },
      { timestamp: T0, message: emf({}, { Dimensions: [Array.from({ length: 31 }, () => 'Stage')] }) },
      { timestamp: T0, message: emf({}, { Namespace: 'AWS/Lambda' }) },
    ]);
    expect(aws.cloudWatch.sum('AlphaPulse/Encryption', 'RotationSucceeded', { Stage: 'prod' })).toBe(4);
    expect(aws.cloudWatch.datums('AlphaPulse/Encryption')[0]).toMatchObject({ MetricName: 'RotationSucceeded', Value: 1, Unit: 'Count', Timestamp: new Date(T0) });
    expect(aws.cloudWatch.emfRejected).toBe(5);
    expect(aws.cloudWatch.putMetricDataCalls).toBe(0);
    expect(aws.logs.events('/aws/lambda/rotation')).toHaveLength(9);
  });

  test('Logs FilterLogEvents: time range, plain terms and real pagination; an unknown group is ResourceNotFoundException', async () => {
    const logs = client((c) => new CloudWatchLogsClient(c));
    aws.logs.putEvents('/aws/lambda/rotation', Array.from({ length: 25 }, (_, i) => ({ timestamp: T0 + i * 1000, message: `{"event":"${i % 5 === 0 ? 'rotate failure' : 'monitor success'}","n":${i}}` })));
    const pages: number[][] = [];
    for await (const page of paginateFilterLogEvents({ client: logs, pageSize: 4 }, { logGroupName: '/aws/lambda/rotation', startTime: T0 + 2000, endTime: T0 + 20_000 })) {
      pages.push((page.events ?? []).map((e) => (e.timestamp as number) - T0));
    }
    expect(pages.map((p) => p.length)).toEqual([4, 4, 4, 4, 3]);
    expect(pages.flat()).toEqual(Array.from({ length: 19 }, (_, i) => (i + 2) * 1000));
    const failures = await logs.send(new FilterLogEventsCommand({ logGroupName: '/aws/lambda/rotation', filterPattern: '"rotate failure"' }));
    expect(failures.events?.map((e) => e.message)).toHaveLength(5);
    expect(failures.nextToken).toBeUndefined();
    expect((await failure(logs.send(new FilterLogEventsCommand({ logGroupName: '/aws/lambda/nope' })))).name).toBe('ResourceNotFoundException');
    expect((await failure(logs.send(new FilterLogEventsCommand({ logGroupName: '/aws/lambda/rotation', filterPattern: '{ $.event = "x" }' })))).name).toBe('InvalidParameterException');
  });

  test('STS GetCallerIdentity answers the identity of the signing key, and is never denied by the authorize hook', async () => {
    const role = aws.sts.addIdentity('AKIAROLEKEY000000001', 'arn:aws:sts::123456789012:assumed-role/KeyAdministrator/alice');
    aws.authorize = () => false;
    const asDefault = await client((c) => new STSClient(c)).send(new GetCallerIdentityCommand({}));
    expect(asDefault).toMatchObject({ Account: '123456789012', Arn: 'arn:aws:iam::123456789012:user/aws-stand-in' });
    expect(asDefault.UserId).toMatch(/^AIDA[0-9A-F]{17}$/);
    const asRole = await client((c) => new STSClient({ ...c, credentials: role })).send(new GetCallerIdentityCommand({}));
    expect(asRole).toMatchObject({ Arn: 'arn:aws:sts::123456789012:assumed-role/KeyAdministrator/alice', Account: '123456789012' });
    expect(asRole.UserId).toMatch(/^AROA[0-9A-F]{17}:alice$/);
    expect(aws.requests.map((r) => r.accessKeyId)).toEqual([aws.credentials.accessKeyId, role.accessKeyId]);
  });

  test('S3 PutObject/GetObject/HeadObject round trip, path style, with the SSE headers recorded and aws-chunked uploads decoded', async () => {
    const s3 = client((c) => new S3Client(c));
    const key = aws.kms.createKey();
    aws.s3.createBucket('backups');
    const put = await s3.send(new PutObjectCommand({ Bucket: 'backups', Key: 'keyset/2026-03-01.json', Body: '{"v":1}', ContentType: 'application/json', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: key.arn, Metadata: { primary: '3' } }));
    expect(put).toMatchObject({ ServerSideEncryption: 'aws:kms', SSEKMSKeyId: key.arn, ETag: expect.stringMatching(/^"[0-9a-f]{32}"$/), ChecksumCRC32: expect.any(String) });
    const recorded = aws.requests.at(-1);
    expect(recorded).toMatchObject({ service: 's3', operation: 'PutObject', input: { Bucket: 'backups', Key: 'keyset/2026-03-01.json', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: key.arn, ChecksumAlgorithm: 'CRC32' } });
    expect(aws.s3.object('backups', 'keyset/2026-03-01.json')).toMatchObject({ requestedServerSideEncryption: 'aws:kms', sseKmsKeyId: key.arn, contentType: 'application/json', metadata: { primary: '3' } });

    const got = await s3.send(new GetObjectCommand({ Bucket: 'backups', Key: 'keyset/2026-03-01.json' }));
    expect(await got.Body?.transformToString()).toBe('{"v":1}');
    expect(got).toMatchObject({ ServerSideEncryption: 'aws:kms', SSEKMSKeyId: key.arn, ContentType: 'application/json', Metadata: { primary: '3' }, ChecksumCRC32: put.ChecksumCRC32 });
    await s3.send(new PutObjectCommand({ Bucket: 'backups', Key: 'streamed', Body: Readable.from([Buffer.from('hello '), Buffer.from('world')]), ContentLength: 11 }));
    expect(aws.s3.object('backups', 'streamed')?.body.toString()).toBe('hello world');
    expect(aws.s3.object('backups', 'streamed')).toMatchObject({ serverSideEncryption: 'AES256', requestedServerSideEncryption: undefined, checksum: { algorithm: 'crc32' } });
    expect((await s3.send(new HeadObjectCommand({ Bucket: 'backups', Key: 'streamed' }))).ContentLength).toBe(11);

    expect((await failure(s3.send(new GetObjectCommand({ Bucket: 'backups', Key: 'nope' })))).name).toBe('NoSuchKey');
    expect((await failure(s3.send(new GetObjectCommand({ Bucket: 'other', Key: 'k' })))).name).toBe('NoSuchBucket');
    expect((await failure(s3.send(new HeadObjectCommand({ Bucket: 'backups', Key: 'nope' })))).name).toBe('NotFound');
  });
});

describe('Lambda Invoke (REST-JSON, as the AWS CLI sends it)', () => {
  /** POST /2015-03-31/functions/<name>/invocations, signed (the scope says lambda) unless `signed` is false. */
  function invoke(functionName: string, payload: string, headers: Record<string, string> = {}, signed = true): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
    const auth = signed ? { authorization: `AWS4-HMAC-SHA256 Credential=${aws.credentials.accessKeyId}/20260301/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=0` } : {};
    return new Promise((resolve, reject) => {
      const req = http.request(`${aws.endpoint}/2015-03-31/functions/${encodeURIComponent(functionName)}/invocations`, { method: 'POST', headers: { ...auth, ...headers } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      });
      req.on('error', reject);
      req.end(payload);
    });
  }

  test('RequestResponse: the payload is the result; a handler error is 200 with X-Amz-Function-Error and errorType/errorMessage; logs land in the log group', async () => {
    const arn = aws.lambda.createFunction(
      'fn',
      async (event) => ((event as { fail?: boolean }).fail ? { ok: false, errorType: 'KeyManagementError', errorMessage: 'refused', logs: 'line 1\n' } : { ok: true, result: { echo: event }, logs: '{"action":"x"}\n' }),
      { logGroup: '/fn/logs' },
    );
    expect(arn).toBe('arn:aws:lambda:us-east-1:123456789012:function:fn');
    const ok = await invoke('fn', '{"a":1}', { 'x-amz-log-type': 'Tail' });
    expect([ok.status, ok.headers['x-amz-function-error'], ok.headers['x-amz-executed-version'], JSON.parse(ok.body)]).toEqual([200, undefined, '$LATEST', { echo: { a: 1 } }]);
    expect(Buffer.from(String(ok.headers['x-amz-log-result']), 'base64').toString()).toMatch(/^START RequestId: .*\n\{"action":"x"\}\nEND RequestId: /);
    const failed = await invoke(arn, '{"fail":true}');
    expect([failed.status, failed.headers['x-amz-function-error'], JSON.parse(failed.body)]).toEqual([200, 'Unhandled', { errorType: 'KeyManagementError', errorMessage: 'refused', trace: [] }]);
    expect(aws.logs.events('/fn/logs').map((e) => e.message)).toEqual([
      expect.stringMatching(/^START /),
      '{"action":"x"}',
      expect.stringMatching(/^END /),
      expect.stringMatching(/^REPORT /),
      expect.stringMatching(/^START /),
      'line 1',
      '{"errorType":"KeyManagementError","errorMessage":"refused"}',
      expect.stringMatching(/^END /),
      expect.stringMatching(/^REPORT /),
    ]);
    expect(aws.lambda.invocations.map((i) => [i.functionName, i.event, i.outcome?.ok])).toEqual([
      ['fn', { a: 1 }, true],
      ['fn', { fail: true }, false],
    ]);
  });

  test('Event answers 202 before the handler ends, DryRun runs nothing; an unknown function is 404, a body that is not JSON 400', async () => {
    let release = (): void => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    aws.lambda.createFunction('slow', async () => {
      await gate;
      return { ok: true, result: 'done' };
    });
    const event = await invoke('slow', '{}', { 'x-amz-invocation-type': 'Event' });
    expect([event.status, event.body]).toEqual([202, '']);
    expect(aws.lambda.invocations[0].outcome).toBeUndefined();
    release();
    await aws.lambda.settled();
    expect(aws.lambda.invocations[0].outcome).toEqual({ ok: true, result: 'done' });
    expect((await invoke('slow', '{}', { 'x-amz-invocation-type': 'DryRun' })).status).toBe(204);
    expect(aws.lambda.invocations).toHaveLength(1);
    const missing = await invoke('123456789012:function:nope', '{}');
    expect([missing.status, missing.headers['x-amzn-errortype'], JSON.parse(missing.body)]).toEqual([404, 'ResourceNotFoundException', { Type: 'User', message: 'Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope' }]);
    expect((await invoke('slow:v2', '{}')).status).toBe(404);
    const bad = await invoke('slow', 'not json');
    expect([bad.status, bad.headers['x-amzn-errortype']]).toEqual([400, 'InvalidRequestContentException']);
  });

  test('faults and authentication answer as Lambda does: 429 TooManyRequestsException, 403 AccessDeniedException, 403 for an unsigned request', async () => {
    aws.lambda.createFunction('fn', async () => ({ ok: true, result: null }));
    aws.faults.add({ service: 'lambda', operation: 'Invoke', kind: 'throttle', times: 1 });
    aws.faults.add({ service: 'lambda', kind: 'access-denied', times: 1 });
    expect([(await invoke('fn', '{}')).status, (await invoke('fn', '{}')).status]).toEqual([429, 403]);
    const unsigned = await invoke('fn', '{}', {}, false);
    expect([unsigned.status, unsigned.headers['x-amzn-errortype']]).toEqual([403, 'MissingAuthenticationTokenException']);
    expect(aws.lambda.invocations).toHaveLength(0);
    expect(aws.requests.map((r) => [r.service, r.operation, r.outcome])).toEqual([
      ['lambda', 'Invoke', { status: 429, error: 'TooManyRequestsException', fault: 'throttle' }],
      ['lambda', 'Invoke', { status: 403, error: 'AccessDeniedException', fault: 'access-denied' }],
      ['lambda', 'Invoke', { status: 403, error: 'MissingAuthenticationTokenException' }],
    ]);
  });

  test('rotationFunction(name) makes Secrets Manager invoke the function: an Unhandled error fails the step', async () => {
    aws.lambda.createFunction('rotator', async (event) => ((event as RotationEvent).Step === 'testSecret' ? { ok: false, errorType: 'KeyManagementError', errorMessage: 'canary failed' } : { ok: true, result: null }));
    aws.secretsManager.createSecret('s', { secretString: 'one' });
    aws.secretsManager.rotationFunction = aws.lambda.rotationFunction('rotator');
    aws.secretsManager.configureRotation('s', { lambdaArn: 'arn:aws:lambda:us-east-1:123456789012:function:rotator' });
    await aws.secretsManager.rotationsSettled();
    expect(aws.secretsManager.invocations.map((i) => `${i.step}:${i.outcome}`)).toEqual(['createSecret:succeeded', 'setSecret:succeeded', 'testSecret:failed']);
    expect(aws.secretsManager.invocations[2].error).toBe('KeyManagementError: canary failed');
    expect(aws.lambda.invocations.map((i) => (i.event as RotationEvent).Step)).toEqual(['createSecret', 'setSecret', 'testSecret']);
  });
});

describe('authentication and authorization', () => {
  test('an access key the stand-in does not know is refused as each service refuses it', async () => {
    aws.secretsManager.createSecret('s', { secretString: 'one' });
    aws.s3.createBucket('b');
    const stranger = { accessKeyId: 'AKIAUNKNOWN000000001', secretAccessKey: 'x' };
    const unknown = async (send: () => Promise<unknown>) => (await failure(send())).name;
    expect(await unknown(() => client((c) => new SecretsManagerClient({ ...c, credentials: stranger })).send(new GetSecretValueCommand({ SecretId: 's' })))).toBe('UnrecognizedClientException');
    expect(await unknown(() => client((c) => new STSClient({ ...c, credentials: stranger })).send(new GetCallerIdentityCommand({})))).toBe('InvalidClientTokenId');
    expect(await unknown(() => client((c) => new S3Client({ ...c, credentials: stranger })).send(new GetObjectCommand({ Bucket: 'b', Key: 'k' })))).toBe('InvalidAccessKeyId');
    expect(await unknown(() => client((c) => new CloudWatchClient({ ...c, credentials: stranger })).send(new PutMetricDataCommand({ Namespace: 'N', MetricData: [{ MetricName: 'M', Value: 1 }] })))).toBe('InvalidClientTokenId');
    expect(aws.requests.map((r) => r.accessKeyId)).toEqual(Array(4).fill(stranger.accessKeyId));
  });

  test('an unsigned request gets MissingAuthenticationTokenException', async () => {
    const reply = await new Promise<{ status: number; body: string; type: string }>((resolve, reject) => {
      const req = http.request(aws.endpoint, { method: 'POST', headers: { 'x-amz-target': 'secretsmanager.GetSecretValue', 'content-type': 'application/x-amz-json-1.1' } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: String(res.headers['x-amzn-errortype']) }));
      });
      req.on('error', reject);
      req.end('{"SecretId":"s"}');
    });
    expect(reply).toEqual({ status: 400, type: 'MissingAuthenticationTokenException', body: JSON.stringify({ __type: 'MissingAuthenticationTokenException', message: 'Missing Authentication Token' }) });
  });

  test('the authorize hook denies per key and operation with AWS-shaped messages', async () => {
    const { arn } = aws.secretsManager.createSecret('s', { secretString: 'one' });
    aws.s3.createBucket('b');
    const reader = aws.sts.addIdentity('AKIAREADER0000000001', 'arn:aws:sts::123456789012:assumed-role/ApplicationService/svc');
    const seen: string[] = [];
    aws.authorize = (req) => {
      seen.push(`${req.service}:${req.operation}:${req.resource}`);
      return req.accessKeyId !== reader.accessKeyId || req.operation === 'GetSecretValue';
    };
    const asReader = client((c) => new SecretsManagerClient({ ...c, credentials: reader }));
    await expect(asReader.send(new GetSecretValueCommand({ SecretId: 's' }))).resolves.toMatchObject({ SecretString: 'one' });
    const denied = await failure(asReader.send(new PutSecretValueCommand({ SecretId: 's', SecretString: 'two' })));
    expect([denied.name, denied.message]).toEqual([
      'AccessDeniedException',
      `User: arn:aws:sts::123456789012:assumed-role/ApplicationService/svc is not authorized to perform: secretsmanager:PutSecretValue on resource: ${arn} because no identity-based policy allows the secretsmanager:PutSecretValue action`,
    ]);
    const s3Denied = await failure(client((c) => new S3Client({ ...c, credentials: reader })).send(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: 'x' })));
    expect([s3Denied.name, s3Denied.$metadata?.httpStatusCode]).toEqual(['AccessDenied', 403]);
    expect(aws.s3.keys('b')).toEqual([]);
    expect(seen).toEqual([`secretsmanager:GetSecretValue:${arn}`, `secretsmanager:PutSecretValue:${arn}`, 's3:PutObject:arn:aws:s3:::b/k']);
  });
});

describe('faults', () => {
  /** The services with an SDK client in this repository (Lambda's faults are tested with its Invoke below). */
  type SdkService = Exclude<ServiceName, 'lambda'>;
  const SERVICES: SdkService[] = ['secretsmanager', 'kms', 'monitoring', 'logs', 'sts', 's3'];
  /** One representative call per service, through a client with one attempt. */
  function callFor(service: SdkService, requestTimeout?: number): () => Promise<unknown> {
    const handler = requestTimeout === undefined ? {} : { requestHandler: { requestTimeout, throwOnRequestTimeout: true } };
    switch (service) {
      case 'secretsmanager':
        return () => client((c) => new SecretsManagerClient({ ...c, ...handler })).send(new GetSecretValueCommand({ SecretId: 's' }));
      case 'kms':
        return () => client((c) => new KMSClient({ ...c, ...handler })).send(new DescribeKeyCommand({ KeyId: aws.kms.createKey().keyId }));
      case 'monitoring':
        return () => client((c) => new CloudWatchClient({ ...c, ...handler })).send(new PutMetricDataCommand({ Namespace: 'N', MetricData: [{ MetricName: 'M', Value: 1 }] }));
      case 'logs':
        return () => client((c) => new CloudWatchLogsClient({ ...c, ...handler })).send(new FilterLogEventsCommand({ logGroupName: 'g' }));
      case 'sts':
        return () => client((c) => new STSClient({ ...c, ...handler })).send(new GetCallerIdentityCommand({}));
      case 's3':
        return () => client((c) => new S3Client({ ...c, ...handler })).send(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: 'x' }));
    }
  }
  beforeEach(() => {
    aws.secretsManager.createSecret('s', { secretString: 'one' });
    aws.logs.createLogGroup('g');
    aws.s3.createBucket('b');
  });

  const EXPECTED: Record<Exclude<FaultKind, 'slow' | 'hang' | 'reset'>, Record<SdkService, [string, number]>> = {
    'access-denied': { secretsmanager: ['AccessDeniedException', 400], kms: ['AccessDeniedException', 400], monitoring: ['AccessDenied', 403], logs: ['AccessDeniedException', 400], sts: ['AccessDenied', 403], s3: ['AccessDenied', 403] },
    'expired-token': { secretsmanager: ['ExpiredTokenException', 400], kms: ['ExpiredTokenException', 400], monitoring: ['ExpiredToken', 400], logs: ['ExpiredTokenException', 400], sts: ['ExpiredToken', 400], s3: ['ExpiredToken', 400] },
    throttle: { secretsmanager: ['ThrottlingException', 400], kms: ['ThrottlingException', 400], monitoring: ['Throttling', 400], logs: ['ThrottlingException', 400], sts: ['Throttling', 400], s3: ['SlowDown', 503] },
    'server-error': { secretsmanager: ['InternalServiceError', 500], kms: ['KMSInternalException', 500], monitoring: ['InternalServiceFault', 500], logs: ['ServiceUnavailableException', 500], sts: ['InternalFailure', 500], s3: ['InternalError', 500] },
  };

  test.each(Object.keys(EXPECTED) as Array<keyof typeof EXPECTED>)('%s surfaces as each service\'s own error name and status', async (kind) => {
    const got: Record<string, [string, number | undefined]> = {};
    for (const service of SERVICES) {
      aws.faults.clear();
      aws.faults.add({ service, kind });
      const err = await failure(callFor(service)());
      got[service] = [err.name, err.$metadata?.httpStatusCode];
    }
    expect(got).toEqual(EXPECTED[kind]);
    expect(aws.requests.every((r) => r.outcome && 'status' in r.outcome && r.outcome.fault === kind)).toBe(true);
  });

  test('times: 1 fails the first attempt only, and the SDK\'s standard retry goes through', async () => {
    aws.faults.add({ service: 'secretsmanager', operation: 'GetSecretValue', kind: 'server-error', times: 1 });
    const throttled = aws.faults.add({ service: 'monitoring', kind: 'throttle', times: 1 });
    const read = await sm(3).send(new GetSecretValueCommand({ SecretId: 's' }));
    expect(read.$metadata.attempts).toBe(2);
    await client((c) => new CloudWatchClient(c), 3).send(new PutMetricDataCommand({ Namespace: 'N', MetricData: [{ MetricName: 'M', Value: 1 }] }));
    expect(throttled.hits).toBe(1);
    expect(aws.requests.map((r) => [r.operation, r.outcome])).toEqual([
      ['GetSecretValue', { status: 500, error: 'InternalServiceError', fault: 'server-error' }],
      ['GetSecretValue', { status: 200 }],
      ['PutMetricData', { status: 400, error: 'Throttling', fault: 'throttle' }],
      ['PutMetricData', { status: 200 }],
    ]);
  });

  test('reset with applied: true lands the write and loses the answer; the SDK retries with the same ClientRequestToken and gets the idempotent success', async () => {
    aws.faults.add({ service: 'secretsmanager', operation: 'PutSecretValue', kind: 'reset', applied: true, times: 1 });
    const put = await sm(3).send(new PutSecretValueCommand({ SecretId: 's', SecretString: 'two' }));
    expect(put.$metadata.attempts).toBe(2);
    expect(aws.requests.map((r) => r.outcome)).toEqual([{ fault: 'reset' }, { status: 200 }]);
    expect(aws.requests[0].input.ClientRequestToken).toBe(aws.requests[1].input.ClientRequestToken);
    expect(aws.secretsManager.versionCount('s')).toBe(2);
    expect(aws.secretsManager.value('s')).toBe('two');
  });

  test('reset without applied changes nothing; match narrows a rule to some inputs', async () => {
    aws.faults.add({ kind: 'reset', match: (input) => input.SecretString === 'doomed' });
    const err = await failure(sm().send(new PutSecretValueCommand({ SecretId: 's', SecretString: 'doomed' })));
    // In jest the Node-core error fails the SDK's `instanceof Error` (another realm) and is wrapped.
    expect(err.message).toMatch(/socket hang up/);
    await sm().send(new PutSecretValueCommand({ SecretId: 's', SecretString: 'fine' }));
    expect(aws.secretsManager.versions('s').map((v) => v.secretString)).toEqual(['one', 'fine']);
  });

  test('slow answers correctly after the delay; hang never answers (the SDK times out only with throwOnRequestTimeout) and close() does not wait for it', async () => {
    aws.faults.add({ service: 'secretsmanager', kind: 'slow', delayMs: 150, times: 1 });
    const started = Date.now();
    await expect(sm().send(new GetSecretValueCommand({ SecretId: 's' }))).resolves.toMatchObject({ SecretString: 'one' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);

    aws.faults.add({ service: 'secretsmanager', kind: 'hang' });
    const timedOut = await failure(callFor('secretsmanager', 200)());
    expect(timedOut.name).toBe('TimeoutError');
    const held = failure(sm().send(new GetSecretValueCommand({ SecretId: 's' })));
    while (aws.requests.filter((r) => r.outcome && 'fault' in r.outcome && r.outcome.fault === 'hang').length < 2) await new Promise((r) => setTimeout(r, 5));
    const closing = Date.now();
    await aws.close();
    expect(Date.now() - closing).toBeLessThan(1_000);
    expect((await held).message).toMatch(/socket hang up/);
  });

  test('refusedEndpoint is a loopback URL where nothing listens', async () => {
    const endpoint = await refusedEndpoint();
    expect(endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const err = await failure(client((c) => new SecretsManagerClient({ ...c, endpoint })).send(new GetSecretValueCommand({ SecretId: 's' })));
    expect(err.message).toMatch(/ECONNREFUSED/);
  });
});

describe('separate processes', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'aws-stand-in-test-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('a child process with aws.env() reaches the stand-in with real clients (and sees the SDK\'s own error names)', async () => {
    aws.secretsManager.createSecret('app/keyset', { secretString: 'from the stand-in' });
    aws.faults.add({ service: 'secretsmanager', operation: 'PutSecretValue', kind: 'reset' });
    const script = `
      const { SecretsManagerClient, GetSecretValueCommand, PutSecretValueCommand } = require('@aws-sdk/client-secrets-manager');
      const { STSClient, GetCallerIdentityCommand } = require('@aws-sdk/client-sts');
      (async () => {
        const sm = new SecretsManagerClient({ maxAttempts: 1 });
        const value = await sm.send(new GetSecretValueCommand({ SecretId: 'app/keyset' }));
        const who = await new STSClient({}).send(new GetCallerIdentityCommand({}));
        const reset = await sm.send(new PutSecretValueCommand({ SecretId: 'app/keyset', SecretString: 'x' })).catch((e) => e);
        console.log(JSON.stringify({ value: value.SecretString, arn: who.Arn, reset: { name: reset.name, code: reset.code } }));
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const run = await runProcess(process.execPath, ['--no-warnings', '-e', script], { cwd: REPO, env: { PATH: process.env.PATH, HOME: dir, ...aws.env() }, timeoutMs: 20_000 });
    expect(run).toMatchObject({ code: 0, timedOut: false });
    expect(JSON.parse(run.stdout)).toEqual({ value: 'from the stand-in', arn: 'arn:aws:iam::123456789012:user/aws-stand-in', reset: { name: 'TimeoutError', code: 'ECONNRESET' } });
    expect(aws.requests.map((r) => r.service)).toEqual(['secretsmanager', 'sts', 'secretsmanager']);
  });

  test('runProcess kills the process group on timeout', async () => {
    const run = await runProcess(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { timeoutMs: 300 });
    expect(run).toMatchObject({ timedOut: true, signal: 'SIGKILL', code: null });
    expect(run.durationMs).toBeLessThan(5_000);
  });

  test('invokeBundle: the result line is told apart from log lines, errors and timeouts are distinguishable, and the process exits at once', async () => {
    const bundle = path.join(dir, 'handlers.js');
    writeFileSync(
      bundle,
      `exports.handler = async (event, context) => {
        console.log('@@RESULT fake'); console.log('log line', event.mode);
        setInterval(() => {}, 60000); // a live timer must not keep the invocation open
        if (event.mode === 'fail') throw Object.assign(new Error('no luck'), { name: 'RotationError', code: 'KEYSET_NOT_FOUND' });
        if (event.mode === 'never') return new Promise(() => {});
        return { name: context.functionName, arn: context.invokedFunctionArn, remaining: context.getRemainingTimeInMillis() > 0, id: context.awsRequestId.length };
      };`,
    );
    const ok = await invokeBundle(bundle, { mode: 'ok' }, { functionName: 'rotate', functionArn: 'arn:aws:lambda:us-east-1:123456789012:function:rotate' });
    expect(ok).toMatchObject({ ok: true, timedOut: false, result: { name: 'rotate', arn: 'arn:aws:lambda:us-east-1:123456789012:function:rotate', remaining: true, id: 36 } });
    expect(ok.logs).toContain('@@RESULT fake\nlog line ok');
    expect(ok.durationMs).toBeLessThan(5_000);
    const failed = await invokeBundle(bundle, { mode: 'fail' });
    expect(failed).toMatchObject({ ok: false, timedOut: false, errorName: 'RotationError', errorMessage: 'no luck', errorCode: 'KEYSET_NOT_FOUND' });
    const never = await invokeBundle(bundle, { mode: 'never' }, { timeoutMs: 300 });
    expect(never).toMatchObject({ ok: false, timedOut: true, errorName: 'Sandbox.Timedout' });
    const broken = path.join(dir, 'broken.js');
    writeFileSync(broken, 'throw new Error("init failed")');
    expect(await invokeBundle(broken, {})).toMatchObject({ ok: false, phase: 'init', errorMessage: 'init failed' });
  });

  test('warmLambdaHandler: one environment serves invocations in turn (module state kept, logs per invocation); a timeout or a crash ends it, and a busy one is not shared', async () => {
    const bundle = path.join(dir, 'warm.js');
    writeFileSync(
      bundle,
      `let calls = 0;
      exports.handler = async (event, context) => {
        calls++;
        console.log('call', calls, event.mode);
        if (event.mode === 'fail') throw Object.assign(new Error('no luck'), { name: 'RotationError' });
        if (event.mode === 'never') return new Promise(() => {});
        if (event.mode === 'crash') setImmediate(() => { throw new Error('boom'); });
        if (event.mode === 'crash') return new Promise(() => {});
        if (event.mode === 'slow') await new Promise((r) => setTimeout(r, 300));
        return { calls, pid: process.pid, name: context.functionName, id: context.awsRequestId };
      };`,
    );
    const handler = warmLambdaHandler(bundle, {}, { timeoutMs: 1_000 });
    const context = { functionName: 'warm', functionArn: 'arn:aws:lambda:us-east-1:123456789012:function:warm', requestId: 'r' };
    try {
      const first = await handler({ mode: 'ok' }, context);
      const second = await handler({ mode: 'ok' }, context);
      expect(first).toMatchObject({ ok: true, result: { calls: 1, name: 'warm' }, logs: 'call 1 ok' });
      expect(second).toMatchObject({ ok: true, result: { calls: 2 }, logs: 'call 2 ok' });
      const [a, b] = [first, second].map((o) => (o.ok ? (o.result as { pid: number; id: string }) : undefined));
      expect(b?.pid).toBe(a?.pid);
      expect(b?.id).not.toBe(a?.id);
      expect(await handler({ mode: 'fail' }, context)).toMatchObject({ ok: false, errorType: 'RotationError', errorMessage: 'no luck', logs: 'call 3 fail' });
      expect(handler.coldStarts).toBe(1);
      expect(await handler({ mode: 'never' }, context)).toMatchObject({ ok: false, errorType: 'Sandbox.Timedout' });
      expect(await handler({ mode: 'ok' }, context)).toMatchObject({ ok: true, result: { calls: 1 } });
      expect(await handler({ mode: 'crash' }, context)).toMatchObject({ ok: false, errorType: 'Runtime.UncaughtException', errorMessage: 'boom' });
      expect(await handler({ mode: 'ok' }, context)).toMatchObject({ ok: true, result: { calls: 1 } });
      expect(handler.coldStarts).toBe(3);
      const both = await Promise.all([handler({ mode: 'slow' }, context), handler({ mode: 'slow' }, context)]);
      const pids = both.map((o) => (o.ok ? (o.result as { pid: number }).pid : undefined));
      expect(new Set(pids).size).toBe(2);
      expect(handler.coldStarts).toBe(4);
    } finally {
      await handler.close();
    }
    const broken = path.join(dir, 'warm-broken.js');
    writeFileSync(broken, 'throw new Error("init failed")');
    const failing = warmLambdaHandler(broken, {});
    try {
      expect(await failing({}, context)).toMatchObject({ ok: false, errorMessage: 'init failed' });
    } finally {
      await failing.close();
    }
  });

  test('bundleRotationFunction runs each rotation step in its own Lambda-like process against the stand-in', async () => {
    aws.secretsManager.createSecret('db/password', { secretString: 'old' });
    const bundle = path.join(dir, 'rotation.js');
    writeFileSync(
      bundle,
      `const sm = require('@aws-sdk/client-secrets-manager');
      const client = new sm.SecretsManagerClient({});
      exports.handler = async ({ Step, SecretId, ClientRequestToken }) => {
        console.log(JSON.stringify({ Step }));
        if (Step === 'createSecret') await client.send(new sm.PutSecretValueCommand({ SecretId, ClientRequestToken, SecretString: 'new', VersionStages: ['AWSPENDING'] }));
        if (Step === 'finishSecret') {
          const d = await client.send(new sm.DescribeSecretCommand({ SecretId }));
          const current = Object.keys(d.VersionIdsToStages).find((v) => d.VersionIdsToStages[v].includes('AWSCURRENT'));
          await client.send(new sm.UpdateSecretVersionStageCommand({ SecretId, VersionStage: 'AWSCURRENT', MoveToVersionId: ClientRequestToken, RemoveFromVersionId: current }));
        }
        return Step;
      };`,
    );
    const logs: string[] = [];
    aws.secretsManager.rotationFunction = bundleRotationFunction(bundle, { ...aws.env(), HOME: dir, NODE_PATH: path.join(REPO, 'node_modules') }, { timeoutMs: 15_000, onInvoke: (_e, r) => logs.push(r.logs.trim()) });
    aws.secretsManager.configureRotation('db/password', { lambdaArn: 'arn:aws:lambda:us-east-1:123456789012:function:rotate' });
    await aws.secretsManager.rotationsSettled();
    expect(aws.secretsManager.eventNames()).toEqual(['RotationStarted', 'RotationSucceeded']);
    expect(logs).toEqual(['createSecret', 'setSecret', 'testSecret', 'finishSecret'].map((Step) => JSON.stringify({ Step })));
    expect(aws.secretsManager.value('db/password')).toBe('new');
  });

  test('the real rotation handler, bundled as the CDK construct bundles it, runs deploy-time init against the stand-in', async () => {
    aws.secretsManager.createSecret('alphapulse/keyset');
    aws.secretsManager.createSecret('alphapulse/rotation-log');
    const bundle = await bundleRotationHandler();
    const env = { ...aws.env(), HOME: dir, KEYSET_SECRET_ID: 'alphapulse/keyset', ROTATION_LOG_SECRET_ID: 'alphapulse/rotation-log', ROTATION_PERIOD_DAYS: '90', STAGE: 'test' };
    const init = await invokeBundle(bundle, { RequestType: 'Create', ResourceProperties: {} }, { env, timeoutMs: 15_000, functionName: 'keys-rotation' });
    expect(init).toMatchObject({ ok: true, result: { PhysicalResourceId: 'alphapulse/keyset', Data: { Primary: '1' } } });
    expect(aws.secretsManager.versionWithStage('alphapulse/keyset', AWSCURRENT)).toBeDefined();
    // Its metrics (the first KeyAgeDays) are in its log, for CloudWatch Logs to extract; it never called CloudWatch.
    deliverLogs({ logs: aws.logs, logGroup: '/aws/lambda/keys-rotation' }, init);
    expect(aws.cloudWatch.datums('AlphaPulse/Encryption').map((d) => d.MetricName)).toContain('KeyAgeDays');
    expect(aws.cloudWatch.putMetricDataCalls).toBe(0);
    expect(await bundleRotationHandler()).toBe(bundle);
  });

  test('bundleLambdaHandler puts the real bundle behind the Lambda model: a direct rotate action is an Unhandled error, its log in the log group', async () => {
    aws.secretsManager.createSecret('alphapulse/keyset');
    aws.secretsManager.createSecret('alphapulse/rotation-log');
    const bundle = await bundleRotationHandler();
    const env = { ...aws.env(), HOME: dir, KEYSET_SECRET_ID: 'alphapulse/keyset', ROTATION_LOG_SECRET_ID: 'alphapulse/rotation-log', ROTATION_PERIOD_DAYS: '90', STAGE: 'test' };
    aws.lambda.createFunction('keys-rotation', bundleLambdaHandler(bundle, env, { timeoutMs: 15_000 }), { logGroup: '/keys/rotation' });
    const out = await aws.lambda.invokeFunction({ FunctionName: 'keys-rotation', Payload: Buffer.from('{"action":"rotate"}') });
    expect(out.FunctionError).toBe('Unhandled');
    expect(JSON.parse(out.Payload.toString())).toMatchObject({ errorMessage: expect.stringMatching(/./) });
    expect(aws.logs.events('/keys/rotation').map((e) => e.message).join('\n')).toMatch(/"code":"ROTATION_REFUSED"/);
  });
});
