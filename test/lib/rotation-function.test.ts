/**
 * RotationFunction: the rotation Lambda, its role, its log group and dead-letter queue, Secrets Manager's native
 * schedule on the keyset and the daily monitor; in each stage's stack, and alone in a bare stack.
 */
import { Errors, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { STAGES, type StageName } from '../../lib/config';
import { KeyStorage } from '../../lib/key-storage';
import { RotationFunction, type RotationFunctionProps } from '../../lib/rotation-function';
import { allowsOf, arnOf, logicalIdOfConstruct, physicalNames, ref, resourceAt, roleStatements, type Synthesized, synthesizeStages, testApp } from './stack-fixture';

let stages: Record<StageName, Synthesized>;

const PERIOD: Record<StageName, number | null> = { prod: 90, staging: 30, dev: null };

/** A RotationFunction with the least a stack must give it: a KeyStorage, an operations key and a period. */
function alone(stack: Stack, id: string, props: Partial<RotationFunctionProps> = {}, sharedKey?: kms.Key) {
  const storage = new KeyStorage(stack, `${id}Storage`);
  const operationsKey = sharedKey ?? new kms.Key(stack, `${id}OperationsKey`, { enableKeyRotation: true });
  return { storage, operationsKey, rotation: new RotationFunction(stack, id, { storage, operationsKey, rotationPeriodDays: 90, ...props }) };
}

const app = testApp();
const bare = new Stack(app, 'Bare');
const { rotation, storage, operationsKey } = alone(bare, 'Rotation');

const onDemand = new Stack(app, 'OnDemand');
const { rotation: onDemandRotation } = alone(onDemand, 'Rotation', { rotationPeriodDays: null, reservedConcurrency: false, code: lambda.Code.fromInline('exports.handler = async () => undefined;') });

// Two in one stack, sharing one operations key.
const twice = new Stack(app, 'Twice');
const sharedKey = new kms.Key(twice, 'OperationsKey', { enableKeyRotation: true });
const firstRotation = alone(twice, 'First', {}, sharedKey);
const secondRotation = alone(twice, 'Second', {}, sharedKey);

const named = new Stack(app, 'Named');
const { rotation: namedRotation } = alone(named, 'Rotation', { functionName: 'team-rotation', logGroupName: '/team/rotation', deadLetterQueueName: 'team-rotation-dlq', stage: 'qa', rotationWindowHours: 2, warningWindowDays: 7 });

const t: Record<string, Template> = {};
beforeAll(() => {
  stages = synthesizeStages();
  for (const stack of [bare, onDemand, twice, named]) t[stack.stackName] = Template.fromStack(stack);
});

describe.each(STAGES)('stage %s', (stage) => {
  const k = () => stages[stage].stack.keys;
  const template = () => stages[stage].template;

  it('runs the bundled handler on Node.js 22, ARM64, with two reserved executions', () => {
    expect(resourceAt(template(), k().rotationFunction).Properties).toMatchObject({
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      ReservedConcurrentExecutions: 2,
      DeadLetterConfig: { TargetArn: arnOf(k().rotation.deadLetterQueue) },
    });
  });

  it('passes the handler its environment', () => {
    expect(resourceAt(template(), k().rotationFunction).Properties.Environment.Variables).toEqual({
      KEYSET_SECRET_ID: ref(k().keysetSecret),
      ROTATION_LOG_SECRET_ID: ref(k().rotationLogSecret),
      STORAGE_KEY_ID: arnOf(k().key),
      METRICS_NAMESPACE: 'AlphaPulse/Encryption',
      STAGE: stage,
      ...(PERIOD[stage] === null ? {} : { ROTATION_PERIOD_DAYS: String(PERIOD[stage]), WARNING_WINDOW_DAYS: '14' }),
    });
  });

  it('lets only its monitor rule and Secrets Manager, for the keyset secret of this account, invoke it', () => {
    const fn = k().rotationFunction;
    const rules = Object.entries(template().findResources('AWS::Events::Rule')).filter(([, r]) => (r.Properties.Targets ?? []).some((x: { Arn: unknown }) => JSON.stringify(x.Arn) === JSON.stringify(arnOf(fn))));
    expect(rules.map(([id]) => id)).toEqual([logicalIdOfConstruct(k().rotation.monitorRule)]);
    const permissions = Object.values(template().findResources('AWS::Lambda::Permission')).map((p) => p.Properties);
    expect(permissions).toEqual(
      expect.arrayContaining([
        { Action: 'lambda:InvokeFunction', FunctionName: arnOf(fn), Principal: 'events.amazonaws.com', SourceArn: arnOf(k().rotation.monitorRule) },
        { Action: 'lambda:InvokeFunction', FunctionName: arnOf(fn), Principal: 'secretsmanager.amazonaws.com', SourceArn: ref(k().keysetSecret), SourceAccount: { Ref: 'AWS::AccountId' } },
      ]),
    );
    // The provider framework's permission is CDK's own, for its framework function, not ours.
    expect(permissions.filter((p) => JSON.stringify(p.FunctionName) === JSON.stringify(arnOf(fn)))).toHaveLength(2);
  });

  it('retries async invocations twice, then dead-letters to a KMS-encrypted queue', () => {
    template().hasResourceProperties('AWS::Lambda::EventInvokeConfig', { FunctionName: ref(k().rotationFunction), MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 21600 });
    const queues = template().findResources('AWS::SQS::Queue');
    expect(Object.keys(queues)).toEqual([logicalIdOfConstruct(k().rotation.deadLetterQueue)]);
    expect(resourceAt(template(), k().rotation.deadLetterQueue).Properties.KmsMasterKeyId).toEqual(arnOf(k().operationsKey));
  });

  it('logs to an encrypted log group kept at least a year', () => {
    const groups = Object.values(template().findResources('AWS::Logs::LogGroup'));
    expect(groups.length).toBe(2);
    for (const g of groups) {
      expect(g.Properties.RetentionInDays).toBeGreaterThanOrEqual(365);
      expect(g.Properties.KmsKeyId).toBeDefined();
    }
    expect(resourceAt(template(), k().rotationFunction).Properties.LoggingConfig).toMatchObject({ LogGroup: ref(k().rotation.logGroup) });
    expect(resourceAt(template(), k().rotation.logGroup).Properties).toMatchObject({ RetentionInDays: 365, KmsKeyId: arnOf(k().operationsKey) });
  });

  it(
    PERIOD[stage] === null
      ? 'configures Secrets Manager rotation on the keyset with the function and no schedule (on demand only)'
      : `rotates the keyset through Secrets Manager's native schedule, rate(${PERIOD[stage]} days) in a 4-hour window, and no other`,
    () => {
      const schedules = Object.values(template().findResources('AWS::SecretsManager::RotationSchedule')).map((r) => r.Properties);
      expect(schedules).toEqual([
        {
          SecretId: ref(k().keysetSecret),
          RotationLambdaARN: arnOf(k().rotationFunction),
          RotateImmediatelyOnUpdate: false,
          ...(PERIOD[stage] === null ? {} : { RotationRules: { ScheduleExpression: `rate(${PERIOD[stage]} days)`, Duration: '4h' } }),
        },
      ]);
      expect(resourceAt(template(), k().rotation.schedule).Properties).toEqual(schedules[0]);
      // No EventBridge rule rotates: the only schedule rule is the daily monitor, and no target sends a rotate action.
      const rules = Object.values(template().findResources('AWS::Events::Rule'));
      expect(rules.filter((r) => r.Properties.ScheduleExpression).map((r) => r.Properties.ScheduleExpression)).toEqual(['rate(1 day)']);
      expect(JSON.stringify(rules)).not.toMatch(/\\"action\\":\\"rotate|rotationId/);
    },
  );

  it('measures daily with {"action":"monitor"}', () => {
    const monitor = Object.entries(template().findResources('AWS::Events::Rule')).filter(([, r]) => r.Properties.ScheduleExpression === 'rate(1 day)');
    expect(monitor.map(([id]) => id)).toEqual([logicalIdOfConstruct(k().rotation.monitorRule)]);
    expect(JSON.parse(monitor[0][1].Properties.Targets[0].Input)).toEqual({ action: 'monitor' });
  });

  it('may touch only its two secrets, its key through Secrets Manager (and its metadata), its logs, DLQ and itself', () => {
    const keyset = ref(k().keysetSecret);
    const rotationLog = ref(k().rotationLogSecret);
    const statements = roleStatements(template(), k().rotation.role);
    expect(resourceAt(template(), k().rotationFunction).Properties.Role).toEqual(arnOf(k().rotation.role));
    const services = new Set(statements.flatMap((s) => s.Action.map((a) => a.split(':')[0])));
    // No cloudwatch: its metrics are embedded-metric-format lines in its log, which CloudWatch Logs extracts.
    expect([...services].sort()).toEqual(['kms', 'lambda', 'logs', 'secretsmanager', 'sqs']);
    // RotateSecret (the monitor's backstop) needs lambda:InvokeFunction on the rotation function: on itself only.
    expect(allowsOf(statements, 'lambda:InvokeFunction').flatMap((x) => x.Resource)).toEqual([arnOf(k().rotationFunction)]);
    for (const action of ['secretsmanager:RotateSecret', 'secretsmanager:ListSecretVersionIds']) expect(allowsOf(statements, action).flatMap((x) => x.Resource)).toEqual([keyset]);
    const metadata = allowsOf(statements, 'kms:DescribeKey');
    expect(metadata).toHaveLength(1);
    expect(metadata[0]).toMatchObject({ Action: ['kms:DescribeKey', 'kms:GetKeyRotationStatus'], Resource: [arnOf(k().key)] });
    for (const s of statements.filter((x) => x.Action.some((a) => a.startsWith('secretsmanager:')))) {
      expect(s.Resource.every((r) => JSON.stringify(r) === JSON.stringify(keyset) || JSON.stringify(r) === JSON.stringify(rotationLog))).toBe(true);
    }
    for (const action of ['secretsmanager:PutSecretValue', 'secretsmanager:UpdateSecretVersionStage', 'secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret']) {
      const resources = allowsOf(statements, action).flatMap((s) => s.Resource);
      expect(resources).toEqual(expect.arrayContaining([keyset, rotationLog]));
    }
    const keyGrants = allowsOf(statements, 'kms:Decrypt').filter((s) => JSON.stringify(s.Resource) === JSON.stringify([arnOf(k().key)]));
    expect(keyGrants).toHaveLength(2);
    for (const g of keyGrants) expect(g.Condition?.StringEquals['kms:ViaService']).toEqual({ 'Fn::Join': ['', ['secretsmanager.', { Ref: 'AWS::Region' }, '.amazonaws.com']] });
    expect(allowsOf(statements, 'cloudwatch:PutMetricData')).toEqual([]);
    // Nothing on every resource: the one statement that needed `*` (PutMetricData) is gone.
    expect(statements.filter((x) => x.Resource.includes('*'))).toEqual([]);
    // Secrets Manager calls GenerateDataKey and Decrypt on the caller's behalf, never Encrypt.
    expect(allowsOf(statements, 'kms:Encrypt')).toEqual([]);
    expect(allowsOf(statements, 'secretsmanager:GetRandomPassword')).toEqual([]);
    for (const g of keyGrants) expect([...g.Action].sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
    expect(allowsOf(statements, 'secretsmanager:DeleteSecret')).toHaveLength(0);
    expect(allowsOf(statements, 'kms:ScheduleKeyDeletion')).toHaveLength(0);
    expect(resourceAt(template(), k().rotation.role).Properties.ManagedPolicyArns).toBeUndefined();
  });

  it('uses the operations key for its dead-letter queue only through SQS', () => {
    const dlqKey = roleStatements(template(), k().rotation.role).filter((x) => x.Effect === 'Allow' && JSON.stringify(x.Resource) === JSON.stringify([arnOf(k().operationsKey)]));
    expect(dlqKey).toHaveLength(1);
    expect([...dlqKey[0].Action].sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
    expect(dlqKey[0].Condition).toEqual({ StringEquals: { 'kms:ViaService': { 'Fn::Join': ['', ['sqs.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } } });
  });
});

describe('alone in a bare stack, with a storage, an operations key and a period', () => {
  it('synthesizes with every name generated (function, role, log group, queue)', () => {
    expect(physicalNames(t.Bare)).toEqual([]);
  });

  it('rotates on the native schedule with the defaults: a 4-hour window, 14-day warning, two reserved executions, a year of logs, retained', () => {
    expect(resourceAt(t.Bare, rotation.schedule).Properties).toEqual({ SecretId: ref(storage.keysetSecret), RotationLambdaARN: arnOf(rotation.function), RotateImmediatelyOnUpdate: false, RotationRules: { ScheduleExpression: 'rate(90 days)', Duration: '4h' } });
    expect(resourceAt(t.Bare, rotation.schedule).DependsOn).toEqual([logicalIdOfConstruct(rotation.node.findChild('SecretsManagerInvoke'))]);
    const fn = resourceAt(t.Bare, rotation.function).Properties;
    expect(fn.Environment.Variables).toMatchObject({ ROTATION_PERIOD_DAYS: '90', WARNING_WINDOW_DAYS: '14', STAGE: 'default' });
    expect(fn.ReservedConcurrentExecutions).toBe(2);
    expect(fn.Code).toEqual({ S3Bucket: expect.anything(), S3Key: expect.stringMatching(/\.zip$/) });
    expect(resourceAt(t.Bare, rotation.logGroup)).toMatchObject({ DeletionPolicy: 'Retain', Properties: { RetentionInDays: 365 } });
    expect(resourceAt(t.Bare, rotation.deadLetterQueue).DeletionPolicy).toBe('Retain');
  });

  it('logs in JSON to its own log group, created in the template (no CDK log-retention custom resource)', () => {
    expect(t.Bare.findResources('Custom::LogRetention')).toEqual({});
    expect(resourceAt(t.Bare, rotation.function).Properties.LoggingConfig).toEqual({ LogFormat: 'JSON', LogGroup: ref(rotation.logGroup) });
  });

  it('lets CloudWatch Logs and EventBridge use the operations key it was given', () => {
    const sids = (resourceAt(t.Bare, operationsKey).Properties.KeyPolicy.Statement as { Sid?: string }[]).map((s) => s.Sid);
    expect(sids).toEqual(expect.arrayContaining(['AllowCloudWatchLogs', 'AllowEventBridgeDeadLetters']));
  });
});

describe('rotationPeriodDays: null, no reserved concurrency, code given', () => {
  it('configures the function on the keyset with no schedule rules, and passes no period to the handler', () => {
    expect(resourceAt(t.OnDemand, onDemandRotation.schedule).Properties).not.toHaveProperty('RotationRules');
    expect(Object.keys(t.OnDemand.findResources('AWS::SecretsManager::RotationSchedule'))).toHaveLength(1);
    const fn = resourceAt(t.OnDemand, onDemandRotation.function).Properties;
    expect(fn.Environment.Variables).not.toHaveProperty('ROTATION_PERIOD_DAYS');
    expect(fn.Environment.Variables).not.toHaveProperty('WARNING_WINDOW_DAYS');
    expect(fn).not.toHaveProperty('ReservedConcurrentExecutions');
    expect(fn.Code).toEqual({ ZipFile: 'exports.handler = async () => undefined;' });
  });
});

describe('two in one stack, sharing an operations key', () => {
  it('do not clash: no physical name is set, each rotates its own keyset, and the shared key policy states each grant once', () => {
    expect(physicalNames(t.Twice)).toEqual([]);
    for (const { rotation: r, storage: s } of [firstRotation, secondRotation]) {
      expect(resourceAt(t.Twice, r.schedule).Properties).toMatchObject({ SecretId: ref(s.keysetSecret), RotationLambdaARN: arnOf(r.function) });
      expect(resourceAt(t.Twice, r.function).Properties.Environment.Variables.KEYSET_SECRET_ID).toEqual(ref(s.keysetSecret));
    }
    const sids = (resourceAt(t.Twice, sharedKey).Properties.KeyPolicy.Statement as { Sid?: string }[]).map((s) => s.Sid).filter((sid) => sid !== undefined);
    expect(sids.sort()).toEqual(['AllowCloudWatchLogs', 'AllowEventBridgeDeadLetters']);
  });
});

describe('names, stage and windows given', () => {
  it('names the function, log group and queue, and passes the stage and windows', () => {
    expect(physicalNames(t.Named).sort()).toEqual(['AWS::Lambda::Function team-rotation', 'AWS::Logs::LogGroup /team/rotation', 'AWS::SQS::Queue team-rotation-dlq']);
    expect(resourceAt(t.Named, namedRotation.function).Properties.Environment.Variables).toMatchObject({ STAGE: 'qa', WARNING_WINDOW_DAYS: '7' });
    expect(resourceAt(t.Named, namedRotation.schedule).Properties.RotationRules).toEqual({ ScheduleExpression: 'rate(90 days)', Duration: '2h' });
    expect(resourceAt(t.Named, namedRotation.function).Properties.Description).toMatch(/\(qa\)$/);
  });
});

describe('invalid props', () => {
  it.each<[Partial<RotationFunctionProps>, string, string]>([
    [{ rotationPeriodDays: 366 }, 'rotationPeriodDays', 'from 1 to 365'],
    [{ rotationPeriodDays: -1 }, 'rotationPeriodDays', 'from 1 to 365'],
    [{ rotationWindowHours: 25 }, 'rotationWindowHours', 'from 1 to 24'],
    [{ rotationWindowHours: 1.5 }, 'rotationWindowHours', 'from 1 to 24'],
    [{ rotationPeriodDays: 30, warningWindowDays: 30 }, 'warningWindowDays', 'from 1 to 29'],
    [{ warningWindowDays: 0 }, 'warningWindowDays', 'from 1 to 89'],
  ])('refuses %j with a ValidationError naming %s (%s)', (props, prop, range) => {
    let error: unknown;
    try {
      alone(new Stack(testApp(), 'S'), 'Rotation', props);
    } catch (err) {
      error = err;
    }
    expect(Errors.isValidationError(error)).toBe(true);
    expect((error as Error).message).toMatch(new RegExp(`^${prop} must be a whole number ${range}.*, got `));
  });

  it('ignores warningWindowDays when rotation is on demand only', () => {
    expect(() => alone(new Stack(testApp(), 'S'), 'Rotation', { rotationPeriodDays: null, warningWindowDays: 400 })).not.toThrow();
  });
});
