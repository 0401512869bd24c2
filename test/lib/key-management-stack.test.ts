import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { StageName } from '../../lib/config';
import {
  allowsOf,
  arnOf,
  iamPolicyStatements,
  logicalIdOf,
  ref,
  roleStatements,
  synthesizeStage,
  synthesizeStages,
  type Synthesized,
  wildcardSecretOrKmsGrants,
} from './stack-fixture';

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

/** Statements reviewed and accepted despite a `*` in a secretsmanager/kms resource (none today). */
const JUSTIFIED_WILDCARD_SIDS = new Set<string>();

/** Alarms counting occurrences per 5 minutes: their data disappears after the event, so they send no OK. */
const EVENT_ALARMS = ['KeyRetrievalFailures', 'DecryptionFailures', 'RotationFailed', 'KeyVersionMismatch', 'RotationFunctionErrors', 'UnusualKeyAccess'];
/** Alarms on a lasting condition: their OK means it was fixed. */
const STATE_ALARMS = (stage: StageName) => [...(PERIOD[stage] === null ? [] : ['RotationDeadlineApproaching', 'RotationOverdue']), 'RotationStuck', 'StorageKeyUnhealthy', 'MonitorSilent', 'DeadLetterQueueNotEmpty'];

type Headers = Record<string, string>;
/**
 * Whether a bucket-policy Deny statement's condition matches a PutObject with these request headers (condition key
 * `s3:<header>`), for the operators the backup bucket uses; any other operator fails the test rather than guessing.
 */
