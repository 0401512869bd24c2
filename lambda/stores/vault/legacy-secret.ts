/**
 * What a Vault secret's `data` holds: the keyset JSON in `value`, or, in the secret the seed (the old Python system)
 * wrote, a bare base64 master key in `value` and optionally the legacy counter in `version`, read as the legacy
 * keyset (versions 1..N of that key, `legacy-pbkdf2`). The first write replaces it with the keyset document.
 */
import { KeyManagementError, KeysetInvalidError } from '../../keys/errors';
import { type Keyset, parseKeyset } from '../../keys/keyset';
import { legacyKeyset, MAX_LEGACY_VERSIONS } from '../../keys/legacy';

/** The keyset in `data.value` of the secret at `location`: a keyset document, or the seed's bare master key. */
export function keysetOfSecretData(data: Record<string, unknown>, location: string): Keyset {
  const value = data.value;
  if (typeof value !== 'string') {
    throw new KeysetInvalidError('data.value', `of the Vault secret ${location} must be a string holding the keyset JSON (or the legacy base64 master key)`);
  }
  if (value.trim().startsWith('{')) return parseKeyset(value);
  return legacySecretKeyset(value, data.version, location);
}

function legacySecretKeyset(masterKey: string, counter: unknown, location: string): Keyset {
  let current = 1;
  if (counter !== undefined) {
    const text = typeof counter === 'number' ? String(counter) : typeof counter === 'string' ? counter.trim() : '';
    current = /^\d{1,4}$/.test(text) ? Number(text) : NaN;
    if (!(current >= 1 && current <= MAX_LEGACY_VERSIONS)) {
      throw new KeysetInvalidError('data.version', `of the Vault secret ${location} must be the legacy key version, an integer from 1 to ${MAX_LEGACY_VERSIONS}`);
    }
  }
  try {
    return legacyKeyset(masterKey, current);
  } catch (err) {
    if (err instanceof KeyManagementError) {
      throw new KeysetInvalidError('data.value', `of the Vault secret ${location} is neither a keyset JSON document nor a legacy master key (${err.message})`);
    }
    throw err;
  }
}
