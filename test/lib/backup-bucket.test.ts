/**
 * BackupBucket: the backup bucket under its own key, its bucket policy, and the access-log bucket; in each stage's
 * stack, and alone in a bare stack.
 */
import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { STAGES, type StageName } from '../../lib/config';
import { BackupBucket } from '../../lib/backup-bucket';
import { deniedBy } from './policy-evaluator';
import { allowsOf, arnOf, logicalIdOfConstruct, physicalNames, ref, resourceAt, roleStatements, type Synthesized, synthesizeStages, testApp } from './stack-fixture';

const DEPLOYER = { 'Fn::Sub': 'arn:${AWS::Partition}:iam::${AWS::AccountId}:role/cdk-hnb659fds-cfn-exec-role-${AWS::AccountId}-${AWS::Region}' };

let stages: Record<StageName, Synthesized>;

const app = testApp();
const bare = new Stack(app, 'Bare');
const backup = new BackupBucket(bare, 'Backup');
const writer = new iam.Role(bare, 'Writer', { assumedBy: new iam.AccountRootPrincipal() });
const restorer = new iam.Role(bare, 'Restorer', { assumedBy: new iam.AccountRootPrincipal() });
backup.grantWrite(writer);
backup.grantRead(restorer);

const twice = new Stack(app, 'Twice');
const firstBackup = new BackupBucket(twice, 'First');
const secondBackup = new BackupBucket(twice, 'Second');

const aliased = new Stack(app, 'Aliased');
const aliasedBackup = new BackupBucket(aliased, 'Backup', { keyAlias: 'alias/team/backup', removalPolicy: RemovalPolicy.DESTROY });

const t: Record<string, Template> = {};
beforeAll(() => {
  stages = synthesizeStages();
  for (const stack of [bare, twice, aliased]) t[stack.stackName] = Template.fromStack(stack);
});

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

/** The PutObject denies of a bucket's policy, and whether they deny a request with these headers. */
function putObjectDenies(template: Template, bucket: s3.Bucket) {
  const policy = resourceAt(template, bucket.policy!);
  expect(policy.Properties.Bucket).toEqual(ref(bucket));
  const putDenies = (policy.Properties.PolicyDocument.Statement as Record<string, unknown>[]).filter((s) => s.Effect === 'Deny' && ([] as string[]).concat(s.Action as string[]).some((a) => a === 's3:PutObject' || a === 's3:*'));
  return { putDenies, denied: (headers: Headers) => putDenies.some((s) => denies(s.Condition as Record<string, Record<string, unknown>>, headers)) };
}

