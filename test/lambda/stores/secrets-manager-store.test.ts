import 'aws-sdk-client-mock-jest';
import { GetSecretValueCommand, PutSecretValueCommand, UpdateSecretVersionStageCommand } from '@aws-sdk/client-secrets-manager';
import { randomBytes } from 'node:crypto';
import { createKeyset, type Keyset, rotateKeyset, serializeKeyset } from '../../../lambda/keys/keyset';
import { AWS_REQUEST_HANDLER } from '../../../lambda/stores/aws-client-options';
import { openStore } from '../../../lambda/stores/open-store';
import { createSecretsManagerClient } from '../../../lambda/stores/secrets-manager-secret';
import { SecretsManagerStore } from '../../../lambda/stores/secrets-manager-store';
import { FakeSecretsManager } from '../../support/fake-secrets-manager';
import { requestHandlerOptions } from '../../support/request-handler';

const SECRET = 'alphapulse/encryption/master_key';
const material = () => randomBytes(32).toString('base64');
const v1 = (): Keyset => createKeyset({ material: material(), now: '2026-01-01T00:00:00.000Z' });

let sm: FakeSecretsManager;
let store: SecretsManagerStore;

beforeEach(() => {
  sm = new FakeSecretsManager().createSecret(SECRET);
  store = new SecretsManagerStore({ secretId: SECRET, region: 'us-east-1' });
});
afterEach(() => sm.restore());

async function expectCode(promise: Promise<unknown>, code: string): Promise<Error> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e as Error & { code?: string },
  );
  expect(err).toBeDefined();
  expect((err as { code?: string }).code).toBe(code);
  return err as Error;
}

describe('SecretsManagerStore.read', () => {
  it('asks for AWSCURRENT explicitly and returns its VersionId as the handle', async () => {
    const ks = v1();
    sm.createSecret(SECRET, serializeKeyset(ks));
    const snap = await store.read();
    expect(snap.keyset).toEqual(ks);
    expect(snap.handle).toBe(sm.versionAt(SECRET, 'AWSCURRENT')?.id);
    expect(sm.mock).toHaveReceivedCommandWith(GetSecretValueCommand, { SecretId: SECRET, VersionStage: 'AWSCURRENT' });
  });

  it('reports KEYSET_NOT_FOUND naming the secret and what creates its keyset when the secret is empty', async () => {
    const err = await expectCode(store.read(), 'KEYSET_NOT_FOUND');
    expect(err.message).toBe(`secret ${SECRET} holds no keyset (no AWSCURRENT version, or no such secret); the stack creates the secret and its first keyset`);
  });

  it('reports KEYSET_INVALID naming the field when the value is not a keyset', async () => {
    sm.createSecret(SECRET, JSON.stringify({ schema: 1, primary: 1, versions: [{ version: 1, material: 'short', kdf: 'hkdf-sha256', state: 'enabled', createdAt: '2026-01-01T00:00:00.000Z' }] }));
    const err = await expectCode(store.read(), 'KEYSET_INVALID');
    expect(err.message).toContain('versions[0].material');
  });
});

describe('SecretsManagerStore.write (init, expected = null)', () => {
  it('creates the first version as AWSCURRENT in an empty secret and leaves no staging label of its own', async () => {
    const ks = v1();
    const snap = await store.write(ks, null);
    expect(sm.labels(SECRET)).toEqual({ [snap.handle]: ['AWSCURRENT'] });
    expect((await store.read()).keyset).toEqual(ks);
    const put = sm.calls.find((c) => c.command === 'PutSecretValue');
    expect(put?.input).toMatchObject({ VersionStages: ['ALPHAPULSE_STAGED'], ClientRequestToken: snap.handle });
  });

  it('refuses with KEYSET_EXISTS when a keyset is already current, and changes nothing', async () => {
    sm.createSecret(SECRET, serializeKeyset(v1()));
    const before = sm.versions(SECRET);
    await expectCode(store.write(v1(), null), 'KEYSET_EXISTS');
    expect(sm.versions(SECRET)).toEqual(before);
  });

  it('never overwrites a present but invalid value: KEYSET_INVALID naming the field', async () => {
    sm.createSecret(SECRET, '{"schema":1,"primary":0,"versions":[]}');
    const err = await expectCode(store.write(v1(), null), 'KEYSET_INVALID');
    expect(err.message).toContain('primary');
    expect(sm.versions(SECRET)).toHaveLength(1);
    expect(sm.calls.map((c) => c.command)).not.toContain('PutSecretValue');
  });

  it('loses an init race with KEYSET_EXISTS once another init made its version current', async () => {
    const a = v1();
    // Both see an empty secret and write at once.
    const bRead = store.write(v1(), null);
    const aWrite = new SecretsManagerStore({ secretId: SECRET }).write(a, null);
    const results = await Promise.allSettled([aWrite, bRead]);
    const codes = results.map((r) => (r.status === 'fulfilled' ? 'ok' : (r.reason as { code: string }).code));
    expect(codes.sort()).toEqual(['KEYSET_EXISTS', 'ok']);
    expect(Object.values(sm.labels(SECRET)).flat()).toEqual(['AWSCURRENT']);
  });

  it('says how to create the secret when it does not exist', async () => {
    const missing = new SecretsManagerStore({ secretId: 'no/such/secret' });
    const err = await expectCode(missing.write(v1(), null), 'KEYSET_NOT_FOUND');
    expect(err.message).toContain('the stack creates the secret');
  });
});

