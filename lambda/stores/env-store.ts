/**
 * Read-only store over the AlphaPulse Python system's environment variables:
 * `ALPHAPULSE_ENCRYPTION_MASTER_KEY` (base64 of 32 bytes) and `ALPHAPULSE_ENCRYPTION_KEY_VERSION` (N).
 * That system derived every version from the same master key, so versions 1..N all become
 * `legacy-pbkdf2` versions of that key, primary N.
 */
import { KeyManagementError } from '../keys/errors';
import { type Keyset, type KeyVersion, MATERIAL_BYTES, validateKeyset } from '../keys/keyset';
import type { KeysetSnapshot, KeysetStore } from './store';

export const MASTER_KEY_VAR = 'ALPHAPULSE_ENCRYPTION_MASTER_KEY';
export const KEY_VERSION_VAR = 'ALPHAPULSE_ENCRYPTION_KEY_VERSION';
/** Creation time recorded for versions imported from the legacy system, whose history is unknown. */
export const LEGACY_EPOCH = '1970-01-01T00:00:00.000Z';
const MAX_LEGACY_VERSIONS = 1_000;

/** Builds the legacy keyset for a master key and version counter; shared with `import-legacy`. */
export function legacyKeyset(masterKeyBase64: string, currentVersion: number, createdAt = LEGACY_EPOCH): Keyset {
  const material = decodeMasterKey(masterKeyBase64);
  if (!Number.isSafeInteger(currentVersion) || currentVersion < 1 || currentVersion > MAX_LEGACY_VERSIONS) {
    throw new KeyManagementError('INVALID_INPUT', `the legacy key version must be an integer from 1 to ${MAX_LEGACY_VERSIONS}, got ${String(currentVersion).slice(0, 20)}`);
  }
  const versions: KeyVersion[] = [];
  for (let v = 1; v <= currentVersion; v++) versions.push({ version: v, material, kdf: 'legacy-pbkdf2', state: 'enabled', createdAt });
  return validateKeyset({ schema: 1, primary: currentVersion, versions });
}

/** Normalises a base64 (or base64url, as Fernet keys are) master key to canonical base64 of 32 bytes. */
export function decodeMasterKey(text: string): string {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9+/_-]{43}=?$/.test(trimmed)) {
    throw new KeyManagementError('INVALID_INPUT', `the master key must be base64 of exactly ${MATERIAL_BYTES} bytes (44 characters, e.g. from 'key-manager generate' or 'openssl rand -base64 32')`);
  }
  const bytes = Buffer.from(trimmed.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (bytes.length !== MATERIAL_BYTES) throw new KeyManagementError('INVALID_INPUT', `the master key decodes to ${bytes.length} bytes; it must be ${MATERIAL_BYTES}`);
  return bytes.toString('base64');
}

export class EnvStore implements KeysetStore {
  readonly kind = 'env';
  readonly writable = false;
  readonly location = `env:${MASTER_KEY_VAR}`;

  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {}

  async read(): Promise<KeysetSnapshot> {
    const key = this.env[MASTER_KEY_VAR];
    if (key === undefined || key === '') {
      throw new KeyManagementError('KEYSET_NOT_FOUND', `${MASTER_KEY_VAR} is not set; export it (base64 of 32 bytes) or use another --store`);
    }
    const versionText = this.env[KEY_VERSION_VAR] ?? '1';
    if (!/^\d{1,4}$/.test(versionText.trim())) {
      throw new KeyManagementError('INVALID_INPUT', `${KEY_VERSION_VAR} must be a positive integer, got a value of ${versionText.length} characters`);
    }
    let keyset: Keyset;
    try {
      keyset = legacyKeyset(key, Number(versionText.trim()));
    } catch (err) {
      if (err instanceof KeyManagementError) throw new KeyManagementError(err.code, `${MASTER_KEY_VAR}/${KEY_VERSION_VAR}: ${err.message}`);
      throw err;
    }
    return { keyset, handle: `env-v${keyset.primary}` };
  }

  async write(): Promise<KeysetSnapshot> {
    throw new KeyManagementError('STORE_READ_ONLY', `the env store is read-only; import it into a writable store with 'key-manager --store file:PATH import-legacy --from-env'`);
  }
}
