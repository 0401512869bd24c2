/**
 * KeyManagementStack, the stack this repository deploys per stage: what it adds to AlphaPulseKeys (the stage's
 * physical names, tags and outputs, its settings passed through, logical ids kept from before the L3). What the
 * constructs themselves do is tested in one file each (key-storage, rotation-function, keyset-initializer,
 * backup-bucket, access-roles, monitoring, alphapulse-keys).
 */
import { Template } from 'aws-cdk-lib/assertions';
import { STAGES, type StageName } from '../../lib/config';
import { stackName } from '../../lib/key-management-stack';
import { arnOf, logicalIdOfConstruct, ref, resourceAt, synthesizeStage, synthesizeStages, type Synthesized, type TemplateResource } from './stack-fixture';

let stages: Record<StageName, Synthesized>;
beforeAll(() => {
  stages = synthesizeStages();
});
const t = (stage: StageName): Template => stages[stage].template;

const KEYSET_NAME: Record<StageName, string> = {
  prod: 'alphapulse/encryption/master_key',
  staging: 'staging/alphapulse/encryption/master_key',
  dev: 'dev/alphapulse/encryption/master_key',
};

describe.each(STAGES)('stage %s', (stage) => {
  const k = () => stages[stage].stack.keys;

  it('names the keyset and rotation-log secrets for the stage', () => {
    const secrets = t(stage).findResources('AWS::SecretsManager::Secret');
    expect(Object.values(secrets).map((s) => s.Properties.Name).sort()).toEqual([KEYSET_NAME[stage], KEYSET_NAME[stage].replace('master_key', 'rotation_log')].sort());
    expect(resourceAt(t(stage), k().keysetSecret).Properties.Name).toBe(KEYSET_NAME[stage]);
    expect(resourceAt(t(stage), k().rotationLogSecret).Properties.Name).toBe(KEYSET_NAME[stage].replace('master_key', 'rotation_log'));
  });

  it('aliases the keyset, backup and operations keys under alias/alphapulse/keys/<stage>', () => {
    const aliases = Object.values(t(stage).findResources('AWS::KMS::Alias')).map((a) => [a.Properties.AliasName, a.Properties.TargetKeyId]);
    expect(aliases).toEqual(
      expect.arrayContaining([
        [`alias/alphapulse/keys/${stage}/keyset`, arnOf(k().key)],
        [`alias/alphapulse/keys/${stage}/backup`, arnOf(k().backup.key)],
        [`alias/alphapulse/keys/${stage}/operations`, arnOf(k().operationsKey)],
      ]),
    );
    expect(aliases).toHaveLength(3);
  });

  it(`${stage === 'dev' ? 'deletes' : 'retains'} keys, secrets and backups when the stack is deleted`, () => {
    const policy = stage === 'dev' ? 'Delete' : 'Retain';
    for (const type of ['AWS::SecretsManager::Secret', 'AWS::KMS::Key', 'AWS::S3::Bucket']) {
      for (const r of Object.values(t(stage).findResources(type))) expect(r.DeletionPolicy).toBe(policy);
    }
  });

  it('names the rotation function, its log group and its dead-letter queue for the stage', () => {
    expect(resourceAt(t(stage), k().rotationFunction).Properties.FunctionName).toBe(`alphapulse-keys-${stage}-rotation`);
    expect(resourceAt(t(stage), k().rotation.logGroup).Properties.LogGroupName).toBe(`/alphapulse/keys/${stage}/rotation`);
    expect(resourceAt(t(stage), k().rotation.deadLetterQueue).Properties.QueueName).toBe(`alphapulse-keys-${stage}-rotation-dlq`);
  });

  it('names the on-call topic, every alarm and the dashboard for the stage', () => {
    expect(resourceAt(t(stage), k().topic).Properties).toMatchObject({ TopicName: `alphapulse-keys-${stage}-oncall`, KmsMasterKeyId: arnOf(k().operationsKey) });
    const alarms = Object.entries(k().alarms);
    expect(alarms.length).toBe(Object.keys(t(stage).findResources('AWS::CloudWatch::Alarm')).length);
    for (const [name, alarm] of alarms) expect(resourceAt(t(stage), alarm).Properties.AlarmName).toBe(`AlphaPulseKeys-${stage}-${name}`);
    expect(resourceAt(t(stage), k().monitoring.dashboard).Properties.DashboardName).toBe(`AlphaPulseKeys-${stage}`);
  });

  it('names the access roles for the stage', () => {
    for (const name of ['KeyAdministrator', 'ApplicationService', 'BackupService', 'AuditService'] as const) {
      const role = k().roles[`${name[0].toLowerCase()}${name.slice(1)}` as 'keyAdministrator'];
      expect(resourceAt(t(stage), role).Properties.RoleName).toBe(`AlphaPulseKeys-${stage}-${name}`);
    }
  });

  it('tags every taggable resource with the project, the component and the stage', () => {
    const tagged = Object.values(t(stage).toJSON().Resources as Record<string, TemplateResource>).filter((r) => r.Properties?.Tags !== undefined);
    expect(tagged.length).toBeGreaterThan(20);
    for (const r of tagged) {
      const tags = Array.isArray(r.Properties.Tags) ? Object.fromEntries(r.Properties.Tags.map((x: { Key: string; Value: string }) => [x.Key, x.Value])) : r.Properties.Tags;
      expect({ type: r.Type, tags }).toEqual({ type: r.Type, tags: expect.objectContaining({ Project: 'AlphaPulse', Component: 'key-management', Stage: stage }) });
    }
    for (const c of [k().keysetSecret, k().key, k().rotationFunction, k().backup.bucket, k().roles.keyAdministrator]) expect(resourceAt(t(stage), c).Properties.Tags).toContainEqual({ Key: 'Stage', Value: stage });
  });

  it('outputs secret ARNs, role ARNs, topic ARN, function name and bucket name', () => {
    const outputs = Object.keys(t(stage).findOutputs('*'));
    expect(outputs).toEqual(
      expect.arrayContaining([
        'KeysetSecretArn',
        'RotationLogSecretArn',
        'KeyAdministratorRoleArn',
        'ApplicationServiceRoleArn',
        'BackupServiceRoleArn',
        'AuditServiceRoleArn',
        'OnCallTopicArn',
        'RotationFunctionName',
        'BackupBucketName',
      ]),
    );
  });

  it('gives each output the value of its construct', () => {
    const values = Object.fromEntries(Object.entries(t(stage).findOutputs('*')).map(([id, o]) => [id, o.Value]));
    expect(values).toEqual({
      KeysetSecretArn: ref(k().keysetSecret),
      KeysetSecretName: KEYSET_NAME[stage],
      RotationLogSecretArn: ref(k().rotationLogSecret),
      KeyAdministratorRoleArn: arnOf(k().roles.keyAdministrator),
      ApplicationServiceRoleArn: arnOf(k().roles.applicationService),
      BackupServiceRoleArn: arnOf(k().roles.backupService),
      AuditServiceRoleArn: arnOf(k().roles.auditService),
      OnCallTopicArn: ref(k().topic),
      RotationFunctionName: ref(k().rotationFunction),
      RotationLogGroupName: ref(k().rotation.logGroup),
      BackupBucketName: ref(k().backup.bucket),
    });
  });

  it("keeps the logical ids the stack had before AlphaPulseKeys: the construct 'Default' adds nothing to them", () => {
    const ids = Object.keys(t(stage).toJSON().Resources);
    expect(ids.filter((id) => id.startsWith('Default'))).toEqual([]);
    const expected: [string, () => Parameters<typeof logicalIdOfConstruct>[0]][] = [
      ['OperationsKey', () => k().operationsKey],
      ['KeyStorageKey', () => k().key],
      ['KeyStorageKeysetSecret', () => k().keysetSecret],
      ['KeyStorageRotationLogSecret', () => k().rotationLogSecret],
      ['RotationFunction', () => k().rotationFunction],
      ['RotationLogGroup', () => k().rotation.logGroup],
      ['RotationKeysetRotationSchedule', () => k().rotation.schedule],
      ['KeysetInit', () => k().initializer.resource],
      ['BackupKey', () => k().backup.key],
      ['BackupBucket', () => k().backup.bucket],
      ['RolesKeyAdministrator', () => k().roles.keyAdministrator],
      ['MonitoringOnCallTopic', () => k().topic],
    ];
    for (const [prefix, construct] of expected) expect(logicalIdOfConstruct(construct())).toMatch(new RegExp(`^${prefix}[0-9A-F]{8}$`));
  });

  it("passes the stage's settings: the period, the trust setting's name, the removal policy", () => {
    expect(k().rotationPeriodDays).toBe({ prod: 90, staging: 30, dev: null }[stage]);
    expect(stages[stage].stack.stackName).toBe(stackName(stage));
    expect(resourceAt(t(stage), k().rotation.logGroup).DeletionPolicy).toBe(stage === 'dev' ? 'Delete' : 'Retain');
    expect(resourceAt(t(stage), k().rotation.logGroup).Properties.RetentionInDays).toBe(365);
  });
});

describe('configuration other than the defaults (staging, warning window 10, no reserved concurrency)', () => {
  let custom: Synthesized;
  beforeAll(() => {
    custom = synthesizeStage('staging', { warningWindowDays: 10, reservedConcurrency: false });
  });

  it('removes ReservedConcurrentExecutions from the rotation function', () => {
    const props = resourceAt(custom.template, custom.stack.keys.rotationFunction).Properties;
    expect(props.FunctionName).toBe('alphapulse-keys-staging-rotation');
    expect(props).not.toHaveProperty('ReservedConcurrentExecutions');
  });

  it("passes the stage's warning window to the handler and the deadline alarm", () => {
    expect(resourceAt(custom.template, custom.stack.keys.rotationFunction).Properties.Environment.Variables).toMatchObject({ ROTATION_PERIOD_DAYS: '30', WARNING_WINDOW_DAYS: '10' });
    const deadline = resourceAt(custom.template, custom.stack.keys.alarms.RotationDeadlineApproaching).Properties;
    expect(deadline.AlarmName).toBe('AlphaPulseKeys-staging-RotationDeadlineApproaching');
    expect(JSON.stringify(deadline)).toContain('within 10 days');
  });
});