describe('SecretsManagerStore.write (compare-and-set)', () => {
  it('stages under its own label (never AWSPENDING, which means a rotation in progress) with a token, then moves AWSCURRENT from the version read', async () => {
    sm.createSecret(SECRET, serializeKeyset(v1()));
    const snap = await store.read();
    const next = rotateKeyset(snap.keyset, { material: material(), now: '2026-02-01T00:00:00.000Z' });
    const written = await store.write(next, snap.handle);

    expect(sm.mock).toHaveReceivedCommandWith(PutSecretValueCommand, { SecretId: SECRET, VersionStages: ['ALPHAPULSE_STAGED'], ClientRequestToken: written.handle });
    expect(sm.mock).toHaveReceivedCommandWith(UpdateSecretVersionStageCommand, { SecretId: SECRET, VersionStage: 'AWSCURRENT', MoveToVersionId: written.handle, RemoveFromVersionId: snap.handle });
    expect(sm.labels(SECRET)).toEqual({ [snap.handle]: ['AWSPREVIOUS'], [written.handle]: ['AWSCURRENT'] });
    expect((await store.read()).keyset).toEqual(next);
  });

  it('ends in CONFLICT when another writer moved AWSCURRENT first, and loses nothing', async () => {
    sm.createSecret(SECRET, serializeKeyset(v1()));
    const snap = await store.read();
    const first = rotateKeyset(snap.keyset, { material: material(), now: '2026-02-01T00:00:00.000Z' });
    const second = rotateKeyset(snap.keyset, { material: material(), now: '2026-02-01T00:00:01.000Z' });
    await store.write(first, snap.handle);
    const err = await expectCode(store.write(second, snap.handle), 'CONFLICT');
    expect(err.message).toContain('nothing was written');
    expect((await store.read()).keyset).toEqual(first);
    // The loser's version exists but carries no label, so nothing can promote it by mistake.
    const loser = sm.versions(SECRET).at(-1);
    expect(loser?.stages).toEqual([]);
  });

  it('treats a rejected move as done when AWSCURRENT is already ours (an SDK retry of a move whose answer was lost)', async () => {
    sm.createSecret(SECRET, serializeKeyset(v1()));
    const snap = await store.read();
    const next = rotateKeyset(snap.keyset, { material: material(), now: '2026-02-01T00:00:00.000Z' });
    const token = 'c0ffee00-0000-4000-8000-000000000042';
    await store.stagePending(next, token);
    // The first attempt landed; its answer was lost, so the retry asks to move AWSCURRENT from the old version again.
    await store.secret.client.send(new UpdateSecretVersionStageCommand({ SecretId: SECRET, VersionStage: 'AWSCURRENT', MoveToVersionId: token, RemoveFromVersionId: snap.handle }));
    await expect(store.promote(token, snap.handle)).resolves.toBeUndefined();
    expect(sm.labels(SECRET)[token]).toEqual(['AWSCURRENT']);
    expect((await store.read()).keyset).toEqual(next);
  });
});

