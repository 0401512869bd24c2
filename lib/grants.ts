import * as iam from 'aws-cdk-lib/aws-iam';
import { METRICS_NAMESPACE } from '../lambda/contract';
import { BackupBucket } from './backup-bucket';
import { KeyStorage } from './key-storage';
import { RotationFunction } from './rotation-function';

/** The resources a duty is granted on. */
export interface KeyResources {
  readonly storage: KeyStorage;
  readonly rotation: RotationFunction;
  readonly backup: BackupBucket;
}

/**
 * The four duties of the design's separation of duties, as grants any principal (a role of AccessRoles, or a team's
 * own role through AlphaPulseKeys) can be given. Each goes through the resource constructs' grant methods, which
 * also name the grantee in the secrets' resource policies.
 */
export const duties = {
  /** Read any keyset version and write the keyset, ask Secrets Manager to rotate, run the monitor, read the rotation log and backups. */
  keyAdministration(grantee: iam.IGrantable, on: KeyResources): iam.Grant {
    return combine(
      on.storage.grantWriteKeyset(grantee),
      on.storage.grantRotateKeyset(grantee),
      on.storage.grantReadRotationLog(grantee),
      on.storage.grantDescribe(grantee),
      on.rotation.grantInvoke(grantee),
      on.backup.grantRead(grantee),
      grantPutMetrics(grantee),
    );
  },

  /** Read the current keyset to derive data keys, and send the key manager's metrics. */
  keysetRead(grantee: iam.IGrantable, on: Pick<KeyResources, 'storage'>): iam.Grant {
    return combine(on.storage.grantReadKeyset(grantee), grantPutMetrics(grantee));
  },

  /** Read the current keyset and put backups: no read, list or delete of the backups. */
  backup(grantee: iam.IGrantable, on: Pick<KeyResources, 'storage' | 'backup'>): iam.Grant {
    const grant = combine(on.storage.grantReadKeyset(grantee), on.backup.grantWrite(grantee));
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'BackupsAreWriteOnly',
        effect: iam.Effect.DENY,
        actions: ['s3:GetObject*', 's3:ListBucket*', 's3:DeleteObject*', 's3:PutBucket*', 's3:PutLifecycleConfiguration', 's3:PutObjectRetention', 's3:BypassGovernanceRetention'],
        resources: [on.backup.bucket.bucketArn, on.backup.bucket.arnForObjects('*')],
      }),
    );
    return grant;
  },

  /** Logs, metrics, secret metadata and version lists, the rotation log; never the keyset value (denied explicitly). */
  audit(grantee: iam.IGrantable, on: Pick<KeyResources, 'storage' | 'rotation'>): iam.Grant {
    const grant = combine(on.storage.grantDescribe(grantee), on.storage.grantListVersions(grantee), on.storage.grantReadRotationLog(grantee), on.rotation.grantReadLogs(grantee));
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadMetricsAndAlarms',
        actions: ['cloudwatch:GetMetricData', 'cloudwatch:GetMetricStatistics', 'cloudwatch:ListMetrics', 'cloudwatch:DescribeAlarms'],
        // These CloudWatch read actions support no resource-level permissions.
        resources: ['*'],
      }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'NeverTheKeysetValue',
        effect: iam.Effect.DENY,
        actions: ['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue', 'secretsmanager:UpdateSecretVersionStage'],
        resources: [on.storage.keysetSecret.secretArn],
      }),
    );
    return grant;
  },
};

/** PutMetricData has no resource-level permissions; the namespace condition is the boundary. */
function grantPutMetrics(grantee: iam.IGrantable): iam.Grant {
  return iam.Grant.addToPrincipal({ grantee, actions: ['cloudwatch:PutMetricData'], resourceArns: ['*'], conditions: { StringEquals: { 'cloudwatch:namespace': METRICS_NAMESPACE } } });
}

function combine(first: iam.Grant, ...rest: iam.Grant[]): iam.Grant {
  return rest.reduce((all, grant) => all.combine(grant), first);
}
