/**
 * The AlphaPulse Python system's keys as a keyset. That system derived every version from one master
 * key, so versions 1..N all become `legacy-pbkdf2` versions of that key, primary N. Shared by the env
 * store, the Vault store (the seed's bare `value`), backups in the seed's format and `import-legacy`.
 */
import { KeyManagementError } from './errors';
import { type Keyset, type KeyVersion, MATERIAL_BYTES, validateKeyset } from './keyset';

/** Creation time recorded for versions imported from the legacy system, whose history is unknown. */
export const LEGACY_EPOCH = '1970-01-01T00:00:00.000Z';
export const MAX_LEGACY_VERSIONS = 1_000;

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
    throw new KeyManagementError('INVALID_INPUT', `the master key must be base64 of exactly ${MATERIAL_BYTES} bytes (44 characters, e.g. from 'openssl rand -base64 32')`);
  }
  const bytes = Buffer.from(trimmed.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (bytes.length !== MATERIAL_BYTES) throw new KeyManagementError('INVALID_INPUT', `the master key decodes to ${bytes.length} bytes; it must be ${MATERIAL_BYTES}`);
  return bytes.toString('base64');
}
