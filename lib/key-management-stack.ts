import { CfnOutput, CfnResource, DefaultStackSynthesizer, Duration, Fn, RemovalPolicy, Stack, StackProps, Tags } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { AccessRoles } from './access-roles';
import { BackupBucket } from './backup-bucket';
import { StageConfig } from './config';
import { denyKeyTakedown } from './key-protection';
import { KeyStorage } from './key-storage';
import { KeysetInitializer } from './keyset-initializer';
import { KeyMonitoring } from './monitoring';
import { RotationFunction } from './rotation-function';

export interface KeyManagementStackProps extends StackProps {
  /** The stage's resolved settings (see `resolveStageConfig`). */
  readonly config: StageConfig;
  /**
   * Rotation handler source, relative to the repository root.
   * @default ROTATION_HANDLER_ENTRY (`lambda/rotation/handler.ts`)
   */
  readonly rotationHandlerEntry?: string;
}

/** Stack name for a stage: `cdk deploy AlphaPulseKeys-prod`. */
export function stackName(stage: string): string {
  return `AlphaPulseKeys-${stage}`;
}

/**
 * One stage of AlphaPulse key management: key storage, the rotation function and its schedules, deploy-time init,
 * the backup bucket, the four access roles, and monitoring.
 */
export class KeyManagementStack extends Stack {
  readonly storage: KeyStorage;
  readonly rotation: RotationFunction;
  readonly initializer: KeysetInitializer;
  readonly backup: BackupBucket;
  readonly roles: AccessRoles;
  readonly monitoring: KeyMonitoring;
  /** Encrypts operational data that holds no key material: logs, the DLQ, the on-call topic. */
  readonly operationsKey: kms.Key;

  constructor(scope: Construct, id: string, props: KeyManagementStackProps) {
    super(scope, id, props);
    // Access-log delivery through a bucket policy instead of the legacy LogDeliveryWrite ACL, so both buckets can
    // disable ACLs (BucketOwnerEnforced). Set here, not only in cdk.json, so tests build the same template.
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);
    const c = props.config;
    const removalPolicy = c.removalPolicy === 'retain' ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    const logRetention = c.logRetentionDays as logs.RetentionDays;
    const deployment = c.deploymentRoleArn ?? cloudFormationExecutionRoleArn(this);
    Tags.of(this).add('Project', 'AlphaPulse');
    Tags.of(this).add('Component', 'key-management');
    Tags.of(this).add('Stage', c.stage);

    this.operationsKey = new kms.Key(this, 'OperationsKey', {
      description: `AlphaPulse keys (${c.stage}): logs, dead-letter queue and on-call topic`,
      enableKeyRotation: true,
      alias: `alias/alphapulse/keys/${c.stage}/operations`,
      removalPolicy,
      pendingWindow: Duration.days(30),
    });

    this.storage = new KeyStorage(this, 'KeyStorage', {
      keysetSecretName: c.keysetSecretName,
      rotationLogSecretName: c.rotationLogSecretName,
      keyAlias: `alias/alphapulse/keys/${c.stage}/keyset`,
      removalPolicy,
    });

    this.rotation = new RotationFunction(this, 'Rotation', {
      storage: this.storage,
      stage: c.stage,
      operationsKey: this.operationsKey,
      rotationPeriodDays: c.rotationPeriodDays,
      warningWindowDays: c.warningWindowDays,
      rotationWindowHours: c.rotationWindowHours,
      reservedConcurrency: c.reservedConcurrency,
      logRetention,
      removalPolicy,
      entry: props.rotationHandlerEntry,
    });

    this.initializer = new KeysetInitializer(this, 'KeysetInit', {
      handler: this.rotation.function,
      storage: this.storage,
      operationsKey: this.operationsKey,
      logRetention,
      removalPolicy,
    });

    this.backup = new BackupBucket(this, 'Backup', { keyAlias: `alias/alphapulse/keys/${c.stage}/backup`, removalPolicy });