function denies(condition: Record<string, Record<string, unknown>>, headers: Headers, secure = true): boolean {
  const value = (key: string): string | undefined =>
    key === 'aws:SecureTransport' ? String(secure) : key === 's3:TlsVersion' ? '1.3' : headers[key.replace(/^s3:/, '')];
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  return Object.entries(condition).every(([operator, keys]) =>
    Object.entries(keys).every(([key, expected]) => {
      const v = value(key);
      const values = ([] as unknown[]).concat(expected);
      switch (operator) {
        // IAM: a negated operator, and any ...IfExists operator, is true when the key is absent.
        case 'StringNotEquals':
        case 'StringNotEqualsIfExists':
          return v === undefined || !values.some((e) => same(e, v));
        case 'Null':
          return (v === undefined) === (expected === 'true');
        case 'NumericLessThan':
          return v !== undefined && values.some((e) => Number(v) < Number(e));
        case 'Bool':
          return values.some((e) => same(e, v));
        default:
          throw new Error(`no evaluator for ${operator}`);
      }
    }),
  );
}

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
    it('runs the bundled handler on Node.js 22, ARM64, with two reserved executions', () => {
      const template = t(stage);
      const fn = template.findResources('AWS::Lambda::Function')[ids(template).fn].Properties;
      expect(fn).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        ReservedConcurrentExecutions: 2,
        FunctionName: `alphapulse-keys-${stage}-rotation`,
        DeadLetterConfig: { TargetArn: expect.anything() },
      });
    });

    it('passes the handler its environment', () => {
      const template = t(stage);
      const { keyset, rotationLog, fn, keysetKey } = ids(template);
      const env = template.findResources('AWS::Lambda::Function')[fn].Properties.Environment.Variables;
      expect(env).toEqual({
        KEYSET_SECRET_ID: ref(keyset),
        ROTATION_LOG_SECRET_ID: ref(rotationLog),
        STORAGE_KEY_ID: arnOf(keysetKey),
        METRICS_NAMESPACE: 'AlphaPulse/Encryption',
        STAGE: stage,
        ...(PERIOD[stage] === null ? {} : { ROTATION_PERIOD_DAYS: String(PERIOD[stage]), WARNING_WINDOW_DAYS: '14' }),
      });
    });

    it('lets only its monitor rule and Secrets Manager, for the keyset secret of this account, invoke it', () => {
      const template = t(stage);
      const { fn, keyset } = ids(template);
      const rules = Object.entries(template.findResources('AWS::Events::Rule')).filter(([, r]) => (r.Properties.Targets ?? []).some((x: { Arn: unknown }) => JSON.stringify(x.Arn) === JSON.stringify(arnOf(fn))));
      expect(rules).toHaveLength(1);
      const permissions = Object.values(template.findResources('AWS::Lambda::Permission')).map((p) => p.Properties);
      expect(permissions).toEqual(
        expect.arrayContaining([
          { Action: 'lambda:InvokeFunction', FunctionName: arnOf(fn), Principal: 'events.amazonaws.com', SourceArn: arnOf(rules[0][0]) },
          { Action: 'lambda:InvokeFunction', FunctionName: arnOf(fn), Principal: 'secretsmanager.amazonaws.com', SourceArn: ref(keyset), SourceAccount: { Ref: 'AWS::AccountId' } },
        ]),
      );
      // The provider framework's permission is CDK's own, for its framework function, not ours.
      expect(permissions.filter((p) => JSON.stringify(p.FunctionName) === JSON.stringify(arnOf(fn)))).toHaveLength(2);
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

    it(
      PERIOD[stage] === null
        ? 'configures Secrets Manager rotation on the keyset with the function and no schedule (on demand only)'
        : `rotates the keyset through Secrets Manager's native schedule, rate(${PERIOD[stage]} days) in a 4-hour window, and no other`,
      () => {
        const template = t(stage);
        const { keyset, fn } = ids(template);
        const schedules = Object.values(template.findResources('AWS::SecretsManager::RotationSchedule')).map((r) => r.Properties);
        expect(schedules).toEqual([
          {
            SecretId: ref(keyset),
            RotationLambdaARN: arnOf(fn),
            RotateImmediatelyOnUpdate: false,
            ...(PERIOD[stage] === null ? {} : { RotationRules: { ScheduleExpression: `rate(${PERIOD[stage]} days)`, Duration: '4h' } }),
          },
        ]);
        // No EventBridge rule rotates: the only schedule rule is the daily monitor, and no target sends a rotate action.
        const rules = Object.values(template.findResources('AWS::Events::Rule'));
        expect(rules.filter((r) => r.Properties.ScheduleExpression).map((r) => r.Properties.ScheduleExpression)).toEqual(['rate(1 day)']);
        expect(JSON.stringify(rules)).not.toMatch(/\\"action\\":\\"rotate|rotationId/);
      },
    );

    it('configures rotation only after the deploy-time init wrote the first keyset, and after Secrets Manager may invoke the function', () => {
      const template = t(stage);
      const init = Object.keys(template.findResources('Custom::AlphaPulseKeysetInit'))[0];
      const [schedule] = Object.values(template.findResources('AWS::SecretsManager::RotationSchedule'));
      const permission = Object.entries(template.findResources('AWS::Lambda::Permission', { Properties: { Principal: 'secretsmanager.amazonaws.com' } }))[0][0];
      expect(schedule.DependsOn).toEqual(expect.arrayContaining([init, permission]));
    });

    it('measures daily with {"action":"monitor"}', () => {
      const monitor = Object.values(t(stage).findResources('AWS::Events::Rule')).filter((r) => r.Properties.ScheduleExpression === 'rate(1 day)');
      expect(monitor).toHaveLength(1);
      expect(JSON.parse(monitor[0].Properties.Targets[0].Input)).toEqual({ action: 'monitor' });
    });

    it('may touch only its two secrets, its key through Secrets Manager (and its metadata), its metrics namespace, logs, DLQ and itself', () => {
      const template = t(stage);
      const { keyset, rotationLog, fnRole, keysetKey, fn } = ids(template);
      const statements = roleStatements(template, fnRole);
      const services = new Set(statements.flatMap((s) => s.Action.map((a) => a.split(':')[0])));
      expect([...services].sort()).toEqual(['cloudwatch', 'kms', 'lambda', 'logs', 'secretsmanager', 'sqs']);
      // RotateSecret (the monitor's backstop) needs lambda:InvokeFunction on the rotation function: on itself only.
      expect(allowsOf(statements, 'lambda:InvokeFunction').flatMap((x) => x.Resource)).toEqual([arnOf(fn)]);
      for (const action of ['secretsmanager:RotateSecret', 'secretsmanager:ListSecretVersionIds']) expect(allowsOf(statements, action).flatMap((x) => x.Resource)).toEqual([ref(keyset)]);
      const metadata = allowsOf(statements, 'kms:DescribeKey');
      expect(metadata).toHaveLength(1);
      expect(metadata[0]).toMatchObject({ Action: ['kms:DescribeKey', 'kms:GetKeyRotationStatus'], Resource: [arnOf(keysetKey)] });
      for (const s of statements.filter((x) => x.Action.some((a) => a.startsWith('secretsmanager:')))) {
        expect(s.Resource.every((r) => JSON.stringify(r) === JSON.stringify(ref(keyset)) || JSON.stringify(r) === JSON.stringify(ref(rotationLog)))).toBe(true);
      }
      for (const action of ['secretsmanager:PutSecretValue', 'secretsmanager:UpdateSecretVersionStage', 'secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret']) {
        const resources = allowsOf(statements, action).flatMap((s) => s.Resource);
        expect(resources).toEqual(expect.arrayContaining([ref(keyset), ref(rotationLog)]));
      }
      const keyGrants = allowsOf(statements, 'kms:Decrypt').filter((s) => JSON.stringify(s.Resource) === JSON.stringify([arnOf(keysetKey)]));
      expect(keyGrants).toHaveLength(2);
      for (const g of keyGrants) expect(g.Condition?.StringEquals['kms:ViaService']).toEqual({ 'Fn::Join': ['', ['secretsmanager.', { Ref: 'AWS::Region' }, '.amazonaws.com']] });
      const metrics = allowsOf(statements, 'cloudwatch:PutMetricData');
      expect(metrics).toHaveLength(1);
      expect(metrics[0].Condition).toEqual({ StringEquals: { 'cloudwatch:namespace': 'AlphaPulse/Encryption' } });
      // Secrets Manager calls GenerateDataKey and Decrypt on the caller's behalf, never Encrypt.
      expect(allowsOf(statements, 'kms:Encrypt')).toEqual([]);
      expect(allowsOf(statements, 'secretsmanager:GetRandomPassword')).toEqual([]);
      for (const g of keyGrants) expect([...g.Action].sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
      expect(allowsOf(statements, 'secretsmanager:DeleteSecret')).toHaveLength(0);
      expect(allowsOf(statements, 'kms:ScheduleKeyDeletion')).toHaveLength(0);
      expect(t(stage).findResources('AWS::IAM::Role')[fnRole].Properties.ManagedPolicyArns).toBeUndefined();
    });

    it('uses the operations key for its dead-letter queue only through SQS', () => {
      const template = t(stage);
      const { fnRole } = ids(template);
      const operationsKey = (template.findResources('AWS::SQS::Queue')[Object.keys(template.findResources('AWS::SQS::Queue'))[0]].Properties.KmsMasterKeyId as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0];
      const dlqKey = roleStatements(template, fnRole).filter((x) => x.Effect === 'Allow' && JSON.stringify(x.Resource) === JSON.stringify([arnOf(operationsKey)]));
      expect(dlqKey).toHaveLength(1);
      expect([...dlqKey[0].Action].sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
      expect(dlqKey[0].Condition).toEqual({ StringEquals: { 'kms:ViaService': { 'Fn::Join': ['', ['sqs.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } } });
    });
  });

  describe('IAM', () => {
    it('never grants a secretsmanager or kms action on a resource containing "*", in any IAM identity policy', () => {
      const template = t(stage);
      expect(iamPolicyStatements(template).length).toBeGreaterThan(10);
      expect(wildcardSecretOrKmsGrants(template, JUSTIFIED_WILDCARD_SIDS)).toEqual([]);
    });

    it('lets the application and backup services read the current keyset (AWSCURRENT only) and nothing else of the key material', () => {
      const template = t(stage);
      const { keyset, role, keysetKey } = ids(template);
      for (const reader of ['ApplicationService', 'BackupService']) {
        const reads = allowsOf(roleStatements(template, role(reader)), 'secretsmanager:GetSecretValue');
        expect(reads.map((x) => [x.Resource, x.Condition])).toEqual([[[ref(keyset)], { StringEquals: { 'secretsmanager:VersionStage': 'AWSCURRENT' } }]]);
      }
      const s = roleStatements(template, role('ApplicationService'));
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

    it('lets the key administrator ask Secrets Manager to rotate, run the monitor and recover, but never delete secrets or keys', () => {
      const template = t(stage);
      const { keyset, fn, role } = ids(template);
      const s = roleStatements(template, role('KeyAdministrator'));
      for (const action of ['secretsmanager:PutSecretValue', 'secretsmanager:UpdateSecretVersionStage', 'secretsmanager:GetSecretValue']) {
        expect(allowsOf(s, action).flatMap((x) => x.Resource)).toContainEqual(ref(keyset));
      }
      for (const action of ['secretsmanager:RotateSecret', 'secretsmanager:ListSecretVersionIds']) expect(allowsOf(s, action).flatMap((x) => x.Resource)).toEqual([ref(keyset)]);
      // RotateSecret requires lambda:InvokeFunction on the rotation function.
      expect(allowsOf(s, 'lambda:InvokeFunction').flatMap((x) => x.Resource)).toContainEqual(arnOf(fn));
      expect(allowsOf(s, 's3:GetObjectVersion')).toHaveLength(1);
      for (const absent of ['secretsmanager:DeleteSecret', 'secretsmanager:CancelRotateSecret', 'kms:ScheduleKeyDeletion', 'kms:DisableKey', 'kms:PutKeyPolicy', 's3:DeleteObject', 'iam:PassRole']) expect(allowsOf(s, absent)).toEqual([]);
      expect(allowsOf(s, 'kms:Encrypt')).toEqual([]);
    });

    it('gives the version list (metadata) to the audit service on both secrets, and on the keyset to the roles that rotate', () => {
      const template = t(stage);
      const { keyset, rotationLog, role, fnRole } = ids(template);
      expect(allowsOf(roleStatements(template, role('AuditService')), 'secretsmanager:ListSecretVersionIds').flatMap((x) => x.Resource)).toEqual([ref(keyset), ref(rotationLog)]);
      for (const rotates of [fnRole, role('KeyAdministrator')]) expect(allowsOf(roleStatements(template, rotates), 'secretsmanager:ListSecretVersionIds').flatMap((x) => x.Resource)).toEqual([ref(keyset)]);
      for (const other of [role('ApplicationService'), role('BackupService')]) {
        expect(allowsOf(roleStatements(template, other), 'secretsmanager:ListSecretVersionIds')).toEqual([]);
      }
    });

    it('puts resource policies on both secrets (what they deny, request by request: access-roles.test.ts)', () => {
      const template = t(stage);
      const { keyset, rotationLog } = ids(template);
      const policies = Object.values(template.findResources('AWS::SecretsManager::ResourcePolicy')).map((p) => p.Properties.SecretId);
      expect(policies).toEqual(expect.arrayContaining([ref(keyset), ref(rotationLog)]));
      expect(policies).toHaveLength(2);
    });

    it('names the access roles for the stage, with one-hour sessions, trusting no one until principals are configured', () => {
      const template = t(stage);
      const { role } = ids(template);
      for (const name of ['KeyAdministrator', 'ApplicationService', 'BackupService', 'AuditService']) {
        const r = template.findResources('AWS::IAM::Role')[role(name)].Properties;
        expect(r.RoleName).toBe(`AlphaPulseKeys-${stage}-${name}`);
        expect(r.MaxSessionDuration).toBe(3600);
        expect(r.AssumeRolePolicyDocument.Statement).toContainEqual({ Sid: 'TrustNotConfigured', Effect: 'Deny', Principal: { AWS: '*' }, Action: 'sts:AssumeRole' });
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

    it('denies a PutObject that asks for any encryption but SSE-KMS under the backup key, and lets a header-less one take the default', () => {
      const template = t(stage);
      const bucketId = Object.keys(template.findResources('AWS::S3::Bucket', { Properties: { LoggingConfiguration: Match.anyValue() } }))[0];
      const backupKey = template.findResources('AWS::S3::Bucket')[bucketId].Properties.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.KMSMasterKeyID;
      const policy = Object.values(template.findResources('AWS::S3::BucketPolicy', { Properties: { Bucket: ref(bucketId) } }))[0].Properties.PolicyDocument;
      const putDenies = (policy.Statement as Record<string, unknown>[]).filter((s) => s.Effect === 'Deny' && ([] as string[]).concat(s.Action as string[]).some((a) => a === 's3:PutObject' || a === 's3:*'));
      expect(putDenies.length).toBeGreaterThanOrEqual(4);
      for (const s of putDenies) expect(s.Principal).toEqual({ AWS: '*' });
      const denied = (headers: Headers) => putDenies.some((s) => denies(s.Condition as Record<string, Record<string, unknown>>, headers));
      const keyArn = backupKey as unknown as string;
      // The CLI's export sends no encryption header: the bucket default (SSE-KMS, backup key) applies.
      expect(denied({})).toBe(false);
      expect(denied({ 'x-amz-server-side-encryption': 'aws:kms', 'x-amz-server-side-encryption-aws-kms-key-id': keyArn })).toBe(false);
      expect(denied({ 'x-amz-server-side-encryption': 'AES256' })).toBe(true);
      expect(denied({ 'x-amz-server-side-encryption': 'aws:kms:dsse', 'x-amz-server-side-encryption-aws-kms-key-id': keyArn })).toBe(true);
      expect(denied({ 'x-amz-server-side-encryption': 'aws:kms' })).toBe(true);
      expect(denied({ 'x-amz-server-side-encryption': 'aws:kms', 'x-amz-server-side-encryption-aws-kms-key-id': 'arn:aws:kms:us-east-1:111122223333:key/other' })).toBe(true);
      expect(denied({ 'x-amz-server-side-encryption-customer-algorithm': 'AES256' })).toBe(true);
      expect(keyArn).toEqual(expect.objectContaining({ 'Fn::GetAtt': [expect.stringMatching(/^BackupKey/), 'Arn'] }));
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
    ])('alarms %s on %s (threshold %d, %s, period %ds)', (name, metric, threshold, operator, period) => {
      const a = alarm(stage, name);
      expect(a).toMatchObject({ MetricName: metric, Namespace: 'AlphaPulse/Encryption', Threshold: threshold, ComparisonOperator: operator, Period: period, EvaluationPeriods: 1 });
    });

    it('alarms MonitorSilent after 26 consecutive hours without a KeyAgeDays datapoint (a late daily run does not flap)', () => {
      expect(alarm(stage, 'MonitorSilent')).toMatchObject({
        MetricName: 'KeyAgeDays',
        Namespace: 'AlphaPulse/Encryption',
        Statistic: 'SampleCount',
        Threshold: 1,
        ComparisonOperator: 'LessThanThreshold',
        Period: 3600,
        EvaluationPeriods: 26,
        DatapointsToAlarm: 26,
        TreatMissingData: 'breaching',
      });
    });

    if (PERIOD[stage] === null) {
      it('has no deadline or overdue alarms (rotation on demand only)', () => {
        expect(alarm(stage, 'RotationDeadlineApproaching')).toBeUndefined();
        expect(alarm(stage, 'RotationOverdue')).toBeUndefined();
      });
    } else {
      it('alarms when the deadline is near with nothing scheduled to meet it, and once the key outlives the period', () => {
        expect(alarm(stage, 'RotationDeadlineApproaching')).toMatchObject({ MetricName: 'RotationDeadlineAtRisk', Statistic: 'Maximum', Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold', Period: 86400 });
        expect(alarm(stage, 'RotationOverdue')).toMatchObject({ MetricName: 'KeyAgeDays', Threshold: PERIOD[stage], ComparisonOperator: 'GreaterThanThreshold' });
      });

      it('tells the on-call engineer, for the deadline alarm, to look at status and then rotate through Secrets Manager', () => {
        const description = JSON.stringify(alarm(stage, 'RotationDeadlineApproaching').AlarmDescription);
        expect(description).toMatch(/nothing will rotate it in time/);
        const first = description.slice(description.indexOf('First:'));
        expect(first.indexOf(`key-manager --store aws:${KEYSET_NAME[stage]} status`)).toBeGreaterThan(0);
        expect(first.indexOf(`key-manager --store aws:${KEYSET_NAME[stage]} rotate`)).toBeGreaterThan(first.indexOf('status'));
      });
    }

    it('alarms on a stuck rotation and on an unhealthy storage key, from the monitor\'s gauges', () => {
      expect(alarm(stage, 'RotationStuck')).toMatchObject({ MetricName: 'RotationStuck', Statistic: 'Maximum', Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
      expect(alarm(stage, 'StorageKeyUnhealthy')).toMatchObject({ MetricName: 'StorageKeyHealthy', Statistic: 'Minimum', Threshold: 1, ComparisonOperator: 'LessThanThreshold' });
    });

    it('pages on Secrets Manager rotation failures and abandonments of the keyset secret, with the RUNBOOK section', () => {
      const template = t(stage);
      const { keyset } = ids(template);
      const topic = Object.keys(template.findResources('AWS::SNS::Topic'))[0];
      const [rule] = Object.values(template.findResources('AWS::Events::Rule', { Properties: { EventPattern: { source: ['aws.secretsmanager'] } } }));
      expect(rule.Properties.EventPattern).toEqual({
        source: ['aws.secretsmanager'],
        'detail-type': ['AWS Service Event via CloudTrail'],
        detail: { eventName: ['RotationFailed', 'RotationAbandoned'], additionalEventData: { SecretId: [ref(keyset)] } },
      });
      expect(rule.Properties.Targets).toHaveLength(1);
      expect(rule.Properties.Targets[0].Arn).toEqual(ref(topic));
      expect(rule.Properties.Targets[0].InputTransformer.InputTemplate).toContain('RUNBOOK.md, section RotationFailedEvent');
    });

    it('pages when the storage key is disabled, scheduled for deletion or given a new policy', () => {
      const template = t(stage);
      const { keysetKey } = ids(template);
      const [rule] = Object.values(template.findResources('AWS::Events::Rule', { Properties: { EventPattern: { source: ['aws.kms'] } } }));
      expect(rule.Properties.EventPattern).toEqual({
        source: ['aws.kms'],
        'detail-type': ['AWS API Call via CloudTrail'],
        detail: { eventSource: ['kms.amazonaws.com'], eventName: ['DisableKey', 'ScheduleKeyDeletion', 'PutKeyPolicy'], resources: { ARN: [arnOf(keysetKey)] } },
      });
      expect(JSON.stringify(rule.Properties.Targets[0].InputTransformer.InputTemplate)).toContain('RUNBOOK.md, section StorageKeyEvent');
    });

    it('lets EventBridge publish to the encrypted on-call topic', () => {
      const template = t(stage);
      template.hasResourceProperties('AWS::SNS::TopicPolicy', {
        PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Action: 'sns:Publish', Principal: { Service: 'events.amazonaws.com' } })]) },
      });
      template.hasResourceProperties('AWS::KMS::Key', {
        KeyPolicy: { Statement: Match.arrayWith([Match.objectLike({ Principal: { Service: 'events.amazonaws.com' }, Action: ['kms:GenerateDataKey', 'kms:Decrypt'] })]) },
      });
    });

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

    it('sends only state alarms\' recovery to the on-call topic: an event count going quiet must not auto-resolve the page', () => {
      const template = t(stage);
      const topic = Object.keys(template.findResources('AWS::SNS::Topic'))[0];
      for (const name of EVENT_ALARMS) {
        expect(alarm(stage, name).AlarmActions).toEqual([ref(topic)]);
        expect(alarm(stage, name).OKActions).toBeUndefined();
      }
      for (const name of STATE_ALARMS(stage)) expect(alarm(stage, name).OKActions).toEqual([ref(topic)]);
      expect(EVENT_ALARMS.length + STATE_ALARMS(stage).length).toBe(Object.keys(template.findResources('AWS::CloudWatch::Alarm')).length);
    });

    it('sends every alarm to the on-call topic, with the first command in the description', () => {
      const template = t(stage);
      const topic = Object.keys(template.findResources('AWS::SNS::Topic'))[0];
      const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
      expect(alarms).toHaveLength(PERIOD[stage] === null ? 10 : 12);
      for (const a of alarms) {
        expect(a.Properties.AlarmActions).toEqual([ref(topic)]);
        const description = JSON.stringify(a.Properties.AlarmDescription);
        expect(description).toMatch(new RegExp(`key-manager --store aws:${KEYSET_NAME[stage]} |aws lambda invoke --function-name|aws logs tail|aws kms describe-key`));
        // No alarm tells anyone to invoke a rotate action: the function refuses it.
        expect(description).not.toMatch(/\\"action\\":\\"rotate/);
      }
      expect(JSON.stringify(alarm(stage, 'RotationFailed').AlarmDescription)).toContain(`key-manager --store aws:${KEYSET_NAME[stage]} rotate`);
    });

    it("creates MonitorSilent only after the deploy-time init (whose KeyAgeDays keeps a fresh stack out of alarm)", () => {
      const template = t(stage);
      const init = Object.keys(template.findResources('Custom::AlphaPulseKeysetInit'))[0];
      const [silent] = Object.values(template.findResources('AWS::CloudWatch::Alarm', { Properties: { AlarmName: `AlphaPulseKeys-${stage}-MonitorSilent` } }));
      expect(silent.DependsOn).toEqual(expect.arrayContaining([init]));
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

describe('configuration other than the defaults (staging, warning window 10, no reserved concurrency)', () => {
  let custom: Synthesized;
  beforeAll(() => {
    custom = synthesizeStage('staging', { warningWindowDays: 10, reservedConcurrency: false });
  });

  it('removes ReservedConcurrentExecutions from the rotation function', () => {
    const { fn } = ids(custom.template);
    const props = custom.template.findResources('AWS::Lambda::Function')[fn].Properties;
    expect(props.FunctionName).toBe('alphapulse-keys-staging-rotation');
    expect(props).not.toHaveProperty('ReservedConcurrentExecutions');
  });

  it("passes the stage's warning window to the handler and the deadline alarm", () => {
    const { fn } = ids(custom.template);
    expect(custom.template.findResources('AWS::Lambda::Function')[fn].Properties.Environment.Variables).toMatchObject({ ROTATION_PERIOD_DAYS: '30', WARNING_WINDOW_DAYS: '10' });
    expect(JSON.stringify(custom.template.findResources('AWS::CloudWatch::Alarm', { Properties: { AlarmName: 'AlphaPulseKeys-staging-RotationDeadlineApproaching' } }))).toContain('within 10 days');
  });
});

describe('wildcardSecretOrKmsGrants', () => {
  const templateWith = (...statements: iam.PolicyStatement[]) => {
    const stack = new Stack(new App(), 'Probe');
    const role = new iam.Role(stack, 'R', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    for (const s of statements) role.addToPrincipalPolicy(s);
    return Template.fromStack(stack);
  };

  it.each([
    ['a partial secret ARN', ['secretsmanager:GetSecretValue'], 'arn:aws:secretsmanager:us-east-1:111122223333:secret:alphapulse/*'],
    ['every key of an account', ['kms:Decrypt'], 'arn:aws:kms:us-east-1:111122223333:key/*'],
    ['the literal "*"', ['kms:GenerateDataKey'], '*'],
    ['a wildcard action', ['secretsmanager:*'], 'arn:aws:secretsmanager:us-east-1:111122223333:secret:exact-AbCdEf'],
  ])('rejects %s', (_name, actions, resource) => {
    expect(wildcardSecretOrKmsGrants(templateWith(new iam.PolicyStatement({ actions, resources: [resource] })))).toHaveLength(1);
  });

  it('accepts exact ARNs, other services, and statements justified by Sid', () => {
    const t0 = templateWith(
      new iam.PolicyStatement({ actions: ['kms:Decrypt'], resources: ['arn:aws:kms:us-east-1:111122223333:key/1234'] }),
      new iam.PolicyStatement({ actions: ['s3:PutObject'], resources: ['arn:aws:s3:::bucket/*'] }),
      new iam.PolicyStatement({ sid: 'Reviewed', actions: ['kms:Decrypt'], resources: ['*'] }),
    );
    expect(wildcardSecretOrKmsGrants(t0, new Set(['Reviewed']))).toEqual([]);
  });

  it('scans managed policies and inline role policies too', () => {
    const stack = new Stack(new App(), 'Probe');
    const document = new iam.PolicyDocument({ statements: [new iam.PolicyStatement({ actions: ['kms:Decrypt'], resources: ['*'] })] });
    new iam.ManagedPolicy(stack, 'M', { document });
    new iam.Role(stack, 'R', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'), inlinePolicies: { inline: document } });
    expect(wildcardSecretOrKmsGrants(Template.fromStack(stack)).map((x) => x.source).sort()).toEqual([expect.stringMatching(/^M/), expect.stringMatching(/^R.*#inline$/)]);
  });
});
