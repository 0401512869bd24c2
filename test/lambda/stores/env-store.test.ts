import { legacyKeyset } from '../../../lambda/keys/legacy';
import { EnvStore } from '../../../lambda/stores/env-store';
import { openStore, parseStoreUri, resolveStoreUri } from '../../../lambda/stores/open-store';

const KEY = Buffer.alloc(32, 5).toString('base64');

describe('EnvStore', () => {
  it('gives legacy versions 1..N of the same master key, primary N', async () => {
    const { keyset } = await new EnvStore({ ALPHAPULSE_ENCRYPTION_MASTER_KEY: KEY, ALPHAPULSE_ENCRYPTION_KEY_VERSION: '3' }).read();
    expect(keyset.primary).toBe(3);
    expect(keyset.versions.map((v) => [v.version, v.kdf, v.material])).toEqual([
      [1, 'legacy-pbkdf2', KEY],
      [2, 'legacy-pbkdf2', KEY],
      [3, 'legacy-pbkdf2', KEY],
    ]);
  });

  it('defaults the version to 1 and accepts a Fernet-style base64url key', async () => {
    const urlKey = Buffer.alloc(32, 0xfb).toString('base64url') + '=';
    const { keyset } = await new EnvStore({ ALPHAPULSE_ENCRYPTION_MASTER_KEY: urlKey }).read();
    expect(keyset.primary).toBe(1);
    expect(keyset.versions[0].material).toBe(Buffer.alloc(32, 0xfb).toString('base64'));
  });

  it.each([
    [{}, 'KEYSET_NOT_FOUND'],
    [{ ALPHAPULSE_ENCRYPTION_MASTER_KEY: 'c2hvcnQ=' }, 'INVALID_INPUT'],
    [{ ALPHAPULSE_ENCRYPTION_MASTER_KEY: KEY, ALPHAPULSE_ENCRYPTION_KEY_VERSION: 'two' }, 'INVALID_INPUT'],
    [{ ALPHAPULSE_ENCRYPTION_MASTER_KEY: KEY, ALPHAPULSE_ENCRYPTION_KEY_VERSION: '0' }, 'INVALID_INPUT'],
  ])('rejects %j with %s without echoing the key', async (env, code) => {
    const err = await new EnvStore(env).read().catch((e: unknown) => e);
    expect(err).toMatchObject({ code });
    expect((err as Error).message).not.toContain(KEY);
  });

  it('is read-only and says to import it into a writable store', async () => {
    await expect(new EnvStore({}).write()).rejects.toMatchObject({ code: 'STORE_READ_ONLY', message: expect.stringMatching(/import it into a writable store/) });
  });

  it('legacyKeyset validates like any keyset', () => {
    expect(() => legacyKeyset(KEY, 1001)).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
  });
});

describe('store URIs', () => {
  it('resolves --store, then KEY_MANAGER_STORE, then the default file', () => {
    expect(resolveStoreUri('env:', { KEY_MANAGER_STORE: 'file:x' })).toBe('env:');
    expect(resolveStoreUri(undefined, { KEY_MANAGER_STORE: 'file:x' })).toBe('file:x');
    expect(resolveStoreUri(undefined, {})).toBe('file:.alphapulse/keyset.json');
  });

  it.each(['s3:bucket', 'file:', 'env:extra', 'nonsense'])('rejects %j with INVALID_INPUT', (uri) => {
    expect(() => parseStoreUri(uri)).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
  });

  it('opens file and env stores', async () => {
    expect(openStore('file:/tmp/x.json').kind).toBe('file');
    const env = openStore('env:', { env: { ALPHAPULSE_ENCRYPTION_MASTER_KEY: KEY } });
    expect((await env.read()).keyset.primary).toBe(1);
  });
});
