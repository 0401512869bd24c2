import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { acknowledge, nagAttRef } from './acknowledge';
import { BackupBucket } from './backup-bucket';
import { KeyStorage } from './key-storage';
import { METRICS_NAMESPACE, RotationFunction } from './rotation-function';

/** Who may assume each role. */
export interface AccessRoleTrust {
  /** @default - the stack's account (its IAM policies then decide who) */
  readonly keyAdministrator?: iam.IPrincipal;
  /** @default - the stack's account */
  readonly applicationService?: iam.IPrincipal;
  /** @default - the stack's account */
  readonly backupService?: iam.IPrincipal;
  /** @default - the stack's account */
  readonly auditService?: iam.IPrincipal;
}

export interface AccessRolesProps {
  readonly storage: KeyStorage;
  readonly rotation: RotationFunction;
  readonly backup: BackupBucket;
  /** Prefix of the role names, e.g. `AlphaPulseKeys-prod`. */
  readonly roleNamePrefix: string;
  /** @default - every role trusts the stack's account */
  readonly trust?: AccessRoleTrust;
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
 * | application service | read the keyset value, emit metrics | write any secret, read the rotation log or backups |
 * | backup service | read the keyset, put backup objects | read, list or delete backups |
 * | audit service | logs, metrics, secret metadata and version list, the rotation log | the keyset value |
 *
 * Beyond the roles' own policies, the keyset secret's resource policy denies reading or writing its value to every
 * principal but the rotation role and the first three roles above (`keysetAccessors`), so a broad policy elsewhere in
 * the account cannot reach it; its own PutResourcePolicy is never denied, so an account administrator can repair it.
 */
export class AccessRoles extends Construct {
  readonly keyAdministrator: iam.Role;
  readonly applicationService: iam.Role;
  readonly backupService: iam.Role;
  readonly auditService: iam.Role;
  /** The only principals the keyset secret's resource policy lets read or write its value. */
  readonly keysetAccessors: readonly iam.Role[];

  constructor(scope: Construct, id: string, props: AccessRolesProps) {
    super(scope, id);
    const trust = props.trust ?? {};
    const role = (name: string, principal: iam.IPrincipal | undefined, description: string) =>
      new iam.Role(this, name, {
        roleName: `${props.roleNamePrefix}-${name}`,
        assumedBy: principal ?? new iam.AccountRootPrincipal(),
        description,
        maxSessionDuration: props.maxSessionDuration ?? Duration.hours(1),
      });
    const { storage, rotation, backup } = props;

    this.keyAdministrator = role('KeyAdministrator', trust.keyAdministrator, 'AlphaPulse keys: rotate (through Secrets Manager), disable versions, recover');
    storage.grantWriteKeyset(this.keyAdministrator);
    storage.grantRotateKeyset(this.keyAdministrator);
    storage.grantReadRotationLog(this.keyAdministrator);
    storage.grantDescribe(this.keyAdministrator);
    rotation.grantInvoke(this.keyAdministrator);
    backup.grantRead(this.keyAdministrator);
    grantPutMetrics(this.keyAdministrator);

    this.applicationService = role('ApplicationService', trust.applicationService, 'AlphaPulse keys: read the keyset to derive data keys');
    storage.grantReadKeyset(this.applicationService);
    grantPutMetrics(this.applicationService);

    this.backupService = role('BackupService', trust.backupService, 'AlphaPulse keys: copy the keyset into the backup bucket (write-only)');
    storage.grantReadKeyset(this.backupService);
    backup.grantWrite(this.backupService);
    this.backupService.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'BackupsAreWriteOnly',
        effect: iam.Effect.DENY,
        actions: ['s3:GetObject*', 's3:ListBucket*', 's3:DeleteObject*', 's3:PutBucket*', 's3:PutLifecycleConfiguration', 's3:PutObjectRetention', 's3:BypassGovernanceRetention'],
        resources: [backup.bucket.bucketArn, backup.bucket.arnForObjects('*')],
      }),
    );

    this.auditService = role('AuditService', trust.auditService, 'AlphaPulse keys: logs, metrics, secret metadata and rotation log; never the keyset value');
    storage.grantDescribe(this.auditService);
    storage.grantListVersions(this.auditService);
    storage.grantReadRotationLog(this.auditService);
    rotation.grantReadLogs(this.auditService);
    this.auditService.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadMetricsAndAlarms',
        actions: ['cloudwatch:GetMetricData', 'cloudwatch:GetMetricStatistics', 'cloudwatch:ListMetrics', 'cloudwatch:DescribeAlarms'],
        // These CloudWatch read actions support no resource-level permissions.
        resources: ['*'],
      }),
    );
    this.auditService.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'NeverTheKeysetValue',
        effect: iam.Effect.DENY,
        actions: ['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue', 'secretsmanager:UpdateSecretVersionStage'],
        resources: [storage.keysetSecret.secretArn],
      }),
    );

    // Separation of duties beyond the roles' own policies: no other principal of the account (an over-broad admin
    // or developer policy, a future role) reads or writes the keyset value, whatever its identity policy says.
    // PutResourcePolicy/DeleteResourcePolicy stay undenied, so an account administrator can never be locked out.
    this.keysetAccessors = [rotation.role, this.keyAdministrator, this.applicationService, this.backupService];
    storage.keysetSecret.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'OnlyTheKeyRolesTouchTheKeysetValue',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: KEYSET_VALUE_ACTIONS,
        resources: ['*'],
        conditions: { ArnNotEquals: { 'aws:PrincipalArn': this.keysetAccessors.map((r) => r.roleArn) } },
      }),
    );

    const backupObjects = `AwsSolutions-IAM5[Resource::${nagAttRef(backup.bucket.node.defaultChild!)}/*]`;
    acknowledge(this.keyAdministrator, [`AwsSolutions-IAM5[Resource::${nagAttRef(rotation.function.node.defaultChild!)}:*]`], 'lambda:InvokeFunction on the rotation function and its versions/aliases only (a manual or emergency rotation).');
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

/** Denied on the keyset secret to every principal but `keysetAccessors`. */
export const KEYSET_VALUE_ACTIONS = ['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue', 'secretsmanager:UpdateSecretVersionStage'];

function grantPutMetrics(grantee: iam.IGrantable): void {
  grantee.grantPrincipal.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['cloudwatch:PutMetricData'],
      resources: ['*'],
      conditions: { StringEquals: { 'cloudwatch:namespace': METRICS_NAMESPACE } },
    }),
  );
}
