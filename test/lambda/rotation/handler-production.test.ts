import 'aws-sdk-client-mock-jest';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DescribeKeyCommand, GetKeyRotationStatusCommand, KMSClient } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { randomBytes } from 'node:crypto';
import { createKeyset, serializeKeyset } from '../../../lambda/keys/keyset';
import { FakeSecretsManager } from '../../support/fake-secrets-manager';

const KEYSET = 'alphapulse/encryption/master_key';
const LOG = 'alphapulse/encryption/rotation_log';
const KEY_ARN = 'arn:aws:kms:us-east-1:123456789012:key/11111111-2222-4333-8444-555555555555';

describe('handler (production wiring from the environment)', () => {
  const saved = { ...process.env };
  let sm: FakeSecretsManager;
  const cloudwatch = mockClient(CloudWatchClient);
  const kms = mockClient(KMSClient);
  let stdout: jest.SpyInstance;

  beforeEach(() => {
    sm = new FakeSecretsManager().createSecret(KEYSET, serializeKeyset(createKeyset({ material: randomBytes(32).toString('base64'), now: new Date(Date.now() - 10 * 86_400_000).toISOString() }))).createSecret(LOG);
    sm.now = new Date();
    Object.assign(process.env, {
      KEYSET_SECRET_ID: sm.model.arnOf(KEYSET),
      ROTATION_LOG_SECRET_ID: sm.model.arnOf(LOG),
      STORAGE_KEY_ID: KEY_ARN,
      METRICS_NAMESPACE: 'AlphaPulse/Encryption/test',
      ROTATION_PERIOD_DAYS: '30',
      STAGE: 'staging',
      AWS_REGION: 'us-east-1',
      AWS_LAMBDA_FUNCTION_NAME: 'alphapulse-keys-staging-rotation',
    });
    cloudwatch.reset();
    kms.reset();
    kms.on(DescribeKeyCommand).resolves({ KeyMetadata: { KeyId: KEY_ARN, KeyState: 'Enabled' } });
    kms.on(GetKeyRotationStatusCommand).resolves({ KeyRotationEnabled: true });
    stdout = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
  });
  afterEach(() => {
    stdout.mockRestore();
    sm.restore();
    process.env = { ...saved };
  });
  /** Every JSON line the function wrote to stdout: audit events and EMF documents. */
  const lines = () => stdout.mock.calls.flatMap((c) => String(c[0]).split('\n')).filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);

  afterAll(() => {
    cloudwatch.restore();
    kms.restore();
  });

  it('reads its configuration from the environment, audits to stdout as JSON lines and writes its metrics there in the embedded metric format before returning', async () => {
    const { handler } = await import('../../../lambda/rotation/handler');
    const monitor = await handler({ action: 'monitor' });
    expect(monitor).toMatchObject({ action: 'monitor', primary: 1, keyAgeDays: 10, daysUntilRotationDue: 20, storageKey: { state: 'Enabled', healthy: true } });
    expect(kms).toHaveReceivedCommandWith(DescribeKeyCommand, { KeyId: KEY_ARN });
    // The metrics are log lines CloudWatch Logs extracts: the function never calls CloudWatch.
    const emf = () => lines().filter((e) => '_aws' in e);
    const names = () => emf().flatMap((e) => (e._aws as { CloudWatchMetrics: { Namespace: string; Metrics: { Name: string }[] }[] }).CloudWatchMetrics.flatMap((d) => d.Metrics.map((m) => m.Name)));
    expect(emf().every((e) => (e._aws as { CloudWatchMetrics: { Namespace: string }[] }).CloudWatchMetrics[0].Namespace === 'AlphaPulse/Encryption/test')).toBe(true);
    expect(names()).toEqual(expect.arrayContaining(['KeyAgeDays', 'DaysUntilRotationDue', 'EnabledKeyVersions', 'StorageKeyHealthy']));
    expect(cloudwatch.calls()).toHaveLength(0);

    sm.configureRotation(KEYSET, (event) => handler(event));
    sm.model.invoke('RotateSecret', { SecretId: KEYSET, ClientRequestToken: '7bf73129-1428-4cd3-a780-95db273d1602' });
    await sm.model.rotationsSettled();
    expect(sm.model.eventNames(KEYSET)).toEqual(['RotationStarted', 'RotationSucceeded']);
    const events = lines().filter((e) => !('_aws' in e));
    expect(events.map((e) => e.action)).toEqual(['monitor', 'rotation_create', 'rotate']);
    expect(events[2]).toMatchObject({ outcome: 'success', actor: 'lambda:alphapulse-keys-staging-rotation', store: 'aws', secret: sm.model.arnOf(KEYSET), version: 2 });
    expect(names()).toContain('RotationSucceeded');
    expect(cloudwatch.calls()).toHaveLength(0);
  });
});
