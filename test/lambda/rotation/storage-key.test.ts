/**
 * The monitor's look at the KMS storage key, against the stand-in's KMS: its state and rotation status, and
 * each way the look can fail, with a code that says whose problem it is (the key's, the role's, the network's).
 */
import { KMSClient } from '@aws-sdk/client-kms';
import { KmsStorageKey } from '../../../lambda/rotation/storage-key';
import { type AwsStandIn, startAwsStandIn } from '../../support/aws';

let aws: AwsStandIn;
const clients: KMSClient[] = [];
beforeEach(async () => {
  aws = await startAwsStandIn();
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await aws.close();
});

function storageKey(keyId: string, config: Partial<ReturnType<AwsStandIn['clientConfig']>> = {}): KmsStorageKey {
  const client = new KMSClient({ ...aws.clientConfig(), maxAttempts: 1, ...config });
  clients.push(client);
  return new KmsStorageKey(keyId, { client });
}

describe('KmsStorageKey.health', () => {
  it('reports an enabled key with its rotation on as healthy, and a disabled one as not', async () => {
    const { arn } = aws.kms.createKey({ rotationEnabled: true });
    expect(await storageKey(arn).health()).toEqual({ keyId: arn, state: 'Enabled', rotationEnabled: true, healthy: true });
    aws.kms.setState(arn, 'Disabled');
    expect(await storageKey(arn).health()).toMatchObject({ state: 'Disabled', rotationEnabled: null, healthy: false });
  });

  it.each([
    ['access denied', 'access-denied', 'ACCESS_DENIED', /needs kms:DescribeKey and kms:GetKeyRotationStatus/],
    ['throttling', 'throttle', 'THROTTLED', /was throttled \(ThrottlingException\)/],
    ['a KMS internal error', 'server-error', 'KMS_FAILURE', /failed \(KMSInternalException\)$/],
  ] as const)('%s (the %s fault) is %s', async (_name, kind, code, message) => {
    const { arn } = aws.kms.createKey({ rotationEnabled: true });
    aws.faults.add({ service: 'kms', operation: 'DescribeKey', kind });
    await expect(storageKey(arn).health()).rejects.toMatchObject({ code, message: expect.stringMatching(message) });
  });

  it('an unknown key is a KMS_FAILURE', async () => {
    await expect(storageKey('arn:aws:kms:us-east-1:123456789012:key/00000000-0000-4000-8000-000000000000').health()).rejects.toMatchObject({ code: 'KMS_FAILURE', message: expect.stringContaining('(NotFoundException)') });
  });

  // As the SDK throws them in a process of its own (under jest they arrive wrapped; the process-level suite runs them for real).
  it.each([
    ['an unreachable KMS', 'STORE_UNAVAILABLE', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }), /^cannot reach KMS for DescribeKey on the storage key k .*\(ECONNREFUSED\).*AWS_ENDPOINT_URL_KMS/],
    ['a timed-out attempt', 'STORE_UNAVAILABLE', Object.assign(new Error('timed out'), { name: 'TimeoutError' }), /\(TimeoutError\)/],
    ['no region', 'INVALID_INPUT', new Error('Region is missing'), /^no AWS region for KMS DescribeKey on the storage key k; set AWS_REGION$/],
  ])('%s is %s, not a fault of the key', async (_name, code, error, message) => {
    const client = { send: async () => Promise.reject(error) } as unknown as KMSClient;
    await expect(new KmsStorageKey('k', { client }).health()).rejects.toMatchObject({ code, message: expect.stringMatching(message) });
  });
});
