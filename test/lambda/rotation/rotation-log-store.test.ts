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
    expect((await store.read()).entries).toEqual([]);
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

  it('refuses to overwrite a value that is not a rotation log', async () => {
    sm.createSecret(LOG, 'generated-password-value');
    const store = new SecretsManagerRotationLog(new SecretsManagerSecret(LOG));
    await expect(store.append(entry('a'))).rejects.toThrow(/rotation log is invalid: \(document\) is not valid JSON/);
    expect(sm.versions(LOG)).toHaveLength(1);
  });

  it('skips the append when the veto says so', async () => {
    const store = new SecretsManagerRotationLog(new SecretsManagerSecret(LOG));
    await store.append(entry('a'), () => false);
    expect(sm.versions(LOG)).toHaveLength(0);
  });
});
