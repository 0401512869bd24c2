/**
 * AlphaPulseKeys, the L3 construct: what it composes, the dependencies between its parts, its grants (asked request
 * by request of the secrets' resource policies, test/lib/policy-evaluator.ts) and the reading stack's import; and what
 * a platform team meets first: the construct alone in a bare stack, twice in one stack, with its own topic, on demand
 * only, with props it must refuse.
 */
import { Errors, Fn, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks, NIST80053R5Checks, PCIDSS321Checks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { AlphaPulseKeys, type AlphaPulseKeysProps } from '../../lib/alphapulse-keys';
import { STAGES, type StageName } from '../../lib/config';
import { deniedBy } from './policy-evaluator';
import { arnOf, logicalIdOfConstruct, physicalNames, ref, resourceAt, resourcesUnder, roleStatements, type Synthesized, synthesizeStages, testApp } from './stack-fixture';

const ACCOUNT = '123456789012';
const KEYSET_ARN = `arn:aws:secretsmanager:us-east-1:${ACCOUNT}:secret:alphapulse/encryption/master_key-AbCdEf`;
const KEY_ARN = `arn:aws:kms:us-east-1:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
const PARTNER = `arn:aws:iam::${ACCOUNT}:role/settlement-service`;
const PARTNER_PATTERN = `arn:aws:iam::${ACCOUNT}:role/trading-*`;
const TOPIC_ARN = `arn:aws:sns:us-east-1:${ACCOUNT}:platform-pager`;

let stages: Record<StageName, Synthesized>;

/** The bare stacks, all in one app, synthesized once. */
const app = testApp();
const bare = new Stack(app, 'Bare');
const keys = new AlphaPulseKeys(bare, 'Keys');

const twice = new Stack(app, 'Twice');
const first = new AlphaPulseKeys(twice, 'First');
const second = new AlphaPulseKeys(twice, 'Second');

const granting = new Stack(app, 'Granting');
const granted = new AlphaPulseKeys(granting, 'Keys', { readerPrincipalArns: [PARTNER, PARTNER_PATTERN] });
const tradingFunction = new lambda.Function(granting, 'Trading', {
  runtime: lambda.Runtime.NODEJS_22_X,
  handler: 'index.handler',
  code: lambda.Code.fromInline('exports.handler = async () => undefined;'),
});
const teamRole = (id: string) => new iam.Role(granting, id, { assumedBy: new iam.AccountRootPrincipal() });
const grantees = { read: teamRole('TeamReader'), admin: teamRole('TeamAdmin'), backup: teamRole('TeamBackup'), audit: teamRole('TeamAudit'), stranger: teamRole('Stranger') };
granted.grantRead(tradingFunction);
granted.grantRead(grantees.read);
granted.grantAdmin(grantees.admin);
granted.grantBackup(grantees.backup);
granted.grantAudit(grantees.audit);

// Another region than the keyset's: kms:ViaService names the Secrets Manager of the keyset's region.
const reading = new Stack(app, 'Reading', { env: { account: ACCOUNT, region: 'eu-west-1' } });
const imported = AlphaPulseKeys.fromKeysetSecretAttributes(reading, 'Keyset', { keysetSecretArn: KEYSET_ARN, keyArn: KEY_ARN });
const readingRole = new iam.Role(reading, 'Service', { assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com') });
imported.grantRead(readingRole);
// The ARNs as tokens (an import, a parameter): the region is read from the secret's ARN at deploy time.
const readingByToken = new Stack(app, 'ReadingByToken');
const tokenRole = new iam.Role(readingByToken, 'Service', { assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com') });
AlphaPulseKeys.fromKeysetSecretAttributes(readingByToken, 'Keyset', { keysetSecretArn: Fn.importValue('KeysetSecretArn'), keyArn: Fn.importValue('KeysetKeyArn') }).grantRead(tokenRole);

const onDemand = new Stack(app, 'OnDemand');
const onDemandKeys = new AlphaPulseKeys(onDemand, 'Keys', { rotationPeriodDays: null });

const ownTopic = new Stack(app, 'OwnTopic');
const pager = sns.Topic.fromTopicArn(ownTopic, 'Pager', TOPIC_ARN);
const ownTopicKeys = new AlphaPulseKeys(ownTopic, 'Keys', { alarmTopic: pager });

const stageDefaults = { staging: new Stack(app, 'Staging'), dev: new Stack(app, 'Dev') };
const stagingKeys = new AlphaPulseKeys(stageDefaults.staging, 'Keys', { stage: 'staging' });
const devKeys = new AlphaPulseKeys(stageDefaults.dev, 'Keys', { stage: 'dev' });

const t: Record<string, Template> = {};
beforeAll(() => {
  stages = synthesizeStages();
  for (const stack of [bare, twice, granting, reading, readingByToken, onDemand, ownTopic, stageDefaults.staging, stageDefaults.dev]) t[stack.stackName] = Template.fromStack(stack);
});

const PERIOD: Record<StageName, number | null> = { prod: 90, staging: 30, dev: null };

describe.each(STAGES)('stage %s', (stage) => {
  const k = () => stages[stage].stack.keys;
  const template = () => stages[stage].template;

  it('turns on rotation for every KMS key: the storage, backup and operations keys, and no other', () => {
    const found = template().findResources('AWS::KMS::Key');
    expect(Object.keys(found).sort()).toEqual([k().key, k().backup.key, k().operationsKey].map(logicalIdOfConstruct).sort());
    for (const key of Object.values(found)) expect(key.Properties.EnableKeyRotation).toBe(true);
  });

  it('configures rotation only after the deploy-time init wrote the first keyset, and after Secrets Manager may invoke the function', () => {
    const schedule = resourceAt(template(), k().rotation.schedule);
    const init = logicalIdOfConstruct(k().initializer.resource);
    const permission = logicalIdOfConstruct(k().rotation.node.findChild('SecretsManagerInvoke'));
    expect(resourceAt(template(), k().rotation.node.findChild('SecretsManagerInvoke')).Properties.Principal).toBe('secretsmanager.amazonaws.com');
    expect(schedule.DependsOn).toEqual(expect.arrayContaining([init, permission]));
    expect(Object.keys(template().findResources('AWS::SecretsManager::RotationSchedule'))).toEqual([logicalIdOfConstruct(k().rotation.schedule)]);
    expect(PERIOD[stage] === null).toBe(resourceAt(template(), k().rotation.schedule).Properties.RotationRules === undefined);
  });

  it('creates MonitorSilent only after the deploy-time init (whose KeyAgeDays keeps a fresh stack out of alarm)', () => {
    expect(resourceAt(template(), k().alarms.MonitorSilent).DependsOn).toEqual(expect.arrayContaining([logicalIdOfConstruct(k().initializer.resource)]));
  });
});

describe('alone in a bare stack, with no props', () => {
  it('synthesizes with every physical name generated and no key alias', () => {
    expect(physicalNames(t.Bare)).toEqual([]);
    expect(t.Bare.findResources('AWS::KMS::Alias')).toEqual({});
  });

  it('composes storage, rotation, init, backups, roles and monitoring, and every resource of the stack is one of theirs', () => {
    const parts = [keys.operationsKey, keys.storage, keys.rotation, keys.initializer, keys.backup, keys.roles, keys.monitoring];
    expect(parts.map((p) => p.node.path)).toEqual(['Bare/Keys/OperationsKey', 'Bare/Keys/KeyStorage', 'Bare/Keys/Rotation', 'Bare/Keys/KeysetInit', 'Bare/Keys/Backup', 'Bare/Keys/Roles', 'Bare/Keys/Monitoring']);
    for (const part of parts) expect(Object.keys(resourcesUnder(t.Bare, part)).length).toBeGreaterThan(0);
    const all = Object.keys(t.Bare.toJSON().Resources).filter((id) => t.Bare.toJSON().Resources[id].Type !== 'AWS::CDK::Metadata');
    expect(Object.keys(resourcesUnder(t.Bare, keys)).sort()).toEqual(all.sort());
    expect([keys.key, keys.keysetSecret, keys.rotationLogSecret, keys.rotationFunction, keys.topic, keys.alarms]).toEqual([
      keys.storage.key,
      keys.storage.keysetSecret,
      keys.storage.rotationLogSecret,
      keys.rotation.function,
      keys.monitoring.topic,
      keys.monitoring.alarms,
    ]);
  });

  it('rotates every 90 days in a 4-hour window, warns 14 days ahead, reserves two executions and retains its resources', () => {
    expect(keys.rotationPeriodDays).toBe(90);
    expect(resourceAt(t.Bare, keys.rotation.schedule).Properties.RotationRules).toEqual({ ScheduleExpression: 'rate(90 days)', Duration: '4h' });
    const fn = resourceAt(t.Bare, keys.rotationFunction).Properties;
    expect(fn.Environment.Variables).toMatchObject({ ROTATION_PERIOD_DAYS: '90', WARNING_WINDOW_DAYS: '14', STAGE: 'default' });
    expect(fn.ReservedConcurrentExecutions).toBe(2);
    for (const c of [keys.key, keys.operationsKey, keys.backup.key, keys.keysetSecret, keys.rotationLogSecret, keys.backup.bucket, keys.backup.accessLogsBucket, keys.rotation.logGroup]) {
      expect(resourceAt(t.Bare, c).DeletionPolicy).toBe('Retain');
    }
  });

  it.each([
    ['AwsSolutions', () => new AwsSolutionsChecks()],
    ['PCI DSS 3.2.1', () => new PCIDSS321Checks()],
    ['NIST 800-53 R5', () => new NIST80053R5Checks()],
  ])('has no unacknowledged %s finding', (_name, pack) => {
    const report = pack().validateScope(bare) as unknown as { violations: { ruleName: string; violatingResources?: { constructPath?: string; resourceLogicalId: string }[] }[] };
    expect(report.violations.flatMap((v) => (v.violatingResources ?? []).map((r) => ({ rule: v.ruleName, path: r.constructPath ?? r.resourceLogicalId })))).toEqual([]);
  });
});

describe('stage defaults', () => {
  it('rotates staging every 30 days and keeps its resources', () => {
    expect(stagingKeys.rotationPeriodDays).toBe(30);
    expect(resourceAt(t.Staging, stagingKeys.rotation.schedule).Properties.RotationRules).toEqual({ ScheduleExpression: 'rate(30 days)', Duration: '4h' });
    expect(resourceAt(t.Staging, stagingKeys.keysetSecret).DeletionPolicy).toBe('Retain');
  });

  it('rotates dev on demand only and deletes its resources with the stack', () => {
    expect(devKeys.rotationPeriodDays).toBeNull();
    expect(resourceAt(t.Dev, devKeys.rotation.schedule).Properties).not.toHaveProperty('RotationRules');
    for (const c of [devKeys.key, devKeys.operationsKey, devKeys.backup.key, devKeys.keysetSecret, devKeys.rotationLogSecret, devKeys.backup.bucket, devKeys.rotation.logGroup]) {
      expect(resourceAt(t.Dev, c).DeletionPolicy).toBe('Delete');
    }
  });
});

describe('twice in one stack', () => {
  it('does not clash: no physical name is set, and each has its own resources', () => {
    expect(physicalNames(t.Twice)).toEqual([]);
    const mine = Object.keys(resourcesUnder(t.Twice, first));
    const theirs = Object.keys(resourcesUnder(t.Twice, second));
    expect(mine.filter((id) => theirs.includes(id))).toEqual([]);
    expect(mine.length).toBe(theirs.length);
  });

  it('rotates each keyset with its own function', () => {
    for (const k of [first, second]) {
      expect(resourceAt(t.Twice, k.rotation.schedule).Properties).toMatchObject({ SecretId: ref(k.keysetSecret), RotationLambdaARN: arnOf(k.rotationFunction) });
      expect(resourceAt(t.Twice, k.rotationFunction).Properties.Environment.Variables.KEYSET_SECRET_ID).toEqual(ref(k.keysetSecret));
    }
  });
});

/** Requests on the two secrets, by label: what a duty needs, and what no duty may. */
const REQUESTS: readonly (readonly [string, 'keyset' | 'rotationLog', string, Record<string, string>?])[] = [
  ['keyset read AWSCURRENT', 'keyset', 'secretsmanager:GetSecretValue', { 'secretsmanager:VersionStage': 'AWSCURRENT' }],
  ['keyset read AWSPREVIOUS', 'keyset', 'secretsmanager:GetSecretValue', { 'secretsmanager:VersionStage': 'AWSPREVIOUS' }],
  ['keyset read by VersionId', 'keyset', 'secretsmanager:GetSecretValue', {}],
  ['keyset put', 'keyset', 'secretsmanager:PutSecretValue'],
  ['keyset move label', 'keyset', 'secretsmanager:UpdateSecretVersionStage'],
  ['keyset rotate', 'keyset', 'secretsmanager:RotateSecret'],
  ['keyset describe', 'keyset', 'secretsmanager:DescribeSecret'],
  ['keyset delete', 'keyset', 'secretsmanager:DeleteSecret'],
  ['keyset policy', 'keyset', 'secretsmanager:PutResourcePolicy'],
  ['log read AWSCURRENT', 'rotationLog', 'secretsmanager:GetSecretValue', { 'secretsmanager:VersionStage': 'AWSCURRENT' }],
  ['log read AWSPREVIOUS', 'rotationLog', 'secretsmanager:GetSecretValue', { 'secretsmanager:VersionStage': 'AWSPREVIOUS' }],
  ['log put', 'rotationLog', 'secretsmanager:PutSecretValue'],
  ['log rotate', 'rotationLog', 'secretsmanager:RotateSecret'],
  ['log describe', 'rotationLog', 'secretsmanager:DescribeSecret'],
  ['log delete', 'rotationLog', 'secretsmanager:DeleteSecret'],
];

/** The statements of a secret's resource policy, found through the secret's `Policy` child. */
function secretPolicy(template: Template, secret: secretsmanager.Secret): unknown[] {
  const policy = resourceAt(template, secret.node.findChild('Policy'));
  expect(policy.Properties.SecretId).toEqual(ref(secret));
  return policy.Properties.ResourcePolicy.Statement as unknown[];
}

/** The requests of REQUESTS the two resource policies of `on` do not deny to `principalArn`. */
function admitted(template: Template, on: AlphaPulseKeys, principalArn: unknown): string[] {
  const policies = { keyset: secretPolicy(template, on.keysetSecret), rotationLog: secretPolicy(template, on.rotationLogSecret) };
  return REQUESTS.filter(([, secret, action, keys]) => deniedBy(policies[secret], { action, principalArn, ...(keys ? { keys } : {}) }).length === 0).map(([label]) => label);
}

const roleArn = (role: IConstruct) => arnOf(role);

describe('grantRead', () => {
  it("names a function's role in the keyset's resource policy: it may read AWSCURRENT, a role not granted is denied", () => {
    const keyset = secretPolicy(t.Granting, granted.keysetSecret);
    const fnRole = roleArn(tradingFunction.role!);
    const current = { action: 'secretsmanager:GetSecretValue', keys: { 'secretsmanager:VersionStage': 'AWSCURRENT' } };
    expect(deniedBy(keyset, { ...current, principalArn: fnRole })).toEqual([]);
    expect(deniedBy(keyset, { ...current, principalArn: roleArn(grantees.stranger) })).toEqual(['ReadTheValueOnlyKeyRoles']);
    expect(deniedBy(keyset, { action: 'secretsmanager:GetSecretValue', keys: { 'secretsmanager:VersionStage': 'AWSPREVIOUS' }, principalArn: fnRole })).toEqual(['ReadersSeeOnlyAWSCURRENT']);
    expect(admitted(t.Granting, granted, fnRole)).toEqual(['keyset read AWSCURRENT', 'keyset describe', 'log describe']);
  });

  it("gives the function's role the identity statements of the application service: AWSCURRENT, and kms:Decrypt through Secrets Manager for the keyset alone", () => {
    const statements = roleStatements(t.Granting, tradingFunction.role!);
    expect(statements).toEqual(roleStatements(t.Granting, granted.roles.applicationService));
    expect(statements).toContainEqual(expect.objectContaining({ Action: ['secretsmanager:GetSecretValue'], Resource: [ref(granted.keysetSecret)], Condition: { StringEquals: { 'secretsmanager:VersionStage': 'AWSCURRENT' } } }));
    expect(statements).toContainEqual(
      expect.objectContaining({
        Action: ['kms:Decrypt'],
        Resource: [arnOf(granted.key)],
        Condition: { StringEquals: { 'kms:ViaService': { 'Fn::Join': ['', ['secretsmanager.', { Ref: 'AWS::Region' }, '.amazonaws.com']] }, 'kms:EncryptionContext:SecretARN': ref(granted.keysetSecret) } },
      }),
    );
  });

  it('refuses a grantee the resource policy cannot name (neither a role nor a user)', () => {
    const stack = new Stack(testApp(), 'S');
    const k = new AlphaPulseKeys(stack, 'Keys');
    let error: unknown;
    try {
      k.grantRead(new iam.ServicePrincipal('ecs-tasks.amazonaws.com'));
    } catch (err) {
      error = err;
    }
    expect(Errors.isValidationError(error)).toBe(true);
    expect((error as Error).message).toMatch(/need an IAM role or user/);
  });
});

describe('grantAdmin, grantBackup, grantAudit', () => {
  const DUTIES = [
    ['grantRead', 'read', 'applicationService', ['keyset read AWSCURRENT', 'keyset describe', 'log describe']],
    [
      'grantAdmin',
      'admin',
      'keyAdministrator',
      ['keyset read AWSCURRENT', 'keyset read AWSPREVIOUS', 'keyset read by VersionId', 'keyset put', 'keyset move label', 'keyset rotate', 'keyset describe', 'log read AWSCURRENT', 'log describe'],
    ],
    ['grantBackup', 'backup', 'backupService', ['keyset read AWSCURRENT', 'keyset describe', 'log describe']],
    ['grantAudit', 'audit', 'auditService', ['keyset describe', 'log read AWSCURRENT', 'log describe']],
  ] as const;

  it.each(DUTIES)("%s admits its grantee through both secrets' resource policies to what the %s duty needs, as for the %s role, and no more", (_grant, grantee, role, expected) => {
    expect(admitted(t.Granting, granted, roleArn(grantees[grantee]))).toEqual(expected);
    expect(admitted(t.Granting, granted, roleArn(granted.roles[role]))).toEqual(expected);
  });

  it.each(DUTIES)('%s gives its grantee the identity statements of the %s duty, exactly those of the %s role', (_grant, grantee, role) => {
    const statements = roleStatements(t.Granting, grantees[grantee]);
    expect(statements.length).toBeGreaterThan(0);
    expect(statements).toEqual(roleStatements(t.Granting, granted.roles[role]));
  });

  it('leaves a role of the same stack that was granted nothing to metadata alone', () => {
    expect(admitted(t.Granting, granted, roleArn(grantees.stranger))).toEqual(['keyset describe', 'log describe']);
    expect(roleStatements(t.Granting, grantees.stranger)).toEqual([]);
  });
});

describe('fromKeysetSecretAttributes', () => {
  it("gives a role of the reading stack GetSecretValue of AWSCURRENT, DescribeSecret, and kms:Decrypt through the keyset's Secrets Manager for that secret alone", () => {
    expect(roleStatements(t.Reading, readingRole)).toEqual([
      { Effect: 'Allow', Action: ['secretsmanager:GetSecretValue'], Resource: [KEYSET_ARN], Condition: { StringEquals: { 'secretsmanager:VersionStage': 'AWSCURRENT' } } },
      { Effect: 'Allow', Action: ['secretsmanager:DescribeSecret'], Resource: [KEYSET_ARN] },
      {
        Effect: 'Allow',
        Action: ['kms:Decrypt'],
        Resource: [KEY_ARN],
        Condition: { StringEquals: { 'kms:ViaService': 'secretsmanager.us-east-1.amazonaws.com', 'kms:EncryptionContext:SecretARN': KEYSET_ARN } },
      },
    ]);
  });

  it('reads the region of kms:ViaService from the keyset ARN when the ARN is a token', () => {
    const decrypt = roleStatements(t.ReadingByToken, tokenRole).find((s) => s.Action.includes('kms:Decrypt'));
    const arn = { 'Fn::ImportValue': 'KeysetSecretArn' };
    expect(decrypt).toMatchObject({
      Resource: [{ 'Fn::ImportValue': 'KeysetKeyArn' }],
      Condition: { StringEquals: { 'kms:ViaService': { 'Fn::Join': ['', ['secretsmanager.', { 'Fn::Select': [3, { 'Fn::Split': [':', arn] }] }, '.amazonaws.com']] }, 'kms:EncryptionContext:SecretARN': arn } },
    });
  });

  it("creates nothing of the keyset in the reading stack, and says where the grantee must be named", () => {
    expect(Object.values(t.Reading.toJSON().Resources).map((r) => (r as { Type: string }).Type).sort()).toEqual(['AWS::IAM::Policy', 'AWS::IAM::Role']);
    expect(imported.keysetSecret.secretArn).toBe(KEYSET_ARN);
    Annotations.fromStack(reading).hasInfo(`/${(imported as unknown as IConstruct).node.path}`, Match.stringLikeRegexp('readerPrincipalArns'));
  });

  it("is matched by readerPrincipalArns on the owning construct, which names those ARNs (a * within a name too) among the keyset's readers", () => {
    const keyset = secretPolicy(t.Granting, granted.keysetSecret);
    const read = (principalArn: string, stage: string) => deniedBy(keyset, { action: 'secretsmanager:GetSecretValue', principalArn, keys: { 'secretsmanager:VersionStage': stage } });
    for (const reader of [PARTNER, `arn:aws:iam::${ACCOUNT}:role/trading-engine`]) {
      expect(read(reader, 'AWSCURRENT')).toEqual([]);
      expect(read(reader, 'AWSPREVIOUS')).toEqual(['ReadersSeeOnlyAWSCURRENT']);
      expect(admitted(t.Granting, granted, reader)).toEqual(['keyset read AWSCURRENT', 'keyset describe', 'log describe']);
    }
    expect(read(`arn:aws:iam::${ACCOUNT}:role/settlement-service-2`, 'AWSCURRENT')).toEqual(['ReadTheValueOnlyKeyRoles']);
    // Without readerPrincipalArns, no other principal is named.
    expect(deniedBy(secretPolicy(t.Bare, keys.keysetSecret), { action: 'secretsmanager:GetSecretValue', principalArn: PARTNER, keys: { 'secretsmanager:VersionStage': 'AWSCURRENT' } })).toEqual(['ReadTheValueOnlyKeyRoles']);
  });
});

describe('rotationPeriodDays: null', () => {
  it('configures the rotation function on the keyset with no schedule rules, and no deadline alarms', () => {
    expect(onDemand.node.findAll().filter((c) => c instanceof secretsmanager.CfnRotationSchedule)).toHaveLength(1);
    expect(resourceAt(t.OnDemand, onDemandKeys.rotation.schedule).Properties).toEqual({ SecretId: ref(onDemandKeys.keysetSecret), RotationLambdaARN: arnOf(onDemandKeys.rotationFunction), RotateImmediatelyOnUpdate: false });
    expect(Object.keys(onDemandKeys.alarms)).not.toEqual(expect.arrayContaining(['RotationDeadlineApproaching']));
    expect(Object.keys(onDemandKeys.alarms)).not.toEqual(expect.arrayContaining(['RotationOverdue']));
    const metrics = Object.values(t.OnDemand.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties.MetricName);
    expect(metrics).toHaveLength(10);
    expect(metrics).not.toContain('RotationDeadlineAtRisk');
    expect(Object.values(t.OnDemand.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: 'KeyAgeDays', ComparisonOperator: 'GreaterThanThreshold' } }))).toEqual([]);
    expect(resourceAt(t.OnDemand, onDemandKeys.rotationFunction).Properties.Environment.Variables).not.toHaveProperty('ROTATION_PERIOD_DAYS');
  });
});

describe('invalid props', () => {
  const refusal = (props: AlphaPulseKeysProps): Error => {
    try {
      new AlphaPulseKeys(new Stack(testApp(), 'S'), 'Keys', props);
    } catch (err) {
      return err as Error;
    }
    throw new Error(`accepted ${JSON.stringify(props)}`);
  };

  it.each<[AlphaPulseKeysProps, string]>([
    [{ rotationPeriodDays: 400 }, 'rotationPeriodDays'],
    [{ rotationPeriodDays: 0 }, 'rotationPeriodDays'],
    [{ rotationPeriodDays: 30.5 }, 'rotationPeriodDays'],
    [{ rotationWindowHours: 25 }, 'rotationWindowHours'],
    [{ rotationWindowHours: 0 }, 'rotationWindowHours'],
    [{ rotationPeriodDays: 30, warningWindowDays: 30 }, 'warningWindowDays'],
    [{ warningWindowDays: 90 }, 'warningWindowDays'],
    [{ stage: 'staging', warningWindowDays: 45 }, 'warningWindowDays'],
  ])('refuses %j with a ValidationError naming %s', (props, prop) => {
    const error = refusal(props);
    expect(Errors.isValidationError(error)).toBe(true);
    expect(error.message).toMatch(new RegExp(`^${prop} must be .*, got `));
  });

  it('accepts the limits: a 365-day period, a 364-day warning window, a 24-hour rotation window', () => {
    const k = new AlphaPulseKeys(new Stack(testApp(), 'S'), 'Keys', { rotationPeriodDays: 365, warningWindowDays: 364, rotationWindowHours: 24 });
    expect(k.rotation.schedule.rotationRules).toEqual({ scheduleExpression: 'rate(365 days)', duration: '24h' });
  });
});

describe('alarmTopic', () => {
  it('creates no topic and sends every alarm and event rule to the given one', () => {
    expect(ownTopicKeys.topic).toBe(pager);
    expect(t.OwnTopic.findResources('AWS::SNS::Topic')).toEqual({});
    expect(t.OwnTopic.findResources('AWS::SNS::TopicPolicy')).toEqual({});
    const alarms = Object.values(t.OwnTopic.findResources('AWS::CloudWatch::Alarm'));
    expect(alarms).toHaveLength(12);
    for (const a of alarms) expect(a.Properties.AlarmActions).toEqual([TOPIC_ARN]);
    expect(resourceAt(t.OwnTopic, ownTopicKeys.alarms.RotationStuck).Properties.OKActions).toEqual([TOPIC_ARN]);
    for (const rule of Object.values(ownTopicKeys.monitoring.eventRules)) expect(resourceAt(t.OwnTopic, rule).Properties.Targets.map((x: { Arn: unknown }) => x.Arn)).toEqual([TOPIC_ARN]);
  });

  it("leaves the operations key's policy to its own uses (no statement for alarms publishing to a topic it does not encrypt)", () => {
    const sids = (template: Template, k: AlphaPulseKeys) => (resourceAt(template, k.operationsKey).Properties.KeyPolicy.Statement as { Sid?: string }[]).map((s) => s.Sid);
    expect(sids(t.OwnTopic, ownTopicKeys)).not.toContain('AllowCloudWatchAlarmsToPublish');
    expect(sids(t.Bare, keys)).toContain('AllowCloudWatchAlarmsToPublish');
  });
});
