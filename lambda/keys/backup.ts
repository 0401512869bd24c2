/**
 * The keyset backup: the whole keyset (every version with its state and metadata), where it came from
 * and when, as JSON sealed in a Fernet token under a separate backup key. Pure functions; the caller
 * supplies the clock and the IV.
 *
 * Two documents open:
 * - ours: `{format, formatVersion, createdAt, source, keyset, timestamp, current_version}`. The last two
 *   repeat `createdAt` and the primary under the seed's names, so the seed's Python recovery script
 *   (`Fernet(backup_key).decrypt(...)`, then `backup_data['timestamp']`) reads it too.
 * - the seed's: `{master_key, current_version, timestamp}` as its Python procedure wrote it. The master
 *   key and counter become legacy versions 1..N, exactly as `import-legacy` makes them.
 */
import { KeyManagementError, KeysetInvalidError } from './errors';
import { FernetError, type FernetKey } from './fernet';
import { type Keyset, validateKeyset } from './keyset';
import { isPlainObject } from './json';
import { legacyKeyset } from './legacy';

export const BACKUP_FORMAT = 'alphapulse-keyset-backup';
export const BACKUP_FORMAT_VERSION = 1;
/** Largest token accepted: a full 64 KB keyset plus framing, base64url-encoded, with room to spare. */
export const MAX_BACKUP_TOKEN_CHARS = 256 * 1024;
const MAX_SEED_TIMESTAMP_CHARS = 64;

export interface BackupSource {
  /** Store kind the keyset was exported from. */
  readonly store: string;
  /** Its location (path or secret id), never a credential. */
  readonly location: string;
}

export interface BackupDocument {
  readonly format: typeof BACKUP_FORMAT;
  readonly formatVersion: typeof BACKUP_FORMAT_VERSION;
  /** ISO-8601 UTC. */
  readonly createdAt: string;
  readonly source: BackupSource;
  readonly keyset: Keyset;
  /** The seed's name for `createdAt`. */
  readonly timestamp: string;
  /** The seed's name for the primary version. */
  readonly current_version: number;
}

export interface RecoveredBackup {
  /** `seed` for a backup written by the AlphaPulse Python procedure. */
  readonly kind: 'alphapulse' | 'seed';
  readonly keyset: Keyset;
  /** When the backup says it was made (the seed's timestamp is passed through as written). */
  readonly createdAt: string;
  readonly source?: BackupSource;
}

export function backupDocument(keyset: Keyset, source: BackupSource, now: Date): BackupDocument {
  const createdAt = now.toISOString();
  return { format: BACKUP_FORMAT, formatVersion: BACKUP_FORMAT_VERSION, createdAt, source, keyset: validateKeyset(keyset), timestamp: createdAt, current_version: keyset.primary };
}

/** Seals a keyset into a Fernet token. The serialized document is zeroed once encrypted. */
export function sealBackup(keyset: Keyset, options: { source: BackupSource; key: FernetKey; now: Date; iv: Buffer }): string {
  const plaintext = Buffer.from(JSON.stringify(backupDocument(keyset, options.source, options.now)), 'utf8');
  try {
    return options.key.encrypt(plaintext, { now: options.now, iv: options.iv });
  } finally {
    plaintext.fill(0);
  }
}

/**
 * Verifies a backup token and the keyset inside. Throws BACKUP_INVALID saying which check failed
 * (wrong key or altered, expired, not a backup); never echoes the token or its contents.
 */
export function openBackup(token: string, key: FernetKey, options: { now: Date; maxAgeSeconds?: number }): RecoveredBackup {
  if (token.length > MAX_BACKUP_TOKEN_CHARS) {
    throw new KeyManagementError('BACKUP_INVALID', `the backup is ${token.length} characters, over the ${MAX_BACKUP_TOKEN_CHARS}-character limit; it is not a keyset backup`);
  }
  let plaintext: Buffer;
  try {
    plaintext = key.decrypt(token, { now: options.now, ttlSeconds: options.maxAgeSeconds });
  } catch (err) {
    if (err instanceof FernetError) {
      const hint = err.reason === 'signature' ? '; check that --backup-key-file is the key written with this backup' : '';
      throw new KeyManagementError('BACKUP_INVALID', `the backup does not open: ${err.message}${hint}`, { cause: err });
    }
    throw err;
  }
  try {
    return parseBackupDocument(plaintext.toString('utf8'), options.now);
  } finally {
    plaintext.fill(0);
  }
}

