/**
 * Who else in the account can change, read or destroy the keys: the secrets' resource policies and the KMS key
 * policies, asked request by request on the synthesized prod template (test/lib/policy-evaluator.ts), and the
 * roles' trust policies.
 */
import { Annotations, Match, type Template } from 'aws-cdk-lib/assertions';
import { arnOf, logicalIdOf, synthesizeStage, type Synthesized } from './stack-fixture';
import { deniedBy, type PolicyRequest } from './policy-evaluator';

const KEY_ADMINS = 'arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_KeyAdmin_*';
const SERVICE = 'arn:aws:iam::210987654321:role/trading-engine';
const BREAK_GLASS = 'arn:aws:iam::123456789012:role/alphapulse-break-glass';
const ADMIN = 'arn:aws:iam::123456789012:role/AccountAdministrator';
const DEPLOYER = { 'Fn::Sub': 'arn:${AWS::Partition}:iam::${AWS::AccountId}:role/cdk-hnb659fds-cfn-exec-role-${AWS::AccountId}-${AWS::Region}' };

let configured: Synthesized;
let unconfigured: Synthesized;
beforeAll(() => {
  configured = synthesizeStage('prod', {
    roleTrust: { keyAdministrator: [KEY_ADMINS], applicationService: [SERVICE], backupService: ['arn:aws:iam::123456789012:role/backup-runner'], auditService: ['arn:aws:iam::123456789012:role/auditors'] },
    breakGlassPrincipalArn: BREAK_GLASS,
  });
  unconfigured = synthesizeStage('prod', {});
});

function principals(template: Template) {
  const role = (suffix: string) => arnOf(Object.entries(template.findResources('AWS::IAM::Role')).find(([, r]) => String(r.Properties.RoleName ?? '').endsWith(`-${suffix}`))![0]);
  const fnRole = (template.findResources('AWS::Lambda::Function')[Object.entries(template.findResources('AWS::Lambda::Function')).find(([, r]) => String(r.Properties.FunctionName).endsWith('-rotation'))![0]].Properties.Role as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0];
  return {
    rotation: arnOf(fnRole),
    keyAdministrator: role('KeyAdministrator'),
    applicationService: role('ApplicationService'),
    backupService: role('BackupService'),
    auditService: role('AuditService'),
    accountAdministrator: ADMIN,
    deployment: DEPLOYER,
    breakGlass: BREAK_GLASS,
  };
}
type Who = keyof ReturnType<typeof principals>;
const EVERYONE: readonly Who[] = ['rotation', 'keyAdministrator', 'applicationService', 'backupService', 'auditService', 'accountAdministrator', 'deployment', 'breakGlass'];

function secretPolicy(template: Template, name: string): unknown[] {
  const secret = logicalIdOf(template, 'AWS::SecretsManager::Secret', { Name: name });
  const [policy] = Object.values(template.findResources('AWS::SecretsManager::ResourcePolicy', { Properties: { SecretId: { Ref: secret } } }));
  return policy.Properties.ResourcePolicy.Statement as unknown[];
}

/** Which principals the policy lets through (does not explicitly deny) for `request`. */
function spared(statements: unknown[], template: Template, request: Omit<PolicyRequest, 'principalArn'>): Who[] {
  const p = principals(template);
  return EVERYONE.filter((who) => deniedBy(statements, { ...request, principalArn: p[who] }).length === 0);
}

describe('the keyset secret resource policy', () => {
  const keyset = () => secretPolicy(configured.template, 'alphapulse/encryption/master_key');
  const allowed = (action: string, keys?: Record<string, string>) => spared(keyset(), configured.template, { action, ...(keys ? { keys } : {}) });

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
    expect(spared(secretPolicy(unconfigured.template, 'alphapulse/encryption/master_key'), unconfigured.template, { action: 'secretsmanager:DeleteSecret' })).toEqual(['deployment']);
  });
});