describe.each(STAGES)('stage %s', (stage) => {
  const b = () => stages[stage].stack.keys.backup;
  const template = () => stages[stage].template;

  it('encrypts under a separate key, versions, blocks public access, requires TLS and logs access', () => {
    const buckets = template().findResources('AWS::S3::Bucket', { Properties: { LoggingConfiguration: Match.anyValue() } });
    expect(Object.keys(buckets)).toEqual([logicalIdOfConstruct(b().bucket)]);
    const bucket = resourceAt(template(), b().bucket);
    const sse = bucket.Properties.BucketEncryption.ServerSideEncryptionConfiguration[0];
    expect(sse.ServerSideEncryptionByDefault.SSEAlgorithm).toBe('aws:kms');
    expect(sse.ServerSideEncryptionByDefault.KMSMasterKeyID).not.toEqual(arnOf(stages[stage].stack.keys.key));
    expect(sse.ServerSideEncryptionByDefault.KMSMasterKeyID).toEqual(arnOf(b().key));
    expect(bucket.Properties.VersioningConfiguration).toEqual({ Status: 'Enabled' });
    expect(bucket.Properties.PublicAccessBlockConfiguration).toEqual({ BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
    expect(bucket.Properties.LoggingConfiguration).toEqual({ DestinationBucketName: ref(b().accessLogsBucket), LogFilePrefix: 'backup-bucket/' });
    expect(resourceAt(template(), b().bucket.policy!).Properties).toMatchObject({
      Bucket: ref(b().bucket),
      PolicyDocument: { Statement: expect.arrayContaining([expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });

  it('denies a PutObject that asks for any encryption but SSE-KMS under the backup key, and lets a header-less one take the default', () => {
    const backupKey = resourceAt(template(), b().bucket).Properties.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.KMSMasterKeyID;
    const { putDenies, denied } = putObjectDenies(template(), b().bucket);
    expect(putDenies.length).toBeGreaterThanOrEqual(4);
    for (const s of putDenies) expect(s.Principal).toEqual({ AWS: '*' });
    const keyArn = backupKey as unknown as string;
    // The CLI's export sends no encryption header: the bucket default (SSE-KMS, backup key) applies.
    expect(denied({})).toBe(false);
    expect(denied({ 'x-amz-server-side-encryption': 'aws:kms', 'x-amz-server-side-encryption-aws-kms-key-id': keyArn })).toBe(false);
    expect(denied({ 'x-amz-server-side-encryption': 'AES256' })).toBe(true);
    expect(denied({ 'x-amz-server-side-encryption': 'aws:kms:dsse', 'x-amz-server-side-encryption-aws-kms-key-id': keyArn })).toBe(true);
    expect(denied({ 'x-amz-server-side-encryption': 'aws:kms' })).toBe(true);
    expect(denied({ 'x-amz-server-side-encryption': 'aws:kms', 'x-amz-server-side-encryption-aws-kms-key-id': 'arn:aws:kms:us-east-1:111122223333:key/other' })).toBe(true);
    expect(denied({ 'x-amz-server-side-encryption-customer-algorithm': 'AES256' })).toBe(true);
    expect(keyArn).toEqual(arnOf(b().key));
  });

  it('turns on rotation for the backup key', () => {
    expect(resourceAt(template(), b().key).Properties.EnableKeyRotation).toBe(true);
  });
});

describe('alone in a bare stack, with no props', () => {
  it('synthesizes with every name generated and no alias, and keeps the buckets and the key', () => {
    expect(physicalNames(t.Bare)).toEqual([]);
    expect(t.Bare.findResources('AWS::KMS::Alias')).toEqual({});
    for (const c of [backup.bucket, backup.accessLogsBucket, backup.key]) expect(resourceAt(t.Bare, c).DeletionPolicy).toBe('Retain');
  });

  it('delivers access logs through a bucket policy, ACLs disabled on both buckets, without any context from a parent', () => {
    expect(backup.node.tryGetContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy')).toBe(true);
    expect(bare.node.tryGetContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy')).toBeUndefined();
    for (const bucket of [backup.bucket, backup.accessLogsBucket]) {
      const props = resourceAt(t.Bare, bucket).Properties;
      expect(props).not.toHaveProperty('AccessControl');
      expect(props.OwnershipControls).toEqual({ Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] });
    }
    const logsPolicy = resourceAt(t.Bare, backup.accessLogsBucket.policy!).Properties.PolicyDocument.Statement as Record<string, unknown>[];
    expect(logsPolicy).toContainEqual(expect.objectContaining({ Effect: 'Allow', Principal: { Service: 'logging.s3.amazonaws.com' }, Action: 's3:PutObject' }));
    expect(resourceAt(t.Bare, backup.accessLogsBucket).Properties.BucketEncryption.ServerSideEncryptionConfiguration).toEqual([{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }]);
  });

  it('denies the same PutObject encryption headers alone as in the stage stacks', () => {
    const { denied } = putObjectDenies(t.Bare, backup.bucket);
    expect(denied({})).toBe(false);
    expect(denied({ 'x-amz-server-side-encryption': 'aws:kms', 'x-amz-server-side-encryption-aws-kms-key-id': arnOf(backup.key) as unknown as string })).toBe(false);
    expect(denied({ 'x-amz-server-side-encryption': 'AES256' })).toBe(true);
  });

  it("leaves disabling or deleting the backup key to the CDK bootstrap's deployment role", () => {
    const keyPolicy = resourceAt(t.Bare, backup.key).Properties.KeyPolicy.Statement as unknown[];
    expect(deniedBy(keyPolicy, { action: 'kms:ScheduleKeyDeletion', principalArn: DEPLOYER })).toEqual([]);
    expect(deniedBy(keyPolicy, { action: 'kms:ScheduleKeyDeletion', principalArn: arnOf(restorer) })).toEqual(['OnlyDeploymentsAndBreakGlassDisableOrDeleteTheKey']);
  });

  it('grants writers PutObject with GenerateDataKey through S3, and readers Get/List with Decrypt through S3', () => {
    const viaS3 = { StringEquals: { 'kms:ViaService': { 'Fn::Join': ['', ['s3.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } } };
    const objects = { 'Fn::Join': ['', [arnOf(backup.bucket), '/*']] };
    expect(roleStatements(t.Bare, writer)).toEqual([
      { Effect: 'Allow', Action: ['s3:PutObject'], Resource: [objects] },
      { Effect: 'Allow', Action: ['kms:GenerateDataKey'], Resource: [arnOf(backup.key)], Condition: viaS3 },
    ]);
    const read = roleStatements(t.Bare, restorer);
    expect(allowsOf(read, 's3:GetObjectVersion').flatMap((s) => s.Resource)).toEqual([objects]);
    expect(allowsOf(read, 's3:ListBucketVersions').flatMap((s) => s.Resource)).toEqual([arnOf(backup.bucket)]);
    expect(allowsOf(read, 'kms:Decrypt')).toEqual([{ Effect: 'Allow', Action: ['kms:Decrypt'], Resource: [arnOf(backup.key)], Condition: viaS3 }]);
    expect(allowsOf(read, 's3:PutObject')).toEqual([]);
  });
});

describe('twice in one stack', () => {
  it('does not clash: no bucket name is set, and each encrypts with its own key and logs to its own bucket', () => {
    expect(physicalNames(t.Twice)).toEqual([]);
    for (const b of [firstBackup, secondBackup]) {
      const props = resourceAt(t.Twice, b.bucket).Properties;
      expect(props.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.KMSMasterKeyID).toEqual(arnOf(b.key));
      expect(props.LoggingConfiguration.DestinationBucketName).toEqual(ref(b.accessLogsBucket));
    }
  });
});

describe('with a key alias and DESTROY', () => {
  it('aliases the backup key and deletes the buckets and the key with the stack', () => {
    expect(physicalNames(t.Aliased)).toEqual(['AWS::KMS::Alias alias/team/backup']);
    expect(Object.values(t.Aliased.findResources('AWS::KMS::Alias'))[0].Properties.TargetKeyId).toEqual(arnOf(aliasedBackup.key));
    for (const c of [aliasedBackup.bucket, aliasedBackup.accessLogsBucket, aliasedBackup.key]) expect(resourceAt(t.Aliased, c).DeletionPolicy).toBe('Delete');
    // No auto-delete function: emptying the buckets is left to an operator.
    expect(t.Aliased.findResources('Custom::S3AutoDeleteObjects')).toEqual({});
  });
});
