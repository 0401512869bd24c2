import 'aws-sdk-client-mock-jest';
import { CloudWatchClient, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import { randomBytes } from 'node:crypto';
import { createKeyset, serializeKeyset } from '../../../lambda/keys/keyset';
import { FakeSecretsManager } from '../../support/fake-secrets-manager';

const KEYSET = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:alphapulse/encryption/master_key-AbCdEf';
const LOG = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:alphapulse/encryption/rotation_log-AbCdEf';

describe('handler (production wiring from the environment)', () => {
  const saved = { ...process.env };
  let sm: FakeSecretsManager;
  const cloudwatch = mockClient(CloudWatchClient);
  let stdout: jest.SpyInstance;

  beforeEach(() => {
    Object.assign(process.env, { KEYSET_SECRET_ID: KEYSET, ROTATION_LOG_SECRET_ID: LOG, METRICS_NAMESPACE: 'AlphaPulse/Encryption/test', ROTATION_PERIOD_DAYS: '30', STAGE: 'staging', AWS_REGION: 'us-east-1', AWS_LAMBDA_FUNCTION_NAME: 'alphapulse-keys-staging-rotation' });
    sm = new FakeSecretsManager().createSecret(KEYSET, serializeKeyset(createKeyset({ material: randomBytes(32).toString('base64'), now: new Date(Date.now() - 10 * 86_400_000).toISOString() }))).createSecret(LOG);
    cloudwatch.reset();
    cloudwatch.on(PutMetricDataCommand).resolves({});
    stdout = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
  });
  afterEach(() => {
    stdout.mockRestore();
    sm.restore();
    process.env = { ...saved };
  });

  it('reads its configuration from the environment, audits to stdout as JSON lines and flushes metrics to CloudWatch before returning', async () => {
    const { handler } = await import('../../../lambda/rotation/handler');
    const monitor = await handler({ action: 'monitor' });
    expect(monitor).toMatchObject({ action: 'monitor', primary: 1, keyAgeDays: 10, daysUntilRotationDue: 20 });
    expect(cloudwatch).toHaveReceivedCommandWith(PutMetricDataCommand, { Namespace: 'AlphaPulse/Encryption/test' });
    const names = cloudwatch.commandCalls(PutMetricDataCommand).flatMap((c) => (c.args[0].input.MetricData ?? []).map((d) => d.MetricName));
    expect(names).toEqual(expect.arrayContaining(['KeyAgeDays', 'DaysUntilRotationDue', 'EnabledKeyVersions']));

    const rotated = await handler({ action: 'rotate', rotationId: 'manual-2026-11-26' });
    expect(rotated).toMatchObject({ status: 'rotated', fromVersion: 1, toVersion: 2, trigger: 'manual' });
    const lines = stdout.mock.calls.map((c) => String(c[0])).filter((l) => l.startsWith('{'));
    const events = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events.map((e) => e.action)).toEqual(['monitor', 'rotate']);
    expect(events[1]).toMatchObject({ outcome: 'success', actor: 'lambda:alphapulse-keys-staging-rotation', store: 'aws', secret: KEYSET, version: 2 });
    expect(cloudwatch.commandCalls(PutMetricDataCommand).flatMap((c) => (c.args[0].input.MetricData ?? []).map((d) => d.MetricName))).toContain('RotationSucceeded');
  });
});
