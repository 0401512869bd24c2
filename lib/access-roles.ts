import { Annotations, Duration, Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { acknowledge, nagAttRef } from './acknowledge';
import { BackupBucket } from './backup-bucket';
import { KeyStorage } from './key-storage';
import { duties } from './grants';
import { RotationFunction } from './rotation-function';

/**
 * Who may assume each role: IAM role or user ARNs, `*` allowed within a name (IAM Identity Center's
 * `AWSReservedSSO_<set>_*`). The trust policy names their accounts and admits only these ARNs
 * (`aws:PrincipalArn`); a role with none trusts no one.
 */
export interface AccessRoleTrust {
  /** @default - no one */
  readonly keyAdministrator?: readonly string[];
  /** @default - no one */
  readonly applicationService?: readonly string[];
  /** @default - no one */
  readonly backupService?: readonly string[];
  /** @default - no one */
  readonly auditService?: readonly string[];
}

export interface AccessRolesProps {
  /** The keyset and rotation-log secrets the roles are granted on (and named in the resource policies of). */
  readonly storage: KeyStorage;
  /** The rotation function the key administrator may invoke (RotateSecret needs it) and the auditor reads the logs of. */
  readonly rotation: RotationFunction;
  /** The bucket the backup service writes to and the key administrator reads from. */
  readonly backup: BackupBucket;
  /**
   * Prefix of the role names, e.g. `AlphaPulseKeys-prod` (`AlphaPulseKeys-prod-KeyAdministrator`).
   * @default - names CloudFormation generates
   */
  readonly roleNamePrefix?: string;
  /** @default - every role trusts no one (synth warns, naming `settingName`) */
  readonly trust?: AccessRoleTrust;
  /**
   * Where an operator sets the trust, for the warning when none is set.
   * @default 'roleTrust'
   */
  readonly settingName?: string;
  /**
   * Require MFA (`aws:MultiFactorAuthPresent`) to assume the Key Administrator role.
   * @default true
   */
  readonly keyAdministratorMfa?: boolean;
  /**
   * Longest session of each role. Short, because these roles reach key material.
   * @default Duration.hours(1)
   */
  readonly maxSessionDuration?: Duration;
}

/**
 * The four roles of the design's separation of duties, each granted through the resource constructs' grant
 * methods, plus explicit denies where a later, broader policy must not widen a role:
 *
 * | role | may | may not |
 * | --- | --- | --- |
 * | key administrator | read/write the keyset (disable, recover), ask Secrets Manager to rotate it (RotateSecret, which needs invoke on the rotation function), read backups | delete secrets or keys |
 * | application service | read the current keyset value, emit metrics | an older version, write any secret, read the rotation log or backups |
 * | backup service | read the current keyset, put backup objects | read, list or delete backups |
 * | audit service | logs, metrics, secret metadata and version list, the rotation log | the keyset value |
 *
 * Beyond the roles' own policies, each grant names its role in the secret's resource policy (KeyStorage), whose
 * explicit denies keep every other principal of the account out, whatever its identity policy says. Each role
 * trusts only the principals configured for it.
 */
export class AccessRoles extends Construct {
  readonly keyAdministrator: iam.Role;
  readonly applicationService: iam.Role;
  readonly backupService: iam.Role;
  readonly auditService: iam.Role;

  constructor(scope: Construct, id: string, props: AccessRolesProps) {
    super(scope, id);
    const trust = props.trust ?? {};
    const untrusted: string[] = [];
    const role = (name: string, field: keyof AccessRoleTrust, description: string, mfa = false) => {
      const created = new iam.Role(this, name, {
        ...(props.roleNamePrefix ? { roleName: `${props.roleNamePrefix}-${name}` } : {}),
        assumedBy: new iam.AccountRootPrincipal(),
        description,
        maxSessionDuration: props.maxSessionDuration ?? Duration.hours(1),
      });
      if (!conditionTrust(created, trust[field] ?? [], mfa)) untrusted.push(`${name} (${props.settingName ?? 'roleTrust'}.${field})`);
      return created;
    };
    this.keyAdministrator = role('KeyAdministrator', 'keyAdministrator', 'AlphaPulse keys: rotate (through Secrets Manager), disable versions, recover', props.keyAdministratorMfa ?? true);
    duties.keyAdministration(this.keyAdministrator, props);
    this.applicationService = role('ApplicationService', 'applicationService', 'AlphaPulse keys: read the current keyset to derive data keys');
    duties.keysetRead(this.applicationService, props);
    this.backupService = role('BackupService', 'backupService', 'AlphaPulse keys: copy the current keyset into the backup bucket (write-only)');
    duties.backup(this.backupService, props);
    this.auditService = role('AuditService', 'auditService', 'AlphaPulse keys: logs, metrics, secret metadata and rotation log; never the keyset value');
    duties.audit(this.auditService, props);

    if (untrusted.length > 0) {
      Annotations.of(this).addWarningV2(
        'alphapulse:trust-not-configured',
        `these roles trust no one until their principals are set: ${untrusted.join(', ')} — add the IAM role ARNs that may assume each (cdk.json context, or -c; docs/cdk.md)`,
      );
    }

    const backupObjects = `AwsSolutions-IAM5[Resource::${nagAttRef(props.backup.bucket.node.defaultChild!)}/*]`;
    acknowledge(this.keyAdministrator, [`AwsSolutions-IAM5[Resource::${nagAttRef(props.rotation.function.node.defaultChild!)}:*]`], 'lambda:InvokeFunction on the rotation function and its versions/aliases only (a manual or emergency rotation).');
    acknowledge(this.keyAdministrator, [backupObjects], 'Recovery reads any backup object (any version) in the one backup bucket.');
    acknowledge(this.backupService, [backupObjects], 'Backups are written under generated keys in the one backup bucket; s3:PutObject only, with read, list and delete explicitly denied.');
    for (const r of [this.keyAdministrator, this.applicationService]) {
      acknowledge(r, ['AwsSolutions-IAM5[Resource::*]'], 'cloudwatch:PutMetricData supports no resource-level permissions; the statement is conditioned on cloudwatch:namespace = AlphaPulse/Encryption.');
    }
    acknowledge(this.auditService, ['AwsSolutions-IAM5[Resource::*]'], 'CloudWatch GetMetricData, GetMetricStatistics, ListMetrics and DescribeAlarms support no resource-level permissions; they are read-only and expose no key material.');
    for (const r of [this.keyAdministrator, this.applicationService, this.backupService, this.auditService]) {
      acknowledge(
        r,
        ['PCI.DSS.321-IAMNoInlinePolicy', 'NIST.800.53.R5-IAMNoInlinePolicy'],
        "Each role's policy names this stage's own secrets, keys, bucket and function and is created and deleted with the role; a managed policy would only add an object that must never be attached to anything else.",
      );
    }
  }
}

/**
 * Makes `role` assumable by `principals` only: their accounts in the trust policy, their ARNs as `aws:PrincipalArn`
 * (ArnLike, so a `*` within a name works), MFA when asked. With no principals the role trusts no one (an explicit deny
 * beside the account principal CDK requires). Returns whether principals were configured.
 */
function conditionTrust(role: iam.Role, principals: readonly string[], mfa: boolean): boolean {
  if (principals.length === 0) {
    (role.assumeRolePolicy as iam.PolicyDocument).addStatements(
      new iam.PolicyStatement({ sid: 'TrustNotConfigured', effect: iam.Effect.DENY, principals: [new iam.AnyPrincipal()], actions: ['sts:AssumeRole'] }),
    );
    return false;
  }
  // arn:<partition>:iam::<account>:role/<name>; a token (another construct's role) is in this stack's account.
  const accounts = [...new Set(principals.map((arn) => (Token.isUnresolved(arn) ? Stack.of(role).account : arn.split(':')[4])))];
  // Replaces the unconditioned account statement CDK writes for `assumedBy`.
  (role.node.defaultChild as iam.CfnRole).assumeRolePolicyDocument = new iam.PolicyDocument({
    statements: [
      new iam.PolicyStatement({
        sid: 'OnlyTheConfiguredPrincipals',
        actions: ['sts:AssumeRole'],
        principals: accounts.map((a) => new iam.AccountPrincipal(a)),
        conditions: { ArnLike: { 'aws:PrincipalArn': [...principals] }, ...(mfa ? { Bool: { 'aws:MultiFactorAuthPresent': 'true' } } : {}) },
      }),
    ],
  });
  return true;
}

