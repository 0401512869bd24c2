import { Match, Template } from 'aws-cdk-lib/assertions';
import type { StageName } from '../../lib/config';
import { allowsOf, arnOf, logicalIdOf, ref, roleStatements, type Statement, synthesizeStages, type Synthesized } from './stack-fixture';

let stages: Record<StageName, Synthesized>;
beforeAll(() => {
  stages = synthesizeStages();
});
const t = (stage: StageName): Template => stages[stage].template;

const PERIOD: Record<StageName, number | null> = { prod: 90, staging: 30, dev: null };
const KEYSET_NAME: Record<StageName, string> = {
  prod: 'alphapulse/encryption/master_key',
  staging: 'staging/alphapulse/encryption/master_key',
  dev: 'dev/alphapulse/encryption/master_key',
};

function ids(template: Template) {
  const secret = (name: string) => logicalIdOf(template, 'AWS::SecretsManager::Secret', { Name: name });
  const keyset = Object.entries(template.findResources('AWS::SecretsManager::Secret')).find(([, r]) => String(r.Properties.Name).endsWith('master_key'))![0];
  const rotationLog = Object.entries(template.findResources('AWS::SecretsManager::Secret')).find(([, r]) => String(r.Properties.Name).endsWith('rotation_log'))![0];
  const fn = Object.entries(template.findResources('AWS::Lambda::Function')).find(([, r]) => String(r.Properties.FunctionName).endsWith('-rotation'))![0];
  const fnRole = (template.findResources('AWS::Lambda::Function')[fn].Properties.Role as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0];
  const role = (suffix: string) => Object.entries(template.findResources('AWS::IAM::Role')).find(([, r]) => String(r.Properties.RoleName ?? '').endsWith(`-${suffix}`))![0];
  const keysetKey = (template.findResources('AWS::SecretsManager::Secret')[keyset].Properties.KmsKeyId as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0];
  return { secret, keyset, rotationLog, fn, fnRole, role, keysetKey };
}

const SECRET_OR_KMS = /^(secretsmanager|kms):/i;

