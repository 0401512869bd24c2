/**
 * The rotation log in its Secrets Manager secret: read, append one entry, write back with the same
 * staged compare-and-set as the keyset (a concurrent append makes this one re-read and retry, so no
 * entry is lost). The log holds no key material.
 *
 * A stored value that is not a valid log is never a reason to stop: the append starts a fresh log and
 * the malformed value stays where Secrets Manager keeps replaced versions (it becomes AWSPREVIOUS), with
 * its VersionId reported so the caller can audit it.
 */
import { createHash } from 'node:crypto';
import { errorCode, KeyManagementError } from '../keys/errors';
import { AWSCURRENT } from '../stores/secrets-manager-labels';
import type { SecretsManagerSecret } from '../stores/secrets-manager-secret';
import { appendRotationLog, EMPTY_ROTATION_LOG, parseRotationLog, type RotationLog, type RotationLogEntry, serializeRotationLog } from './rotation-log';

export interface AppendResult {
  readonly log: RotationLog;
  /** Where the malformed log that this append replaced was kept (a VersionId, a file name); absent when the log was valid. */
  readonly setAside?: string;
}

/** Where the rotation log lives; injected into the rotator. */
export interface RotationLogStore {
  readonly location: string;
  /** The log; a malformed one reads as empty, with `setAside` naming where it is. */
  read(): Promise<AppendResult>;
  /** Appends (or, for a rotation id already there, replaces) `entry`. */
  append(entry: RotationLogEntry): Promise<AppendResult>;
}

const MAX_APPEND_ATTEMPTS = 3;

export class SecretsManagerRotationLog implements RotationLogStore {
  readonly location: string;

  constructor(private readonly secret: SecretsManagerSecret) {
    this.location = secret.secretId;
  }

  async read(): Promise<AppendResult> {
    const found = await this.secret.getStage(AWSCURRENT);
    return parseOrSetAside(found?.text, found?.versionId);
  }

  async append(entry: RotationLogEntry): Promise<AppendResult> {
    for (let attempt = 1; attempt <= MAX_APPEND_ATTEMPTS; attempt++) {
      const found = await this.secret.getStage(AWSCURRENT);
      const current = parseOrSetAside(found?.text, found?.versionId);
      const next = appendRotationLog(current.log, entry);
      const text = serializeRotationLog(next);
      // The token is a digest of what is written and what it replaces: a resent append is a no-op.
      const token = createHash('sha256').update(found?.versionId ?? '-').update('|').update(text).digest('hex');
      const written = await this.secret.writeStaged(text, found?.versionId ?? null, token);
      if (written !== 'rejected') return { log: next, ...(current.setAside ? { setAside: current.setAside } : {}) };
    }
    throw new KeyManagementError('CONFLICT', `the rotation log ${this.location} kept changing during ${MAX_APPEND_ATTEMPTS} append attempts`);
  }
}

/** Keeps rotation-log entries in memory (tests, and library users with in-memory stores). */
export class MemoryRotationLog implements RotationLogStore {
  readonly location = 'memory';
  private log: RotationLog = EMPTY_ROTATION_LOG;

  async read(): Promise<AppendResult> {
    return { log: this.log };
  }

  async append(entry: RotationLogEntry): Promise<AppendResult> {
    this.log = appendRotationLog(this.log, entry);
    return { log: this.log };
  }
}

function parseOrSetAside(text: string | undefined, versionId: string | undefined): AppendResult {
  try {
    return { log: parseRotationLog(text) };
  } catch (err) {
    if (errorCode(err) !== 'INVALID_INPUT') throw err;
    return { log: EMPTY_ROTATION_LOG, setAside: `version ${versionId ?? '(unknown)'}` };
  }
}
