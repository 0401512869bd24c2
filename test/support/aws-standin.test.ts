/**
 * The AWS stand-in (test/support/aws), driven over HTTP by the real SDK v3 clients: the documented
 * Secrets Manager semantics, the other services, faults as the SDK surfaces them, and the process
 * helpers (runProcess, the Lambda-like runner).
 */
import {
  CancelRotateSecretCommand,
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  paginateListSecretVersionIds,
  PutSecretValueCommand,
  RestoreSecretCommand,
  RotateSecretCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { TestClock } from './fixed';
import { AWSCURRENT, AWSPENDING, AWSPREVIOUS, type AwsStandIn, type RotationEvent, startAwsStandIn } from './aws';

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