/** Parses the decrypted document, ours or the seed's; `now` refuses a keyset stamped in the future (see `assertNotAhead`). */
export function parseBackupDocument(text: string, now?: Date): RecoveredBackup {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw backupInvalid('the decrypted backup is not JSON');
  }
  if (!isPlainObject(value)) throw backupInvalid('the decrypted backup is not a JSON object');
  const doc = value as Record<string, unknown>;
  if ('format' in doc) return parseOurs(doc, now);
  if ('master_key' in doc) return parseSeed(doc);
  throw backupInvalid(`the decrypted backup has neither "format" (${BACKUP_FORMAT}) nor "master_key" (the seed's format)`);
}

function parseOurs(doc: Record<string, unknown>, now: Date | undefined): RecoveredBackup {
  const known = new Set(['format', 'formatVersion', 'createdAt', 'source', 'keyset', 'timestamp', 'current_version']);
  const unknown = Object.keys(doc).find((k) => !known.has(k));
  if (unknown !== undefined) throw backupInvalid(`the backup has an unknown field '${unknown.slice(0, 40)}'`);
  if (doc.format !== BACKUP_FORMAT) throw backupInvalid(`format must be "${BACKUP_FORMAT}"`);
  if (doc.formatVersion !== BACKUP_FORMAT_VERSION) throw backupInvalid(`formatVersion ${String(doc.formatVersion).slice(0, 20)} is not supported (this build reads ${BACKUP_FORMAT_VERSION})`);
  if (typeof doc.createdAt !== 'string' || Number.isNaN(Date.parse(doc.createdAt)) || doc.createdAt.length > 40) throw backupInvalid('createdAt must be an ISO-8601 timestamp');
  const source = doc.source as Record<string, unknown> | undefined;
  if (typeof source !== 'object' || source === null || typeof source.store !== 'string' || typeof source.location !== 'string') {
    throw backupInvalid('source must be {"store", "location"}');
  }
  const keyset = keysetInBackup(() => validateKeyset(doc.keyset, { now }));
  if (doc.current_version !== keyset.primary) throw backupInvalid(`current_version (${String(doc.current_version).slice(0, 20)}) does not match the keyset's primary (${keyset.primary}); the backup is inconsistent`);
  return { kind: 'alphapulse', keyset, createdAt: doc.createdAt, source: { store: source.store.slice(0, 40), location: source.location.slice(0, 512) } };
}

function parseSeed(doc: Record<string, unknown>): RecoveredBackup {
  const known = new Set(['master_key', 'current_version', 'timestamp']);
  const unknown = Object.keys(doc).find((k) => !known.has(k));
  if (unknown !== undefined) throw backupInvalid(`the seed-format backup has an unknown field '${unknown.slice(0, 40)}'`);
  if (typeof doc.master_key !== 'string') throw backupInvalid('master_key must be base64 text');
  const version = typeof doc.current_version === 'string' && /^\d{1,4}$/.test(doc.current_version) ? Number(doc.current_version) : doc.current_version;
  if (typeof version !== 'number') throw backupInvalid('current_version must be a positive integer');
  if (typeof doc.timestamp !== 'string' || doc.timestamp.length > MAX_SEED_TIMESTAMP_CHARS || Number.isNaN(Date.parse(doc.timestamp))) {
    throw backupInvalid('timestamp must be the ISO-8601 time the seed wrote');
  }
  const keyset = keysetInBackup(() => legacyKeyset(doc.master_key as string, version));
  return { kind: 'seed', keyset, createdAt: doc.timestamp };
}

function keysetInBackup(build: () => Keyset): Keyset {
  try {
    return build();
  } catch (err) {
    if (err instanceof KeysetInvalidError) throw backupInvalid(`the keyset in the backup is invalid at ${err.field}`);
    if (err instanceof KeyManagementError) throw backupInvalid(`the key in the backup is invalid: ${err.message}`);
    throw err;
  }
}

function backupInvalid(problem: string): KeyManagementError {
  return new KeyManagementError('BACKUP_INVALID', `${problem}; nothing was written — check that the file is a backup made by export or the seed's Python procedure`);
}

export { describeLosses, isSafeRecovery, recoveryLosses, type RecoveryLosses } from './guarded-write';
