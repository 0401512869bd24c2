/**
 * destroy-version on the Secrets Manager store, against the stand-in's model of version retention (more than 100
 * versions, oldest unlabelled first, never one under 24 hours old): what still holds the material is said, not
 * hidden, and purgeHistory removes it.
 */
import { randomBytes } from 'node:crypto';
import { createKeyset, destroyVersion, disableVersion, type Keyset, parseKeyset, rotateKeyset, serializeKeyset } from '../../../lambda/keys/keyset';
import { SecretsManagerStore } from '../../../lambda/stores/secrets-manager-store';
import { FakeSecretsManager } from '../../support/fake-secrets-manager';

const SECRET = 'alphapulse/encryption/master_key';
const HOUR = 3_600_000;
const m = () => randomBytes(32).toString('base64');

let sm: FakeSecretsManager;
let store: SecretsManagerStore;
beforeEach(() => {
  sm = new FakeSecretsManager();
  sm.now = new Date('2026-03-01T00:00:00.000Z');
  sm.createSecret(SECRET, serializeKeyset(createKeyset({ material: m(), now: '2026-01-01T00:00:00.000Z' })));
  store = new SecretsManagerStore({ secretId: SECRET, region: 'us-east-1', clock: () => sm.now });
});
afterEach(() => sm.restore());

async function change(f: (k: Keyset) => Keyset) {
  const snap = await store.read();
  return store.write(f(snap.keyset), snap.handle);
}

/** Versions (by id) whose value still holds version 1's material. */
function holdingV1(): string[] {
  return sm.model
    .versions(SECRET)
    .filter((v) => v.secretString !== undefined && parseKeyset(v.secretString).versions.some((x) => x.version === 1 && x.material !== undefined))
    .map((v) => v.versionId);
}

async function rotatedThenDestroyed() {
  const now = sm.now.toISOString();
  await change((k) => rotateKeyset(k, { material: m(), now }));
  await change((k) => disableVersion(k, 1, { now, reason: 'INC-3' }));
  return change((k) => destroyVersion(k, 1, { now }));
}

describe('destroying a version on the Secrets Manager store', () => {
  it("says how many older versions still hold the material, who can read them, when they go, and what to run", async () => {
    const destroyed = await rotatedThenDestroyed();
    expect(holdingV1()).toHaveLength(3);
    expect(destroyed.warnings).toEqual([expect.stringMatching(/^3 older version\(s\) of secret alphapulse\/encryption\/master_key still hold the destroyed material/)]);
    const [warning] = destroyed.warnings as string[];
    expect(warning).toContain('only the Key Administrator and rotation roles can read them');
    expect(warning).toContain('more than 100 versions');
    expect(warning).toMatch(new RegExp(`to finish, purge the secret's history after ${new Date(sm.now.getTime() + 24 * HOUR).toISOString().replace(/\./g, '\\.')}$`));
  });

  it('moves AWSPREVIOUS off the version it replaced, so no label keeps an older keyset', async () => {
    const destroyed = await rotatedThenDestroyed();
    expect(sm.labels(SECRET)).toEqual({ [destroyed.handle]: ['AWSCURRENT', 'AWSPREVIOUS'] });
  });

  it('warns nothing for a later write, once the version it replaces no longer holds the material', async () => {
    await rotatedThenDestroyed();
    const now = sm.now.toISOString();
    const next = await change((k) => rotateKeyset(k, { material: m(), now }));
    expect(next.warnings).toBeUndefined();
  });
});

describe('purgeHistory', () => {
  it('refuses before the newest holder is a day old, saying when to come back', async () => {
    await rotatedThenDestroyed();
    await expect(store.purgeHistory()).rejects.toMatchObject({ code: 'INVALID_TRANSITION', message: expect.stringMatching(/purge its history again after 2026-03-02T00:00:00\.000Z$/) });
    expect(holdingV1()).toHaveLength(3);
  });

  it('a day later, writes copies of the current keyset until Secrets Manager has removed every version that held it', async () => {
    const destroyed = await rotatedThenDestroyed();
    sm.now = new Date(sm.now.getTime() + 25 * HOUR);
    const progress: string[] = [];
    const result = await store.purgeHistory((p) => progress.push(p));
    expect(holdingV1()).toEqual([]);
    expect(result.removed).toBe(3);
    expect(result.written).toBeGreaterThan(90);
    expect(result.written).toBeLessThanOrEqual(110);
    expect(progress.length).toBeGreaterThan(0);
    // The keyset itself is untouched.
    expect((await store.read()).handle).toBe(destroyed.handle);
    expect(await store.purgeHistory()).toEqual({ written: 0, removed: 0 });
  });

  it('refuses while a rotation is in progress', async () => {
    await rotatedThenDestroyed();
    sm.now = new Date(sm.now.getTime() + 25 * HOUR);
    sm.model.rotationFunction = async () => undefined;
    sm.model.configureRotation(SECRET, { lambdaArn: 'arn:aws:lambda:us-east-1:123456789012:function:r', rotateImmediately: true });
    await sm.model.rotationsSettled();
    await expect(store.purgeHistory()).rejects.toMatchObject({ code: 'ROTATION_IN_PROGRESS' });
  });
});
