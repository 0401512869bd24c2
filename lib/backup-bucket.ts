import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledge } from './acknowledge';
import { deploymentRoleArn } from './deployment';
import { denyKeyTakedown } from './key-protection';

export interface BackupBucketProps {
  /**
   * Alias of the backup key, e.g. `alias/alphapulse/keys/prod/backup`.
   * @default - no alias
   */
  readonly keyAlias?: string;
  /**
   * What happens to the buckets and the backup key when they leave the stack. With `DESTROY` the buckets must be
   * emptied first (no auto-delete Lambda: a function that can delete every backup is the wrong thing to deploy).
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Principals that deploy the stack: they alone (with `breakGlassPrincipalArn`) may disable or delete the backup key.
   * @default - the CDK bootstrap's CloudFormation execution role of the stack's synthesizer
   */
  readonly deploymentPrincipalArns?: readonly string[];
  /**
   * A principal spared by the backup key's deny, for an emergency (RUNBOOK.md, Break glass).
   * @default - none
   */
  readonly breakGlassPrincipalArn?: string;
}

/**
 * Where keyset backups go: SSE-KMS under a key separate from the keyset's (a backup must survive the loss or
 * compromise of the primary key's grants), enforced by the bucket policy (no other encryption header is accepted), versioned so a write never destroys an earlier backup, no public
 * access, TLS only, and server access logs in a second bucket.
 */
export class BackupBucket extends Construct {
  readonly bucket: s3.Bucket;
  readonly key: kms.Key;
  readonly accessLogsBucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: BackupBucketProps = {}) {
    super(scope, id);
    // Access-log delivery through a bucket policy instead of the legacy LogDeliveryWrite ACL, so both buckets can
    // disable ACLs (BucketOwnerEnforced). Set on this construct, so it holds wherever the construct is used.
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;

    this.key = new kms.Key(this, 'Key', {
      description: 'AlphaPulse keyset backups',
      enableKeyRotation: true,
      ...(props.keyAlias ? { alias: props.keyAlias } : {}),
      removalPolicy,
      pendingWindow: Duration.days(30),
    });
    denyKeyTakedown(this.key, {
      administrators: props.deploymentPrincipalArns ?? [deploymentRoleArn(Stack.of(this))],
      ...(props.breakGlassPrincipalArn ? { breakGlass: props.breakGlassPrincipalArn } : {}),
    });

    // Server access log delivery supports only SSE-S3 on the target bucket.
    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy,
    });

    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.key,
      bucketKeyEnabled: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'backup-bucket/',
      removalPolicy,
    });

    this.denyOtherEncryption();

    acknowledge(
      this.accessLogsBucket,
      ['PCI.DSS.321-S3DefaultEncryptionKMS', 'NIST.800.53.R5-S3DefaultEncryptionKMS'],
      'S3 server access log delivery supports only SSE-S3 on the target bucket; the logs hold request metadata, never backup contents.',
    );
    acknowledge(
      this.accessLogsBucket,
      ['AwsSolutions-S1'],
      'This is the access-log bucket itself; logging it to another bucket would recurse.',
    );
    for (const bucket of [this.bucket, this.accessLogsBucket]) {
      acknowledge(
        bucket,
        ['PCI.DSS.321-S3BucketReplicationEnabled', 'NIST.800.53.R5-S3BucketReplicationEnabled'],
        'The backup bucket is already the second copy of the keyset (the first is the Secrets Manager secret); cross-region replication needs a destination bucket and key in another region, which this single-region stack does not own (RUNBOOK.md, Backups).',
      );
    }
  }

  /** Put new backup objects (and new versions): no read, no list, no delete. */
  grantWrite(grantee: iam.IGrantable): iam.Grant {
    const grant = iam.Grant.addToPrincipal({ grantee, actions: ['s3:PutObject'], resourceArns: [this.bucket.arnForObjects('*')] });
    grant.combine(this.grantKey(grantee, ['kms:GenerateDataKey']));
    return grant;
  }

  /** Read and list backups, all versions (recovery). */
  grantRead(grantee: iam.IGrantable): iam.Grant {
    const grant = iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:GetObject', 's3:GetObjectVersion'],
      resourceArns: [this.bucket.arnForObjects('*')],
    });
    grant.combine(iam.Grant.addToPrincipal({ grantee, actions: ['s3:ListBucket', 's3:ListBucketVersions'], resourceArns: [this.bucket.bucketArn] }));
    grant.combine(this.grantKey(grantee, ['kms:Decrypt']));
    return grant;
  }

  /**
   * Default encryption applies only when a PutObject sends no encryption header, so a writer could otherwise store a
   * backup under SSE-S3, SSE-C, or SSE-KMS with another key. The condition keys are the request's own headers,
   * evaluated before the bucket default fills anything in, and IAM evaluates both `StringNotEquals` and
   * `StringNotEqualsIfExists` to *true* when the key is absent: either alone would deny the header-less upload (the
   * CLI's `export`). Each comparison is therefore paired with `Null: false` (the header is present) in the same
   * statement: a request without the header passes and gets the bucket default (this key), a wrong header is denied.
   */
  private denyOtherEncryption(): void {
    const objects = this.bucket.arnForObjects('*');
    const deny = (sid: string, conditions: Record<string, Record<string, unknown>>) =>
      this.bucket.addToResourcePolicy(
        new iam.PolicyStatement({ sid, effect: iam.Effect.DENY, principals: [new iam.AnyPrincipal()], actions: ['s3:PutObject'], resources: [objects], conditions }),
      );
    const algorithm = 's3:x-amz-server-side-encryption';
    const keyId = 's3:x-amz-server-side-encryption-aws-kms-key-id';
    // An algorithm header other than aws:kms (AES256, aws:kms:dsse, ...).
    deny('DenyEncryptionOtherThanSseKms', { StringNotEquals: { [algorithm]: 'aws:kms' }, Null: { [algorithm]: 'false' } });
    // A key-id header naming any key but the backup key (compared as the full key ARN, the form writers must send).
    deny('DenyKmsKeyOtherThanBackupKey', { StringNotEquals: { [keyId]: this.key.keyArn }, Null: { [keyId]: 'false' } });
    // An algorithm header without a key id: S3 may then use the AWS-managed aws/s3 key rather than the bucket default.
    deny('DenySseKmsWithoutBackupKeyId', { Null: { [algorithm]: 'false', [keyId]: 'true' } });
    // Customer-provided keys (SSE-C): S3 would not encrypt under the backup key at all.
    deny('DenyCustomerProvidedKeys', { Null: { 's3:x-amz-server-side-encryption-customer-algorithm': 'false' } });
  }

  private grantKey(grantee: iam.IGrantable, actions: string[]): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions,
      resourceArns: [this.key.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `s3.${Stack.of(this).region}.amazonaws.com` } },
    });
  }
}
