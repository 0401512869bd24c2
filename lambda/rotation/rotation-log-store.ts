/**
 * The rotation log in its Secrets Manager secret: read, append one entry, write back with the same
 * staged compare-and-set as the keyset (a concurrent append makes this one re-read and retry, so no
 * entry is lost). The log holds no key material.
 */
import { createHash } from 'node:crypto';
import { KeyManagementError } from '../keys/errors';
import { AWSCURRENT } from '../stores/secrets-manager-labels';
import type { SecretsManagerSecret } from '../stores/secrets-manager-secret';
import { appendRotationLog, parseRotationLog, type RotationLog, type RotationLogEntry, serializeRotationLog } from './rotation-log';

/** Where the rotation log lives; injected into the handler. */
export interface RotationLogStore {
  readonly location: string;
  read(): Promise<RotationLog>;
  /** Appends (or, for a rotation id already there, replaces) `entry`; `onlyIf` may veto it after reading. */
  append(entry: RotationLogEntry, onlyIf?: (log: RotationLog) => boolean): Promise<RotationLog>;
}

const MAX_APPEND_ATTEMPTS = 3;

export class SecretsManagerRotationLog implements RotationLogStore {
  readonly location: string;

  constructor(private readonly secret: SecretsManagerSecret) {
    this.location = secret.secretId;
  }

  async read(): Promise<RotationLog> {
    return parseRotationLog((await this.secret.getStage(AWSCURRENT))?.text);
  }

  async append(entry: RotationLogEntry, onlyIf: (log: RotationLog) => boolean = () => true): Promise<RotationLog> {
    for (let attempt = 1; attempt <= MAX_APPEND_ATTEMPTS; attempt++) {
      const found = await this.secret.getStage(AWSCURRENT);
      const log = parseRotationLog(found?.text);
      if (!onlyIf(log)) return log;
      const next = appendRotationLog(log, entry);
      const text = serializeRotationLog(next);
      // The token is a digest of what is written and what it replaces: a resent append is a no-op.
      const token = createHash('sha256').update(found?.versionId ?? '-').update('|').update(text).digest('hex');
      const written = await this.secret.writeStaged(text, found?.versionId ?? null, token);
      if (written !== 'rejected') return next;
    }
    throw new KeyManagementError('CONFLICT', `the rotation log ${this.location} kept changing during ${MAX_APPEND_ATTEMPTS} append attempts; rerun the same rotation id to record it`);
  }
}