    this.roles = new AccessRoles(this, 'Roles', {
      storage: this.storage,
      rotation: this.rotation,
      backup: this.backup,
      roleNamePrefix: stackName(c.stage),
      trust: c.roleTrust,
      settingName: `alphapulse:${c.stage}.roleTrust`,
      keyAdministratorMfa: c.keyAdministratorMfa,
      deploymentPrincipals: [deployment],
      ...(c.breakGlassPrincipalArn ? { breakGlassPrincipalArn: c.breakGlassPrincipalArn } : {}),
    });


    const spared = { administrators: [deployment], ...(c.breakGlassPrincipalArn ? { breakGlass: c.breakGlassPrincipalArn } : {}) };
    denyKeyTakedown(this.storage.key, spared);
    denyKeyTakedown(this.backup.key, spared);

    this.monitoring = new KeyMonitoring(this, 'Monitoring', {
      stage: c.stage,
      rotation: this.rotation,
      storage: this.storage,
      keysetSecretName: c.keysetSecretName,
      operationsKey: this.operationsKey,
      rotationPeriodDays: c.rotationPeriodDays,
      warningWindowDays: c.warningWindowDays,
      alarmEmails: c.alarmEmails,
    });

    // `init` emits the first KeyAgeDays: create MonitorSilent (missing data breaches) only after it ran, so a fresh
    // stack does not start by paging. Rotation is configured only once the secret holds a keyset to rotate.
    this.monitoring.alarms.MonitorSilent.node.addDependency(this.initializer.resource);
    this.rotation.schedule.addResourceDependency(this.initializer.resource.node.defaultChild as CfnResource);

    const output = (id: string, value: string, description: string) => new CfnOutput(this, id, { value, description });
    output('KeysetSecretArn', this.storage.keysetSecret.secretArn, 'Keyset secret (key-manager --store aws:<name>)');
    output('KeysetSecretName', c.keysetSecretName, 'Keyset secret name, for key-manager --store aws:<name>');
    output('RotationLogSecretArn', this.storage.rotationLogSecret.secretArn, 'Rotation-log secret');
    output('KeyAdministratorRoleArn', this.roles.keyAdministrator.roleArn, 'Key administrator role');
    output('ApplicationServiceRoleArn', this.roles.applicationService.roleArn, 'Application service role (read the keyset)');
    output('BackupServiceRoleArn', this.roles.backupService.roleArn, 'Backup service role (write-only backups)');
    output('AuditServiceRoleArn', this.roles.auditService.roleArn, 'Audit service role (never the keyset value)');
    output('OnCallTopicArn', this.monitoring.topic.topicArn, 'On-call SNS topic for the alarms');
    output('RotationFunctionName', this.rotation.function.functionName, 'Rotation function (Secrets Manager invokes it; aws lambda invoke runs its monitor)');
    output('RotationLogGroupName', this.rotation.logGroup.logGroupName, 'Rotation function log group');
    output('BackupBucketName', this.backup.bucket.bucketName, 'Backup bucket');
  }
}

/**
 * The role CloudFormation deploys the stack with: the CDK bootstrap's execution role (`cdk bootstrap`, default
 * qualifier unless the synthesizer names another). It alone, beside the break-glass principal, may manage the
 * secrets and keys, since deployments configure rotation, tags and policies.
 */
function cloudFormationExecutionRoleArn(stack: Stack): string {
  const synthesizer = stack.synthesizer;
  const qualifier = (synthesizer instanceof DefaultStackSynthesizer ? synthesizer.bootstrapQualifier : undefined) ?? DefaultStackSynthesizer.DEFAULT_QUALIFIER;
  return Fn.sub(DefaultStackSynthesizer.DEFAULT_CLOUDFORMATION_ROLE_ARN.replace('${Qualifier}', qualifier));
}
