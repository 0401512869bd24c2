/**
 * Two years of a stage's schedules, in simulated time: Secrets Manager's native rotation schedule (the
 * model fires a rotation `period` days after the last one, as the RotateSecret API reference says it
 * schedules) and the daily monitor (EventBridge, every day). One scheduler means one rotation per period:
 * the monitor only measures, and asks for a rotation only for a key past its deadline.
 */
import { randomBytes } from 'node:crypto';
import { createKeyset, parseKeyset, serializeKeyset } from '../../../lambda/keys/keyset';
import { systemRandom } from '../../../lambda/keys/random';
import { createHandler } from '../../../lambda/rotation/handler';
import { SecretsManagerRotationLog } from '../../../lambda/rotation/rotation-log-store';
import { SecretsManagerSecret } from '../../../lambda/stores/secrets-manager-secret';
import { SecretsManagerStore } from '../../../lambda/stores/secrets-manager-store';
import { MemoryAuditSink } from '../../../lambda/telemetry/audit';
import { MemoryMetricsSink } from '../../../lambda/telemetry/metrics';
import { FakeSecretsManager } from '../../support/fake-secrets-manager';

const KEYSET = 'alphapulse/encryption/master_key';
const LOG = 'alphapulse/encryption/rotation_log';
const DAY = 86_400_000;
const START = Date.parse('2026-01-01T00:00:00.000Z');

async function simulate(periodDays: number, days: number): Promise<{ rotationDays: number[]; backstops: number }> {
  const sm = new FakeSecretsManager();
  sm.now = new Date(START);
  sm.createSecret(KEYSET, serializeKeyset(createKeyset({ material: randomBytes(32).toString('base64'), now: new Date(START).toISOString() }))).createSecret(LOG);
  try {
    const arn = sm.model.arnOf(KEYSET);
    const store = new SecretsManagerStore({ secretId: arn, region: 'us-east-1' });
    const handle = createHandler({
      config: { keysetSecretId: arn, rotationLogSecretId: LOG, metricsNamespace: 'AlphaPulse/Encryption', rotationPeriodDays: periodDays, warningWindowDays: Math.min(14, periodDays - 1), stage: 'simulation' },
      store,
      rotationLog: new SecretsManagerRotationLog(new SecretsManagerSecret(LOG, { client: store.secret.client })),
      clock: () => sm.now,
      random: systemRandom,
      audit: new MemoryAuditSink(),
      metrics: new MemoryMetricsSink(),
      actor: 'simulation',
    });
    sm.configureRotation(KEYSET, (event) => handle(event), { ScheduleExpression: `rate(${periodDays} days)` });
    const rotationDays: number[] = [];
    let backstops = 0;
    let primary = 1;
    for (let day = 1; day <= days; day++) {
      // The native schedule's window opens in the night; the monitor runs at 06:00 UTC.
      sm.now = new Date(START + day * DAY + 2 * 3_600_000);
      sm.model.runDueRotations();
      await sm.model.rotationsSettled();
      sm.now = new Date(START + day * DAY + 6 * 3_600_000);
      const monitored = (await handle({ source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} })) as { requestedRotation?: string };
      if (monitored.requestedRotation) backstops++;
      await sm.model.rotationsSettled();
      const now = parseKeyset(sm.valueAt(KEYSET, 'AWSCURRENT') as string).primary;
      if (now !== primary) rotationDays.push(day);
      primary = now;
    }
    return { rotationDays, backstops };
  } finally {
    sm.restore();
  }
}

const gaps = (days: number[]) => days.slice(1).map((d, i) => d - days[i]);

describe('two years of the native schedule and the daily monitor', () => {
  it('rotates prod 8 times in 730 days, every 90 days, never twice within 60 days, with no backstop rotation', async () => {
    const { rotationDays, backstops } = await simulate(90, 730);
    expect(rotationDays).toEqual([90, 180, 270, 360, 450, 540, 630, 720]);
    expect(Math.min(...gaps(rotationDays))).toBeGreaterThanOrEqual(60);
    expect(backstops).toBe(0);
  });

  it('rotates staging every 30 days: 24 times in 730 days', async () => {
    const { rotationDays, backstops } = await simulate(30, 730);
    expect(rotationDays).toHaveLength(24);
    expect(new Set(gaps(rotationDays))).toEqual(new Set([30]));
    expect(backstops).toBe(0);
  });
});
