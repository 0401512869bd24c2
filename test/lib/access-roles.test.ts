/**
 * AccessRoles, the four roles of the separation of duties: what each role's identity policies grant, in each stage's
 * stack; who else in the account can change, read or destroy the keys (the secrets' resource policies and the KMS key
 * policies, asked request by request on the synthesized prod template, test/lib/policy-evaluator.ts); the roles'
 * trust policies; and the roles alone in a bare stack.
 */
import { Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { AccessRoles } from '../../lib/access-roles';
import { BackupBucket } from '../../lib/backup-bucket';
import { STAGES, type StageName } from '../../lib/config';
import { KeyStorage } from '../../lib/key-storage';
import { RotationFunction } from '../../lib/rotation-function';
import { allowsOf, arnOf, iamPolicyStatements, physicalNames, ref, resourceAt, roleStatements, type Synthesized, synthesizeStage, synthesizeStages, testApp, wildcardSecretOrKmsGrants } from './stack-fixture';
import { deniedBy, type PolicyRequest } from './policy-evaluator';

const KEY_ADMINS = 'arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_KeyAdmin_*';
const SERVICE = 'arn:aws:iam::210987654321:role/trading-engine';
const BREAK_GLASS = 'arn:aws:iam::123456789012:role/alphapulse-break-glass';
const ADMIN = 'arn:aws:iam::123456789012:role/AccountAdministrator';
const DEPLOYER = { 'Fn::Sub': 'arn:${AWS::Partition}:iam::${AWS::AccountId}:role/cdk-hnb659fds-cfn-exec-role-${AWS::AccountId}-${AWS::Region}' };

/** Statements reviewed and accepted despite a `*` in a secretsmanager/kms resource (none today). */
const JUSTIFIED_WILDCARD_SIDS = new Set<string>();

let stages: Record<StageName, Synthesized>;
let configured: Synthesized;
/** The prod stack with the defaults: no trust configured, no break-glass principal. */
const unconfigured = () => stages.prod;

const app = testApp();
const bare = new Stack(app, 'Bare');
const storage = new KeyStorage(bare, 'KeyStorage');
const operationsKey = new kms.Key(bare, 'OperationsKey', { enableKeyRotation: true });
const rotation = new RotationFunction(bare, 'Rotation', { storage, operationsKey, rotationPeriodDays: 90 });
const backup = new BackupBucket(bare, 'Backup');
const roles = new AccessRoles(bare, 'Roles', { storage, rotation, backup });
const trusted = new Stack(app, 'Trusted');
const trustedStorage = new KeyStorage(trusted, 'KeyStorage');
const trustedKey = new kms.Key(trusted, 'OperationsKey', { enableKeyRotation: true });
const trustedRotation = new RotationFunction(trusted, 'Rotation', { storage: trustedStorage, operationsKey: trustedKey, rotationPeriodDays: 90 });
const runner = new iam.Role(trusted, 'Runner', { assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com') });
const trustedRoles = new AccessRoles(trusted, 'Roles', {
  storage: trustedStorage,
  rotation: trustedRotation,
  backup: new BackupBucket(trusted, 'Backup'),
  roleNamePrefix: 'team-keys',
  trust: { applicationService: [runner.roleArn], keyAdministrator: [KEY_ADMINS] },
  keyAdministratorMfa: false,
});
const t: Record<string, Template> = {};

beforeAll(() => {
  stages = synthesizeStages();
  configured = synthesizeStage('prod', {
    roleTrust: { keyAdministrator: [KEY_ADMINS], applicationService: [SERVICE], backupService: ['arn:aws:iam::123456789012:role/backup-runner'], auditService: ['arn:aws:iam::123456789012:role/auditors'] },
    breakGlassPrincipalArn: BREAK_GLASS,
  });
  for (const stack of [bare, trusted]) t[stack.stackName] = Template.fromStack(stack);
});

/** The principals of a stage's stack, by their constructs, and three from outside it. */
function principals(s: Synthesized) {
  const k = s.stack.keys;
  return {
    rotation: arnOf(k.rotation.role),
    keyAdministrator: arnOf(k.roles.keyAdministrator),
    applicationService: arnOf(k.roles.applicationService),
    backupService: arnOf(k.roles.backupService),
    auditService: arnOf(k.roles.auditService),
    accountAdministrator: ADMIN,
    deployment: DEPLOYER,
    breakGlass: BREAK_GLASS,
  };
}
type Who = keyof ReturnType<typeof principals>;
const EVERYONE: readonly Who[] = ['rotation', 'keyAdministrator', 'applicationService', 'backupService', 'auditService', 'accountAdministrator', 'deployment', 'breakGlass'];

/** The statements of a secret's resource policy, found through the secret's `Policy` child. */
function secretPolicy(s: Synthesized, secret: (k: Synthesized['stack']['keys']) => secretsmanager.Secret): unknown[] {
  const policy = resourceAt(s.template, secret(s.stack.keys).node.findChild('Policy'));
  expect(policy.Properties.SecretId).toEqual(ref(secret(s.stack.keys)));
  return policy.Properties.ResourcePolicy.Statement as unknown[];
}

/** Which principals the policy lets through (does not explicitly deny) for `request`. */
function spared(statements: unknown[], s: Synthesized, request: Omit<PolicyRequest, 'principalArn'>): Who[] {
  const p = principals(s);
  return EVERYONE.filter((who) => deniedBy(statements, { ...request, principalArn: p[who] }).length === 0);
}

describe.each(STAGES)('stage %s', (stage) => {
  const k = () => stages[stage].stack.keys;
  const template = () => stages[stage].template;

  it('never grants a secretsmanager or kms action on a resource containing "*", in any IAM identity policy', () => {
    expect(iamPolicyStatements(template()).length).toBeGreaterThan(10);
    expect(wildcardSecretOrKmsGrants(template(), JUSTIFIED_WILDCARD_SIDS)).toEqual([]);
  });

  it('lets the application and backup services read the current keyset (AWSCURRENT only) and nothing else of the key material', () => {
    const keyset = ref(k().keysetSecret);
    for (const reader of [k().roles.applicationService, k().roles.backupService]) {
      const reads = allowsOf(roleStatements(template(), reader), 'secretsmanager:GetSecretValue');
      expect(reads.map((x) => [x.Resource, x.Condition])).toEqual([[[keyset], { StringEquals: { 'secretsmanager:VersionStage': 'AWSCURRENT' } }]]);
    }
    const s = roleStatements(template(), k().roles.applicationService);
    expect(allowsOf(s, 'secretsmanager:DescribeSecret').flatMap((x) => x.Resource)).toEqual([keyset]);
    const decrypt = allowsOf(s, 'kms:Decrypt');
    expect(decrypt).toHaveLength(1);
    expect(decrypt[0].Resource).toEqual([arnOf(k().key)]);
    expect(decrypt[0].Condition?.StringEquals).toMatchObject({ 'kms:EncryptionContext:SecretARN': keyset, 'kms:ViaService': expect.anything() });
    for (const absent of ['secretsmanager:PutSecretValue', 'secretsmanager:UpdateSecretVersionStage', 'kms:Encrypt', 'kms:GenerateDataKey', 'lambda:InvokeFunction', 's3:GetObject', 's3:PutObject']) {
      expect(allowsOf(s, absent)).toEqual([]);
    }
    expect(allowsOf(s, 'cloudwatch:PutMetricData')[0].Condition).toEqual({ StringEquals: { 'cloudwatch:namespace': 'AlphaPulse/Encryption' } });
  });

  it('keeps the backup service write-only on the backup bucket: no read, no list, no delete', () => {
    const s = roleStatements(template(), k().roles.backupService);
    expect(allowsOf(s, 's3:PutObject').flatMap((x) => x.Resource)).toEqual([{ 'Fn::Join': ['', [arnOf(k().backup.bucket), '/*']] }]);
    for (const absent of ['s3:GetObject', 's3:GetObjectVersion', 's3:ListBucket', 's3:DeleteObject', 's3:DeleteObjectVersion', 's3:PutBucketPolicy', 'secretsmanager:PutSecretValue']) {
      expect(allowsOf(s, absent)).toEqual([]);
    }
    // It may decrypt the keyset (to copy it) but never a backup: no kms:Decrypt on the backup key.
    for (const d of allowsOf(s, 'kms:Decrypt')) expect(d.Resource).toEqual([arnOf(k().key)]);
    const deny = s.filter((x) => x.Effect === 'Deny');
    expect(deny.flatMap((x) => x.Action)).toEqual(expect.arrayContaining(['s3:GetObject*', 's3:DeleteObject*', 's3:ListBucket*']));
  });

  it('never lets the audit service read the keyset value, and denies it explicitly', () => {
    const [keyset, rotationLog] = [ref(k().keysetSecret), ref(k().rotationLogSecret)];
    const s = roleStatements(template(), k().roles.auditService);
    expect(allowsOf(s, 'secretsmanager:GetSecretValue').flatMap((x) => x.Resource)).toEqual([rotationLog]);
    expect(allowsOf(s, 'secretsmanager:DescribeSecret').flatMap((x) => x.Resource)).toEqual(expect.arrayContaining([keyset, rotationLog]));
    for (const d of allowsOf(s, 'kms:Decrypt')) expect(d.Condition?.StringEquals['kms:EncryptionContext:SecretARN']).toEqual(rotationLog);
    expect(s.filter((x) => x.Effect === 'Deny' && x.Action.includes('secretsmanager:GetSecretValue')).flatMap((x) => x.Resource)).toEqual([keyset]);
    for (const absent of ['secretsmanager:PutSecretValue', 'lambda:InvokeFunction', 's3:PutObject', 's3:GetObject', 'cloudwatch:PutMetricData']) expect(allowsOf(s, absent)).toEqual([]);
    expect(allowsOf(s, 'logs:FilterLogEvents')).toHaveLength(1);
    expect(allowsOf(s, 'logs:FilterLogEvents')[0].Resource).toEqual([arnOf(k().rotation.logGroup)]);
  });

  it('lets the key administrator ask Secrets Manager to rotate, run the monitor and recover, but never delete secrets or keys', () => {
    const keyset = ref(k().keysetSecret);
    const s = roleStatements(template(), k().roles.keyAdministrator);
    for (const action of ['secretsmanager:PutSecretValue', 'secretsmanager:UpdateSecretVersionStage', 'secretsmanager:GetSecretValue']) {
      expect(allowsOf(s, action).flatMap((x) => x.Resource)).toContainEqual(keyset);
    }
    for (const action of ['secretsmanager:RotateSecret', 'secretsmanager:ListSecretVersionIds']) expect(allowsOf(s, action).flatMap((x) => x.Resource)).toEqual([keyset]);
    // RotateSecret requires lambda:InvokeFunction on the rotation function.
    expect(allowsOf(s, 'lambda:InvokeFunction').flatMap((x) => x.Resource)).toContainEqual(arnOf(k().rotationFunction));
    expect(allowsOf(s, 's3:GetObjectVersion')).toHaveLength(1);
    for (const absent of ['secretsmanager:DeleteSecret', 'secretsmanager:CancelRotateSecret', 'kms:ScheduleKeyDeletion', 'kms:DisableKey', 'kms:PutKeyPolicy', 's3:DeleteObject', 'iam:PassRole']) expect(allowsOf(s, absent)).toEqual([]);
    expect(allowsOf(s, 'kms:Encrypt')).toEqual([]);
  });

  it('gives the version list (metadata) to the audit service on both secrets, and on the keyset to the roles that rotate', () => {
    const [keyset, rotationLog] = [ref(k().keysetSecret), ref(k().rotationLogSecret)];
    expect(allowsOf(roleStatements(template(), k().roles.auditService), 'secretsmanager:ListSecretVersionIds').flatMap((x) => x.Resource)).toEqual([keyset, rotationLog]);
    for (const rotates of [k().rotation.role, k().roles.keyAdministrator]) expect(allowsOf(roleStatements(template(), rotates), 'secretsmanager:ListSecretVersionIds').flatMap((x) => x.Resource)).toEqual([keyset]);
    for (const other of [k().roles.applicationService, k().roles.backupService]) {
      expect(allowsOf(roleStatements(template(), other), 'secretsmanager:ListSecretVersionIds')).toEqual([]);
    }
  });

  it('gives the access roles one-hour sessions, trusting no one until principals are configured', () => {
    for (const role of [k().roles.keyAdministrator, k().roles.applicationService, k().roles.backupService, k().roles.auditService]) {
      const r = resourceAt(template(), role).Properties;
      expect(r.MaxSessionDuration).toBe(3600);
      expect(r.AssumeRolePolicyDocument.Statement).toContainEqual({ Sid: 'TrustNotConfigured', Effect: 'Deny', Principal: { AWS: '*' }, Action: 'sts:AssumeRole' });
    }
  });
});

describe('the keyset secret resource policy', () => {
  const keyset = () => secretPolicy(configured, (k) => k.keysetSecret);
  const allowed = (action: string, keys?: Record<string, string>) => spared(keyset(), configured, { action, ...(keys ? { keys } : {}) });

  it('lets the service and backup roles read only AWSCURRENT, and the key administrator and rotation any version', () => {
    expect(allowed('secretsmanager:GetSecretValue', { 'secretsmanager:VersionStage': 'AWSCURRENT' })).toEqual(['rotation', 'keyAdministrator', 'applicationService', 'backupService', 'breakGlass']);
    for (const older of [{ 'secretsmanager:VersionStage': 'AWSPREVIOUS' }, {}] as Record<string, string>[]) {
      // A request naming a VersionId carries no VersionStage: it is an older version as far as readers go.
      expect(allowed('secretsmanager:GetSecretValue', older)).toEqual(['rotation', 'keyAdministrator', 'breakGlass']);
    }
  });

  it('lets only the key administrator and the rotation function write versions or move labels', () => {
    for (const action of ['secretsmanager:PutSecretValue', 'secretsmanager:UpdateSecretVersionStage']) expect(allowed(action)).toEqual(['rotation', 'keyAdministrator', 'breakGlass']);
  });

  it('lets the key administrator, the rotation function and deployments (the rotation schedule) ask for a rotation', () => {
    expect(allowed('secretsmanager:RotateSecret')).toEqual(['rotation', 'keyAdministrator', 'deployment', 'breakGlass']);
  });

  it.each([
    'secretsmanager:UpdateSecret',
    'secretsmanager:DeleteSecret',
    'secretsmanager:RestoreSecret',
    'secretsmanager:CancelRotateSecret',
    'secretsmanager:PutResourcePolicy',
    'secretsmanager:DeleteResourcePolicy',
    'secretsmanager:ReplicateSecretToRegions',
    'secretsmanager:RemoveRegionsFromReplication',
    'secretsmanager:StopReplicationToReplica',
    'secretsmanager:TagResource',
    'secretsmanager:UntagResource',
  ])('leaves %s to deployments and the break-glass principal, whatever an account administrator is allowed', (action) => {
    expect(allowed(action)).toEqual(['deployment', 'breakGlass']);
  });

  it('leaves metadata to anyone an identity policy allows (audit, investigations)', () => {
    for (const action of ['secretsmanager:DescribeSecret', 'secretsmanager:ListSecretVersionIds', 'secretsmanager:GetResourcePolicy']) expect(allowed(action)).toEqual(EVERYONE);
  });

  it('never denies Secrets Manager itself acting as a service (its part of rotation)', () => {
    for (const action of ['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue', 'secretsmanager:UpdateSecretVersionStage', 'secretsmanager:RotateSecret']) {
      expect(deniedBy(keyset(), { action, isAwsService: true })).toEqual([]);
    }
  });

  it('without a break-glass principal, leaves the management actions to deployments alone', () => {
    expect(spared(secretPolicy(unconfigured(), (k) => k.keysetSecret), unconfigured(), { action: 'secretsmanager:DeleteSecret' })).toEqual(['deployment']);
  });
});

describe('the rotation-log secret resource policy', () => {
  const log = () => secretPolicy(configured, (k) => k.rotationLogSecret);
  const allowed = (action: string, keys?: Record<string, string>) => spared(log(), configured, { action, ...(keys ? { keys } : {}) });

  it('lets the key administrator and the audit service read it, and only the rotation function write it', () => {
    expect(allowed('secretsmanager:GetSecretValue', { 'secretsmanager:VersionStage': 'AWSCURRENT' })).toEqual(['rotation', 'keyAdministrator', 'auditService', 'breakGlass']);
    expect(allowed('secretsmanager:PutSecretValue')).toEqual(['rotation', 'breakGlass']);
    expect(allowed('secretsmanager:RotateSecret')).toEqual(['deployment', 'breakGlass']);
    expect(allowed('secretsmanager:DeleteSecret')).toEqual(['deployment', 'breakGlass']);
  });
});

describe('the KMS keys of the keyset and the backups', () => {
  /** The key policies of the storage key and the backup key, found by their constructs. */
  const keyPolicies = (s: Synthesized) =>
    [s.stack.keys.key, s.stack.keys.backup.key].map((key) => {
      const r = resourceAt(s.template, key);
      expect(r.Type).toBe('AWS::KMS::Key');
      return r.Properties.KeyPolicy.Statement as unknown[];
    });

  it.each(['kms:DisableKey', 'kms:ScheduleKeyDeletion', 'kms:PutKeyPolicy', 'kms:DisableKeyRotation'])('leave %s to deployments and the break-glass principal', (action) => {
    const found = keyPolicies(configured);
    expect(found).toHaveLength(2);
    for (const statements of found) expect(spared(statements, configured, { action })).toEqual(['deployment', 'breakGlass']);
  });

  it('keep every other use and management through IAM as before', () => {
    for (const statements of keyPolicies(configured)) {
      for (const action of ['kms:Decrypt', 'kms:GenerateDataKey', 'kms:DescribeKey', 'kms:EnableKeyRotation', 'kms:CancelKeyDeletion', 'kms:TagResource']) expect(spared(statements, configured, { action })).toEqual(EVERYONE);
    }
  });
});

describe('trust of the access roles', () => {
  type RoleName = 'keyAdministrator' | 'applicationService' | 'backupService' | 'auditService';
  const trust = (s: Synthesized, role: RoleName) => resourceAt(s.template, s.stack.keys.roles[role]).Properties.AssumeRolePolicyDocument.Statement as Record<string, unknown>[];

  it('admits only the configured principals, by aws:PrincipalArn, and MFA for the Key Administrator', () => {
    expect(trust(configured, 'keyAdministrator')).toEqual([
      {
        Sid: 'OnlyTheConfiguredPrincipals',
        Effect: 'Allow',
        Action: 'sts:AssumeRole',
        Principal: { AWS: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::123456789012:root']] } },
        Condition: { ArnLike: { 'aws:PrincipalArn': [KEY_ADMINS] }, Bool: { 'aws:MultiFactorAuthPresent': 'true' } },
      },
    ]);
    const service = trust(configured, 'applicationService');
    expect(service).toHaveLength(1);
    expect(service[0]).toMatchObject({ Principal: { AWS: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::210987654321:root']] } }, Condition: { ArnLike: { 'aws:PrincipalArn': [SERVICE] } } });
    expect(service[0].Condition).not.toHaveProperty('Bool');
  });

  it('trusts no one without configured principals, and warns naming the setting; the synth still works', () => {
    for (const role of ['keyAdministrator', 'applicationService', 'backupService', 'auditService'] as const) {
      const statements = trust(unconfigured(), role);
      expect(statements).toContainEqual({ Sid: 'TrustNotConfigured', Effect: 'Deny', Principal: { AWS: '*' }, Action: 'sts:AssumeRole' });
      expect(deniedBy(statements, { action: 'sts:AssumeRole', principalArn: ADMIN })).toEqual(['TrustNotConfigured']);
    }
    Annotations.fromStack(unconfigured().stack).hasWarning(`/${unconfigured().stack.keys.roles.node.path}`, Match.stringLikeRegexp('KeyAdministrator \\(alphapulse:prod\\.roleTrust\\.keyAdministrator\\)'));
    Annotations.fromStack(configured.stack).hasNoWarning(`/${configured.stack.keys.roles.node.path}`, Match.anyValue());
  });
});

describe('alone in a bare stack, with a storage, a rotation function and a backup bucket', () => {
  it('synthesizes with every role name generated, one-hour sessions, trusting no one, and warns naming the default setting', () => {
    expect(physicalNames(t.Bare)).toEqual([]);
    for (const role of [roles.keyAdministrator, roles.applicationService, roles.backupService, roles.auditService]) {
      expect(resourceAt(t.Bare, role).Properties.MaxSessionDuration).toBe(3600);
      expect(resourceAt(t.Bare, role).Properties.AssumeRolePolicyDocument.Statement).toContainEqual({ Sid: 'TrustNotConfigured', Effect: 'Deny', Principal: { AWS: '*' }, Action: 'sts:AssumeRole' });
    }
    Annotations.fromStack(bare).hasWarning(`/${roles.node.path}`, Match.stringLikeRegexp('KeyAdministrator \\(roleTrust\\.keyAdministrator\\).*AuditService \\(roleTrust\\.auditService\\)'));
  });

  it('grants the duties through the constructs it is given', () => {
    expect(allowsOf(roleStatements(t.Bare, roles.applicationService), 'secretsmanager:GetSecretValue').flatMap((s) => s.Resource)).toEqual([ref(storage.keysetSecret)]);
    expect(allowsOf(roleStatements(t.Bare, roles.backupService), 's3:PutObject').flatMap((s) => s.Resource)).toEqual([{ 'Fn::Join': ['', [arnOf(backup.bucket), '/*']] }]);
    expect(allowsOf(roleStatements(t.Bare, roles.keyAdministrator), 'lambda:InvokeFunction').flatMap((s) => s.Resource)).toContainEqual(arnOf(rotation.function));
    expect(allowsOf(roleStatements(t.Bare, roles.auditService), 'logs:FilterLogEvents').flatMap((s) => s.Resource)).toEqual([arnOf(rotation.logGroup)]);
    expect(wildcardSecretOrKmsGrants(t.Bare)).toEqual([]);
  });
});

describe('with a role name prefix, and trust in a role of the same stack', () => {
  it('names the roles with the prefix', () => {
    expect(physicalNames(t.Trusted).sort()).toEqual(['ApplicationService', 'AuditService', 'BackupService', 'KeyAdministrator'].map((n) => `AWS::IAM::Role team-keys-${n}`));
  });

  it("trusts the stack's own account for a role given by token, by its ARN, and no MFA when turned off", () => {
    expect(resourceAt(t.Trusted, trustedRoles.applicationService).Properties.AssumeRolePolicyDocument.Statement).toEqual([
      {
        Sid: 'OnlyTheConfiguredPrincipals',
        Effect: 'Allow',
        Action: 'sts:AssumeRole',
        Principal: { AWS: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'AWS::AccountId' }, ':root']] } },
        Condition: { ArnLike: { 'aws:PrincipalArn': [arnOf(runner)] } },
      },
    ]);
    expect(resourceAt(t.Trusted, trustedRoles.keyAdministrator).Properties.AssumeRolePolicyDocument.Statement[0].Condition).toEqual({ ArnLike: { 'aws:PrincipalArn': [KEY_ADMINS] } });
    Annotations.fromStack(trusted).hasWarning(`/${trustedRoles.node.path}`, Match.stringLikeRegexp('BackupService \\(roleTrust\\.backupService\\), AuditService'));
  });
});

describe('wildcardSecretOrKmsGrants', () => {
  const templateWith = (...statements: iam.PolicyStatement[]) => {
    const stack = new Stack(testApp(), 'Probe');
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
    const stack = new Stack(testApp(), 'Probe');
    const document = new iam.PolicyDocument({ statements: [new iam.PolicyStatement({ actions: ['kms:Decrypt'], resources: ['*'] })] });
    new iam.ManagedPolicy(stack, 'M', { document });
    new iam.Role(stack, 'R', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'), inlinePolicies: { inline: document } });
    expect(wildcardSecretOrKmsGrants(Template.fromStack(stack)).map((x) => x.source).sort()).toEqual([expect.stringMatching(/^M/), expect.stringMatching(/^R.*#inline$/)]);
  });
});