describe.each(['prod', 'staging', 'dev'] as StageName[])('stage %s', (stage) => {
  describe('key storage', () => {
    it('creates the keyset and rotation-log secrets empty, under the customer-managed key', () => {
      const template = t(stage);
      const secrets = template.findResources('AWS::SecretsManager::Secret');
      expect(Object.keys(secrets)).toHaveLength(2);
      const { keysetKey } = ids(template);
      for (const secret of Object.values(secrets)) {
        expect(secret.Properties.GenerateSecretString).toBeUndefined();
        expect(secret.Properties.SecretString).toBeUndefined();
        expect(secret.Properties.KmsKeyId).toEqual(arnOf(keysetKey));
      }
      expect(Object.values(secrets).map((s) => s.Properties.Name).sort()).toEqual([KEYSET_NAME[stage], KEYSET_NAME[stage].replace('master_key', 'rotation_log')].sort());
    });

    it('turns on rotation for every KMS key and aliases the keyset key', () => {
      const keys = t(stage).findResources('AWS::KMS::Key');
      expect(Object.keys(keys).length).toBe(3);
      for (const key of Object.values(keys)) expect(key.Properties.EnableKeyRotation).toBe(true);
      t(stage).hasResourceProperties('AWS::KMS::Alias', { AliasName: `alias/alphapulse/keys/${stage}/keyset`, TargetKeyId: arnOf(ids(t(stage)).keysetKey) });
    });

    it(`${stage === 'dev' ? 'deletes' : 'retains'} keys, secrets and backups when the stack is deleted`, () => {
      const policy = stage === 'dev' ? 'Delete' : 'Retain';
      for (const type of ['AWS::SecretsManager::Secret', 'AWS::KMS::Key', 'AWS::S3::Bucket']) {
        for (const r of Object.values(t(stage).findResources(type))) expect(r.DeletionPolicy).toBe(policy);
      }
    });

    it('initializes the keyset on deploy through the rotation function itself', () => {
      const template = t(stage);
      const { keyset, rotationLog, fn } = ids(template);
      const resource = Object.values(template.findResources('Custom::AlphaPulseKeysetInit'));
      expect(resource).toHaveLength(1);
      expect(resource[0].Properties).toMatchObject({ KeysetSecretArn: ref(keyset), RotationLogSecretArn: ref(rotationLog) });
      // The provider framework relays to exactly the rotation function.
      template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: { Variables: Match.objectLike({ USER_ON_EVENT_FUNCTION_ARN: arnOf(fn) }) },
      });
    });
  });

  describe('rotation function', () => {
    it('runs the bundled handler on Node.js 22, ARM64, with one reserved execution', () => {
      const template = t(stage);
      const fn = template.findResources('AWS::Lambda::Function')[ids(template).fn].Properties;
      expect(fn).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        ReservedConcurrentExecutions: 1,
        FunctionName: `alphapulse-keys-${stage}-rotation`,
        DeadLetterConfig: { TargetArn: expect.anything() },
      });
    });

    it('passes the handler its environment', () => {
      const template = t(stage);
      const { keyset, rotationLog, fn } = ids(template);
      const env = template.findResources('AWS::Lambda::Function')[fn].Properties.Environment.Variables;
      expect(env).toEqual({
        KEYSET_SECRET_ID: ref(keyset),
        ROTATION_LOG_SECRET_ID: ref(rotationLog),
        METRICS_NAMESPACE: 'AlphaPulse/Encryption',
        STAGE: stage,
        MIN_ROTATION_INTERVAL_MINUTES: '60',
        ...(PERIOD[stage] === null ? {} : { ROTATION_PERIOD_DAYS: String(PERIOD[stage]) }),
      });
    });

    it('retries async invocations twice, then dead-letters to a KMS-encrypted queue', () => {
      const template = t(stage);
      template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 21600 });
      const queues = Object.values(template.findResources('AWS::SQS::Queue'));
      expect(queues).toHaveLength(1);
      expect(queues[0].Properties.KmsMasterKeyId['Fn::GetAtt'][0]).toMatch(/^OperationsKey/);
    });

    it('logs to an encrypted log group kept at least a year', () => {
      const groups = Object.values(t(stage).findResources('AWS::Logs::LogGroup'));
      expect(groups.length).toBe(2);
      for (const g of groups) {
        expect(g.Properties.RetentionInDays).toBeGreaterThanOrEqual(365);
        expect(g.Properties.KmsKeyId).toBeDefined();
      }
      t(stage).hasResourceProperties('AWS::Lambda::Function', { LoggingConfig: { LogGroup: { Ref: Match.stringLikeRegexp('^RotationLogGroup') } } });
    });

    it(PERIOD[stage] === null ? 'has no rotation schedule (manual only)' : `rotates on rate(${PERIOD[stage]} days) with the event id as rotation id`, () => {
      const rules = Object.values(t(stage).findResources('AWS::Events::Rule'));
      const rotate = rules.filter((r) => r.Properties.ScheduleExpression !== 'rate(1 day)');
      if (PERIOD[stage] === null) {
        expect(rotate).toHaveLength(0);
        return;
      }
      expect(rotate).toHaveLength(1);
      expect(rotate[0].Properties.ScheduleExpression).toBe(`rate(${PERIOD[stage]} days)`);
      const target = rotate[0].Properties.Targets[0];
      expect(target.Arn).toEqual(arnOf(ids(t(stage)).fn));
      expect(target.InputTransformer).toEqual({ InputPathsMap: { id: '$.id' }, InputTemplate: '{"action":"rotate","rotationId":<id>,"trigger":"schedule"}' });
      expect(target.DeadLetterConfig).toBeDefined();
    });

    it('measures daily with {"action":"monitor"}', () => {
      const monitor = Object.values(t(stage).findResources('AWS::Events::Rule')).filter((r) => r.Properties.ScheduleExpression === 'rate(1 day)');
      expect(monitor).toHaveLength(1);
      expect(JSON.parse(monitor[0].Properties.Targets[0].Input)).toEqual({ action: 'monitor' });
    });

    it('may touch only its two secrets, its key through Secrets Manager, its metrics namespace, logs and DLQ', () => {
      const template = t(stage);
      const { keyset, rotationLog, fnRole, keysetKey } = ids(template);
      const statements = roleStatements(template, fnRole);
      const services = new Set(statements.flatMap((s) => s.Action.map((a) => a.split(':')[0])));
      expect([...services].sort()).toEqual(['cloudwatch', 'kms', 'logs', 'secretsmanager', 'sqs']);
      for (const s of statements.filter((x) => x.Action.some((a) => a.startsWith('secretsmanager:')))) {
        expect(s.Resource.every((r) => JSON.stringify(r) === JSON.stringify(ref(keyset)) || JSON.stringify(r) === JSON.stringify(ref(rotationLog)))).toBe(true);
      }
      for (const action of ['secretsmanager:PutSecretValue', 'secretsmanager:UpdateSecretVersionStage', 'secretsmanager:ListSecretVersionIds', 'secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret']) {
        const resources = allowsOf(statements, action).flatMap((s) => s.Resource);
        expect(resources).toEqual(expect.arrayContaining([ref(keyset), ref(rotationLog)]));
      }
      const keyGrants = allowsOf(statements, 'kms:Decrypt').filter((s) => JSON.stringify(s.Resource) === JSON.stringify([arnOf(keysetKey)]));
      expect(keyGrants).toHaveLength(2);
      for (const g of keyGrants) expect(g.Condition?.StringEquals['kms:ViaService']).toEqual({ 'Fn::Join': ['', ['secretsmanager.', { Ref: 'AWS::Region' }, '.amazonaws.com']] });
      const metrics = allowsOf(statements, 'cloudwatch:PutMetricData');
      expect(metrics).toHaveLength(1);
      expect(metrics[0].Condition).toEqual({ StringEquals: { 'cloudwatch:namespace': 'AlphaPulse/Encryption' } });
      expect(allowsOf(statements, 'secretsmanager:DeleteSecret')).toHaveLength(0);
      expect(allowsOf(statements, 'kms:ScheduleKeyDeletion')).toHaveLength(0);
      expect(t(stage).findResources('AWS::IAM::Role')[fnRole].Properties.ManagedPolicyArns).toBeUndefined();
    });
  });

  describe('IAM', () => {
    it('never grants a secretsmanager or kms action on "*"', () => {
      const template = t(stage);
      for (const policy of Object.values(template.findResources('AWS::IAM::Policy'))) {
        for (const s of policy.Properties.PolicyDocument.Statement as Statement[]) {
          const actions = ([] as string[]).concat(s.Action);
          const resources = ([] as unknown[]).concat(s.Resource);
          if (s.Effect === 'Allow' && actions.some((a) => SECRET_OR_KMS.test(a))) expect(resources).not.toContain('*');
          expect(actions).not.toContain('kms:*');
          expect(actions).not.toContain('secretsmanager:*');
        }
      }
    });

    it('lets the application service read the keyset and nothing else of the key material', () => {
      const template = t(stage);
      const { keyset, role, keysetKey } = ids(template);
      const s = roleStatements(template, role('ApplicationService'));
      expect(allowsOf(s, 'secretsmanager:GetSecretValue').flatMap((x) => x.Resource)).toEqual([ref(keyset)]);
      expect(allowsOf(s, 'secretsmanager:DescribeSecret').flatMap((x) => x.Resource)).toEqual([ref(keyset)]);
      const decrypt = allowsOf(s, 'kms:Decrypt');
      expect(decrypt).toHaveLength(1);
      expect(decrypt[0].Resource).toEqual([arnOf(keysetKey)]);
      expect(decrypt[0].Condition?.StringEquals).toMatchObject({ 'kms:EncryptionContext:SecretARN': ref(keyset), 'kms:ViaService': expect.anything() });
      for (const absent of ['secretsmanager:PutSecretValue', 'secretsmanager:UpdateSecretVersionStage', 'kms:Encrypt', 'kms:GenerateDataKey', 'lambda:InvokeFunction', 's3:GetObject', 's3:PutObject']) {
        expect(allowsOf(s, absent)).toEqual([]);
      }
      expect(allowsOf(s, 'cloudwatch:PutMetricData')[0].Condition).toEqual({ StringEquals: { 'cloudwatch:namespace': 'AlphaPulse/Encryption' } });
    });

    it('keeps the backup service write-only on the backup bucket: no read, no list, no delete', () => {
      const template = t(stage);
      const { role } = ids(template);
      const bucket = logicalIdOf(template, 'AWS::S3::Bucket', { BucketEncryption: { ServerSideEncryptionConfiguration: [Match.objectLike({ ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: Match.anyValue() } })] } });
      const s = roleStatements(template, role('BackupService'));
      expect(allowsOf(s, 's3:PutObject').flatMap((x) => x.Resource)).toEqual([{ 'Fn::Join': ['', [arnOf(bucket), '/*']] }]);
      for (const absent of ['s3:GetObject', 's3:GetObjectVersion', 's3:ListBucket', 's3:DeleteObject', 's3:DeleteObjectVersion', 's3:PutBucketPolicy', 'secretsmanager:PutSecretValue']) {
        expect(allowsOf(s, absent)).toEqual([]);
      }
      // It may decrypt the keyset (to copy it) but never a backup: no kms:Decrypt on the backup key.
      for (const d of allowsOf(s, 'kms:Decrypt')) expect(d.Resource).toEqual([arnOf(ids(template).keysetKey)]);
      const deny = s.filter((x) => x.Effect === 'Deny');
      expect(deny.flatMap((x) => x.Action)).toEqual(expect.arrayContaining(['s3:GetObject*', 's3:DeleteObject*', 's3:ListBucket*']));
    });

    it('never lets the audit service read the keyset value, and denies it explicitly', () => {
      const template = t(stage);
      const { keyset, rotationLog, role } = ids(template);
      const s = roleStatements(template, role('AuditService'));
      expect(allowsOf(s, 'secretsmanager:GetSecretValue').flatMap((x) => x.Resource)).toEqual([ref(rotationLog)]);
      expect(allowsOf(s, 'secretsmanager:DescribeSecret').flatMap((x) => x.Resource)).toEqual(expect.arrayContaining([ref(keyset), ref(rotationLog)]));
      for (const d of allowsOf(s, 'kms:Decrypt')) expect(d.Condition?.StringEquals['kms:EncryptionContext:SecretARN']).toEqual(ref(rotationLog));
      expect(s.filter((x) => x.Effect === 'Deny' && x.Action.includes('secretsmanager:GetSecretValue')).flatMap((x) => x.Resource)).toEqual([ref(keyset)]);
      for (const absent of ['secretsmanager:PutSecretValue', 'lambda:InvokeFunction', 's3:PutObject', 's3:GetObject', 'cloudwatch:PutMetricData']) expect(allowsOf(s, absent)).toEqual([]);
      expect(allowsOf(s, 'logs:FilterLogEvents')).toHaveLength(1);
    });

    it('lets the key administrator rotate, invoke and recover, but never delete secrets or keys', () => {
      const template = t(stage);
      const { keyset, fn, role } = ids(template);
      const s = roleStatements(template, role('KeyAdministrator'));
      for (const action of ['secretsmanager:PutSecretValue', 'secretsmanager:UpdateSecretVersionStage', 'secretsmanager:GetSecretValue']) {
        expect(allowsOf(s, action).flatMap((x) => x.Resource)).toContainEqual(ref(keyset));
      }
      expect(allowsOf(s, 'lambda:InvokeFunction').flatMap((x) => x.Resource)).toContainEqual(arnOf(fn));
      expect(allowsOf(s, 's3:GetObjectVersion')).toHaveLength(1);
      for (const absent of ['secretsmanager:DeleteSecret', 'kms:ScheduleKeyDeletion', 'kms:DisableKey', 'kms:PutKeyPolicy', 's3:DeleteObject', 'iam:PassRole']) expect(allowsOf(s, absent)).toEqual([]);
    });

    it('trusts the stack account for every access role by default, with one-hour sessions', () => {
      const template = t(stage);
      const { role } = ids(template);
      for (const name of ['KeyAdministrator', 'ApplicationService', 'BackupService', 'AuditService']) {
        const r = template.findResources('AWS::IAM::Role')[role(name)].Properties;
        expect(r.RoleName).toBe(`AlphaPulseKeys-${stage}-${name}`);
        expect(r.MaxSessionDuration).toBe(3600);
        expect(JSON.stringify(r.AssumeRolePolicyDocument)).toContain(':root');
      }
    });
  });

  describe('backup bucket', () => {
    it('encrypts under a separate key, versions, blocks public access, requires TLS and logs access', () => {
      const template = t(stage);
      const { keysetKey } = ids(template);
      const buckets = template.findResources('AWS::S3::Bucket', { Properties: { LoggingConfiguration: Match.anyValue() } });
      expect(Object.keys(buckets)).toHaveLength(1);
      const [bucketId, bucket] = Object.entries(buckets)[0];
      const sse = bucket.Properties.BucketEncryption.ServerSideEncryptionConfiguration[0];
      expect(sse.ServerSideEncryptionByDefault.SSEAlgorithm).toBe('aws:kms');
      expect(sse.ServerSideEncryptionByDefault.KMSMasterKeyID).not.toEqual(arnOf(keysetKey));
      expect(bucket.Properties.VersioningConfiguration).toEqual({ Status: 'Enabled' });
      expect(bucket.Properties.PublicAccessBlockConfiguration).toEqual({ BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
      template.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: ref(bucketId),
        PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
      });
    });
  });

  describe('monitoring', () => {
    const alarm = (stage: StageName, name: string) => {
      const found = Object.values(t(stage).findResources('AWS::CloudWatch::Alarm', { Properties: { AlarmName: `AlphaPulseKeys-${stage}-${name}` } }));
      return found[0]?.Properties;
    };

    it('encrypts the on-call topic and lets CloudWatch alarms publish to it', () => {
      const template = t(stage);
      template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue(), TopicName: `alphapulse-keys-${stage}-oncall` });
      template.hasResourceProperties('AWS::KMS::Key', {
        KeyPolicy: { Statement: Match.arrayWith([Match.objectLike({ Sid: 'AllowCloudWatchAlarmsToPublish', Principal: { Service: 'cloudwatch.amazonaws.com' } })]) },
      });
    });

    it.each([
      ['KeyRetrievalFailures', 'KeyRetrievalFailures', 1, 'GreaterThanOrEqualToThreshold', 300],
      ['DecryptionFailures', 'DecryptionFailures', 1, 'GreaterThanOrEqualToThreshold', 300],
      ['RotationFailed', 'RotationFailed', 1, 'GreaterThanOrEqualToThreshold', 300],
      ['KeyVersionMismatch', 'KeyVersionMismatch', 1, 'GreaterThanOrEqualToThreshold', 300],
      ['MonitorSilent', 'KeyAgeDays', 1, 'LessThanThreshold', 86400],
    ])('alarms %s on %s (threshold %d, %s, period %ds)', (name, metric, threshold, operator, period) => {
      const a = alarm(stage, name);
      expect(a).toMatchObject({ MetricName: metric, Namespace: 'AlphaPulse/Encryption', Threshold: threshold, ComparisonOperator: operator, Period: period, EvaluationPeriods: 1 });
    });

    it('treats a silent monitor as breaching', () => {
      expect(alarm(stage, 'MonitorSilent')).toMatchObject({ Statistic: 'SampleCount', TreatMissingData: 'breaching' });
    });

    if (PERIOD[stage] === null) {
      it('has no deadline or overdue alarms (manual rotation)', () => {
        expect(alarm(stage, 'RotationDeadlineApproaching')).toBeUndefined();
        expect(alarm(stage, 'RotationOverdue')).toBeUndefined();
      });
    } else {
      it('warns 14 days before the deadline and alarms once the key outlives the period', () => {
        expect(alarm(stage, 'RotationDeadlineApproaching')).toMatchObject({ MetricName: 'DaysUntilRotationDue', Threshold: 14, ComparisonOperator: 'LessThanOrEqualToThreshold' });
        expect(alarm(stage, 'RotationOverdue')).toMatchObject({ MetricName: 'KeyAgeDays', Threshold: PERIOD[stage], ComparisonOperator: 'GreaterThanThreshold' });
      });
    }

    it('detects unusual access with an anomaly band over the undimensioned KeyDerivations total', () => {
      const a = alarm(stage, 'UnusualKeyAccess');
      expect(a.ComparisonOperator).toBe('GreaterThanUpperThreshold');
      const band = a.Metrics.find((m: { Id: string }) => m.Id === a.ThresholdMetricId);
      expect(band.Expression).toMatch(/^ANOMALY_DETECTION_BAND\(m0, 3\)$/);
      const m0 = a.Metrics.find((m: { Id: string }) => m.Id === 'm0');
      expect(m0.MetricStat).toEqual({ Metric: { Namespace: 'AlphaPulse/Encryption', MetricName: 'KeyDerivations' }, Period: 300, Stat: 'Sum' });
    });

    it('alarms on function errors and on a non-empty dead-letter queue', () => {
      expect(alarm(stage, 'RotationFunctionErrors')).toMatchObject({ MetricName: 'Errors', Namespace: 'AWS/Lambda', Threshold: 1 });
      expect(alarm(stage, 'DeadLetterQueueNotEmpty')).toMatchObject({ MetricName: 'ApproximateNumberOfMessagesVisible', Namespace: 'AWS/SQS', Threshold: 1 });
    });

    it('sends every alarm and its recovery to the on-call topic, with the first command in the description', () => {
      const template = t(stage);
      const topic = Object.keys(template.findResources('AWS::SNS::Topic'))[0];
      const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
      expect(alarms).toHaveLength(PERIOD[stage] === null ? 8 : 10);
      for (const a of alarms) {
        expect(a.Properties.AlarmActions).toEqual([ref(topic)]);
        expect(a.Properties.OKActions).toEqual([ref(topic)]);
        const description = JSON.stringify(a.Properties.AlarmDescription);
        expect(description).toMatch(new RegExp(`key-manager --store aws:${KEYSET_NAME[stage]} |aws lambda invoke --function-name|aws logs tail`));
      }
      expect(JSON.stringify(alarm(stage, 'RotationFailed').AlarmDescription)).toContain(`aws lambda invoke --function-name `);
    });

    it('has a dashboard', () => {
      t(stage).hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: `AlphaPulseKeys-${stage}` });
    });
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
});