describe('the rotation-log secret resource policy', () => {
  const log = () => secretPolicy(configured.template, 'alphapulse/encryption/rotation_log');
  const allowed = (action: string, keys?: Record<string, string>) => spared(log(), configured.template, { action, ...(keys ? { keys } : {}) });

  it('lets the key administrator and the audit service read it, and only the rotation function write it', () => {
    expect(allowed('secretsmanager:GetSecretValue', { 'secretsmanager:VersionStage': 'AWSCURRENT' })).toEqual(['rotation', 'keyAdministrator', 'auditService', 'breakGlass']);
    expect(allowed('secretsmanager:PutSecretValue')).toEqual(['rotation', 'breakGlass']);
    expect(allowed('secretsmanager:RotateSecret')).toEqual(['deployment', 'breakGlass']);
    expect(allowed('secretsmanager:DeleteSecret')).toEqual(['deployment', 'breakGlass']);
  });
});

describe('the KMS keys of the keyset and the backups', () => {
  const keyPolicies = (template: Template) =>
    Object.entries(template.findResources('AWS::KMS::Key'))
      .filter(([id]) => /^KeyStorageKey|^BackupKey/.test(id))
      .map(([id, r]) => [id, r.Properties.KeyPolicy.Statement as unknown[]] as const);

  it.each(['kms:DisableKey', 'kms:ScheduleKeyDeletion', 'kms:PutKeyPolicy', 'kms:DisableKeyRotation'])('leave %s to deployments and the break-glass principal', (action) => {
    const found = keyPolicies(configured.template);
    expect(found.map(([id]) => id.replace(/[0-9A-F]{8}$/, ''))).toEqual(['KeyStorageKey', 'BackupKey']);
    for (const [, statements] of found) expect(spared(statements, configured.template, { action })).toEqual(['deployment', 'breakGlass']);
  });

  it('keep every other use and management through IAM as before', () => {
    for (const [, statements] of keyPolicies(configured.template)) {
      for (const action of ['kms:Decrypt', 'kms:GenerateDataKey', 'kms:DescribeKey', 'kms:EnableKeyRotation', 'kms:CancelKeyDeletion', 'kms:TagResource']) expect(spared(statements, configured.template, { action })).toEqual(EVERYONE);
    }
  });
});

describe('trust of the access roles', () => {
  const trust = (s: Synthesized, suffix: string) =>
    Object.values(s.template.findResources('AWS::IAM::Role')).find((r) => String(r.Properties.RoleName ?? '').endsWith(`-${suffix}`))!.Properties.AssumeRolePolicyDocument.Statement as Record<string, unknown>[];

  it('admits only the configured principals, by aws:PrincipalArn, and MFA for the Key Administrator', () => {
    expect(trust(configured, 'KeyAdministrator')).toEqual([
      {
        Sid: 'OnlyTheConfiguredPrincipals',
        Effect: 'Allow',
        Action: 'sts:AssumeRole',
        Principal: { AWS: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::123456789012:root']] } },
        Condition: { ArnLike: { 'aws:PrincipalArn': [KEY_ADMINS] }, Bool: { 'aws:MultiFactorAuthPresent': 'true' } },
      },
    ]);
    const service = trust(configured, 'ApplicationService');
    expect(service).toHaveLength(1);
    expect(service[0]).toMatchObject({ Principal: { AWS: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::210987654321:root']] } }, Condition: { ArnLike: { 'aws:PrincipalArn': [SERVICE] } } });
    expect(service[0].Condition).not.toHaveProperty('Bool');
  });

  it('trusts no one without configured principals, and warns naming the setting; the synth still works', () => {
    for (const role of ['KeyAdministrator', 'ApplicationService', 'BackupService', 'AuditService']) {
      const statements = trust(unconfigured, role);
      expect(statements).toContainEqual({ Sid: 'TrustNotConfigured', Effect: 'Deny', Principal: { AWS: '*' }, Action: 'sts:AssumeRole' });
      expect(deniedBy(statements, { action: 'sts:AssumeRole', principalArn: ADMIN })).toEqual(['TrustNotConfigured']);
    }
    Annotations.fromStack(unconfigured.stack).hasWarning(`/${unconfigured.stack.keys.roles.node.path}`, Match.stringLikeRegexp('KeyAdministrator \\(alphapulse:prod\\.roleTrust\\.keyAdministrator\\)'));
    Annotations.fromStack(configured.stack).hasNoWarning(`/${configured.stack.keys.roles.node.path}`, Match.anyValue());
  });
});
