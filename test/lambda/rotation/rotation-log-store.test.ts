import { SecretsManagerRotationLog } from '../../../lambda/rotation/rotation-log-store';
import { parseRotationLog, type RotationLogEntry } from '../../../lambda/rotation/rotation-log';
import { SecretsManagerSecret } from '../../../lambda/stores/secrets-manager-secret';
import { FakeSecretsManager } from '../../support/fake-secrets-manager';

const LOG = 'rotation-log';
const entry = (id: string): RotationLogEntry => ({ rotationId: id, fromVersion: 1, toVersion: 2, startedAt: '2026-04-01T00:00:00.000Z', finishedAt: '2026-04-01T00:00:00.000Z', outcome: 'success', trigger: 'manual' });

let sm: FakeSecretsManager;
beforeEach(() => {
  sm = new FakeSecretsManager().createSecret(LOG);
});
afterEach(() => sm.restore());

describe('SecretsManagerRotationLog', () => {
  it('reads an empty secret as an empty log and appends to it', async () => {
    const store = new SecretsManagerRotationLog(new SecretsManagerSecret(LOG));
    expect((await store.read()).log.entries).toEqual([]);
    await store.append(entry('a'));
    await store.append(entry('b'));
    expect(parseRotationLog(sm.valueAt(LOG, 'AWSCURRENT')).entries.map((e) => e.rotationId)).toEqual(['a', 'b']);
  });

  it('loses no entry when two appends race', async () => {
    await new SecretsManagerRotationLog(new SecretsManagerSecret(LOG)).append(entry('first'));
    const a = new SecretsManagerRotationLog(new SecretsManagerSecret(LOG));
    const b = new SecretsManagerRotationLog(new SecretsManagerSecret(LOG));
    await Promise.all([a.append(entry('a')), b.append(entry('b'))]);
    expect(parseRotationLog(sm.valueAt(LOG, 'AWSCURRENT')).entries.map((e) => e.rotationId).sort()).toEqual(['a', 'b', 'first']);
    // The race really happened: one stage move was refused and that append re-read and retried.
    expect(sm.calls.some((c) => c.command === 'UpdateSecretVersionStage' && c.outcome === 'InvalidParameterException')).toBe(true);
  });

  it('sets a value that is not a rotation log aside (it stays, as AWSPREVIOUS) and starts a fresh log, saying where the old one is', async () => {
    sm.createSecret(LOG, 'generated-password-value');
    const malformed = sm.versionAt(LOG, 'AWSCURRENT')!.id;
    const store = new SecretsManagerRotationLog(new SecretsManagerSecret(LOG));
    expect(await store.read()).toEqual({ log: { schema: 1, entries: [] }, setAside: `version ${malformed}` });
    const appended = await store.append(entry('a'));
    expect(appended.setAside).toBe(`version ${malformed}`);
    expect(parseRotationLog(sm.valueAt(LOG, 'AWSCURRENT')).entries.map((e) => e.rotationId)).toEqual(['a']);
    expect(sm.versionAt(LOG, 'AWSPREVIOUS')).toMatchObject({ id: malformed, value: 'generated-password-value' });
  });

  it('sets aside a log with a forged, malformed entry instead of failing on it', async () => {
    sm.createSecret(LOG, JSON.stringify({ schema: 1, entries: [{ rotationId: 'x', outcome: 'success' }] }));
    const appended = await new SecretsManagerRotationLog(new SecretsManagerSecret(LOG)).append(entry('a'));
    expect(appended.log.entries.map((e) => e.rotationId)).toEqual(['a']);
    expect(appended.setAside).toMatch(/^version /);
  });
});