describe('SecretsManagerStore staged operations', () => {
  it('stagePending is idempotent for the same token and keyset and refuses another keyset under that token', async () => {
    sm.createSecret(SECRET, serializeKeyset(v1()));
    const { keyset } = await store.read();
    const next = rotateKeyset(keyset, { material: material(), now: '2026-02-01T00:00:00.000Z' });
    const token = 'rotation-0000000000000000000000000001';
    await store.stagePending(next, token);
    await store.stagePending(next, token);
    expect(sm.versions(SECRET)).toHaveLength(2);
    const other = rotateKeyset(keyset, { material: material(), now: '2026-02-01T00:00:00.000Z' });
    await expectCode(store.stagePending(other, token), 'CONFLICT');
    expect((await store.readVersion(token))?.keyset).toEqual(next);
  });

  it('readStage and readVersion report an invalid value instead of throwing, and undefined when absent', async () => {
    sm.createSecret(SECRET, serializeKeyset(v1()));
    expect(await store.readStage('AWSPENDING')).toBeUndefined();
    expect(await store.readVersion('ffffffff-ffff-4fff-8fff-ffffffffffff')).toBeUndefined();
    await store.secret.putPending('not json', 'rotation-0000000000000000000000000002');
    const pending = await store.readStage('AWSPENDING');
    expect(pending?.keyset).toBeUndefined();
    expect(pending?.invalid?.code).toBe('KEYSET_INVALID');
  });

  it('removeStage returns false when the label is not on that version', async () => {
    sm.createSecret(SECRET, serializeKeyset(v1()));
    const id = sm.versionAt(SECRET, 'AWSCURRENT')?.id as string;
    expect(await store.removeStage('AWSPENDING', id)).toBe(false);
  });
});

describe('AWS errors become typed errors', () => {
  beforeEach(() => sm.createSecret(SECRET, serializeKeyset(v1())));

  it.each([
    ['throttling', 'THROTTLED', /retries with backoff were exhausted/],
    ['server-error', 'STORE_UNAVAILABLE', /HTTP 500/],
    ['network-reset', 'STORE_UNAVAILABLE', /cannot reach Secrets Manager/],
    ['access-denied', 'ACCESS_DENIED', /Application Service role/],
    ['kms-decrypt', 'KMS_FAILURE', /kms:Decrypt/],
  ] as const)('a read failing with %s is %s', async (fault, code, hint) => {
    sm.failNext('GetSecretValue', fault);
    const err = await expectCode(store.read(), code);
    expect(err.message).toMatch(hint);
  });

  it('access denied on a write names the Key Administrator role', async () => {
    const snap = await store.read();
    sm.failNext('PutSecretValue', 'access-denied');
    const err = await expectCode(store.write(rotateKeyset(snap.keyset, { material: material(), now: '2026-02-01T00:00:00.000Z' }), snap.handle), 'ACCESS_DENIED');
    expect(err.message).toContain('Key Administrator role');
  });

  it('never puts key material in an error message', async () => {
    const snap = await store.read();
    const next = rotateKeyset(snap.keyset, { material: material(), now: '2026-02-01T00:00:00.000Z' });
    for (const fault of ['throttling', 'server-error', 'network-reset', 'access-denied'] as const) {
      sm.failNext('PutSecretValue', fault);
      const err = await store.write(next, snap.handle).catch((e: Error) => e);
      for (const v of next.versions) expect(String((err as Error).message)).not.toContain(v.material as string);
    }
  });
});

describe('opening an aws store', () => {
  it('aws:SECRET_ID opens a Secrets Manager store', () => {
    const opened = openStore(`aws:${SECRET}`, { region: 'eu-west-1', endpointUrl: 'http://localhost:4566', env: {} });
    expect(opened).toBeInstanceOf(SecretsManagerStore);
    expect(opened.kind).toBe('aws');
    expect(opened.location).toBe(SECRET);
  });

  it('the client honours the region and an explicit endpoint, with standard retries', async () => {
    const client = createSecretsManagerClient({ region: 'eu-west-1', endpointUrl: 'http://localhost:4566' });
    expect(await client.config.region()).toBe('eu-west-1');
    const endpoint = await client.config.endpoint?.();
    expect(endpoint?.hostname).toBe('localhost');
    expect(endpoint?.port).toBe(4566);
    const mode = client.config.retryMode as unknown;
    expect(typeof mode === 'function' ? await (mode as () => Promise<string>)() : mode).toBe('standard');
    expect(await client.config.maxAttempts()).toBe(4);
  });

  it('builds its client with the shared connection and request timeouts (their effect: aws-client-options.test.ts)', async () => {
    expect(await requestHandlerOptions(createSecretsManagerClient({ region: 'eu-west-1' }))).toMatchObject(AWS_REQUEST_HANDLER);
  });

  it('takes AWS_ENDPOINT_URL and AWS_REGION from the environment it is given', async () => {
    const opened = openStore(`aws:${SECRET}`, { env: { AWS_ENDPOINT_URL: 'http://127.0.0.1:4599', AWS_REGION: 'ap-south-1' } }) as SecretsManagerStore;
    expect(await opened.secret.client.config.region()).toBe('ap-south-1');
    expect((await opened.secret.client.config.endpoint?.())?.port).toBe(4599);
  });
});
