import { CfnOutput, RemovalPolicy, Stack, StackProps, Tags } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { AlphaPulseKeys } from './alphapulse-keys';
import { StageConfig } from './config';

export interface KeyManagementStackProps extends StackProps {
  /** The stage's resolved settings (see `resolveStageConfig`). */
  readonly config: StageConfig;
}

/** Stack name for a stage: `cdk deploy AlphaPulseKeys-prod`. */
export function stackName(stage: string): string {
  return `AlphaPulseKeys-${stage}`;
}

/**
 * One stage of AlphaPulse key management as this repository deploys it: an `AlphaPulseKeys` with the stage's
 * settings (cdk.json context `alphapulse:<stage>`), the stage's physical names, tags and outputs.
 */
export class KeyManagementStack extends Stack {
  readonly keys: AlphaPulseKeys;

  constructor(scope: Construct, id: string, props: KeyManagementStackProps) {
    super(scope, id, props);
    const c = props.config;
    Tags.of(this).add('Project', 'AlphaPulse');
    Tags.of(this).add('Component', 'key-management');
    Tags.of(this).add('Stage', c.stage);

    // 'Default' adds nothing to the logical ids: the resources keep the ids they had when this stack built them itself,
    // so deployed stacks update in place.
    this.keys = new AlphaPulseKeys(this, 'Default', {
      stage: c.stage,
      rotationPeriodDays: c.rotationPeriodDays,
      warningWindowDays: c.warningWindowDays,
      rotationWindowHours: c.rotationWindowHours,
      removalPolicy: c.removalPolicy === 'retain' ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
      logRetention: c.logRetentionDays as logs.RetentionDays,
      trustedPrincipals: c.roleTrust,
      trustSettingName: `alphapulse:${c.stage}.roleTrust`,
      keyAdministratorMfa: c.keyAdministratorMfa,
      alarmEmails: c.alarmEmails,
      reservedConcurrency: c.reservedConcurrency,
      ...(c.breakGlassPrincipalArn ? { breakGlassPrincipalArn: c.breakGlassPrincipalArn } : {}),
      ...(c.deploymentRoleArn ? { deploymentRoleArn: c.deploymentRoleArn } : {}),
      names: {
        keysetSecret: c.keysetSecretName,
        rotationLogSecret: c.rotationLogSecretName,
        keyAliasPrefix: `alias/alphapulse/keys/${c.stage}`,
        rotationFunction: `alphapulse-keys-${c.stage}-rotation`,
        rotationLogGroup: `/alphapulse/keys/${c.stage}/rotation`,
        deadLetterQueue: `alphapulse-keys-${c.stage}-rotation-dlq`,
        topic: `alphapulse-keys-${c.stage}-oncall`,
        alarmPrefix: stackName(c.stage),
        dashboard: stackName(c.stage),
        rolePrefix: stackName(c.stage),
      },
    });

    const k = this.keys;
    const output = (id: string, value: string, description: string) => new CfnOutput(this, id, { value, description });
    output('KeysetSecretArn', k.keysetSecret.secretArn, 'Keyset secret (key-manager --store aws:<name>)');
    output('KeysetSecretName', c.keysetSecretName, 'Keyset secret name, for key-manager --store aws:<name>');
    output('RotationLogSecretArn', k.rotationLogSecret.secretArn, 'Rotation-log secret');
    output('KeyAdministratorRoleArn', k.roles.keyAdministrator.roleArn, 'Key administrator role');
    output('ApplicationServiceRoleArn', k.roles.applicationService.roleArn, 'Application service role (read the keyset)');
    output('BackupServiceRoleArn', k.roles.backupService.roleArn, 'Backup service role (write-only backups)');
    output('AuditServiceRoleArn', k.roles.auditService.roleArn, 'Audit service role (never the keyset value)');
    output('OnCallTopicArn', k.topic.topicArn, 'On-call SNS topic for the alarms');
    output('RotationFunctionName', k.rotationFunction.functionName, 'Rotation function (Secrets Manager invokes it; aws lambda invoke runs its monitor)');
    output('RotationLogGroupName', k.rotation.logGroup.logGroupName, 'Rotation function log group');
    output('BackupBucketName', k.backup.bucket.bucketName, 'Backup bucket');
  }
}
