/**
 * Read-only store over the AlphaPulse Python system's environment variables:
 * `ALPHAPULSE_ENCRYPTION_MASTER_KEY` (base64 of 32 bytes) and `ALPHAPULSE_ENCRYPTION_KEY_VERSION` (N).
 * Versions 1..N of that one key become `legacy-pbkdf2` versions, primary N (see keys/legacy.ts).
 */
import { KeyManagementError } from '../keys/errors';
import type { Keyset } from '../keys/keyset';
import { legacyKeyset } from '../keys/legacy';
import type { KeysetSnapshot, KeysetStore } from './store';

export const MASTER_KEY_VAR = 'ALPHAPULSE_ENCRYPTION_MASTER_KEY';
export const KEY_VERSION_VAR = 'ALPHAPULSE_ENCRYPTION_KEY_VERSION';

export class EnvStore implements KeysetStore {
  readonly kind = 'env';
  readonly writable = false;
  readonly location = `env:${MASTER_KEY_VAR}`;

  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {}

  async read(): Promise<KeysetSnapshot> {
    const key = this.env[MASTER_KEY_VAR];
    if (key === undefined || key === '') {
      throw new KeyManagementError('KEYSET_NOT_FOUND', `${MASTER_KEY_VAR} is not set; export it (base64 of 32 bytes) or use another store`);
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
    throw new KeyManagementError('STORE_READ_ONLY', `the env store is read-only: its key is managed where the variables are set; import it into a writable store to manage it here`);
  }
}
