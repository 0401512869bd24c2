/**
 * Legacy versions carry no creation date of their own: the Python system recorded none, so
 * `legacyKeyset` stamps them with LEGACY_EPOCH (1970). Stored like that, every age check calls them
 * decades overdue. Where the CLI writes them into a store it gives them the best date it has: when they
 * were imported, or the seed backup's own timestamp.
 */
import { type Keyset, type KeyVersion, validateKeyset } from '../lambda/keys/keyset';
import { LEGACY_EPOCH } from '../lambda/keys/legacy';

/** `keyset` with each undated legacy version dated `dateFor(version)`; every other version as it was. */
export function dateLegacyVersions(keyset: Keyset, dateFor: (version: KeyVersion) => string): Keyset {
  return validateKeyset({
    ...keyset,
    versions: keyset.versions.map((v) => (v.kdf === 'legacy-pbkdf2' && v.createdAt === LEGACY_EPOCH ? { ...v, createdAt: dateFor(v) } : v)),
  });
}
