/**
 * The keyset in AWS Secrets Manager: the production store (`--store aws:SECRET_ID`).
 *
 * - Read: `GetSecretValue` with an explicit `VersionStage: AWSCURRENT` (never the API's default); the
 *   returned `VersionId` is the compare-and-set handle.
 * - Write (init, disable, enable, destroy, recover, import): staged (see `SecretsManagerSecret.writeStaged`)
 *   under a label of ours with a `ClientRequestToken`, then `AWSCURRENT` moved with `RemoveFromVersionId` =
 *   the handle. A lost race is a CONFLICT and the loser's version is left unlabelled, so nothing is lost.
 * - Init (`expected` null): the stack creates the secret empty; init refuses when any AWSCURRENT value
 *   exists, and a value that is not a valid keyset is reported (KEYSET_INVALID naming the field), never
 *   overwritten.
 * - Rotation is Secrets Manager's own (`managedRotation`): requested with RotateSecret, carried out by the
 *   rotation function's four steps, which use the staged methods below.
 */
import { randomUUID } from 'node:crypto';
import { ConflictError, KeyManagementError, KeysetInvalidError } from '../keys/errors';
import { type Keyset, keysetText, parseKeyset } from '../keys/keyset';
import { afterDestroyingWrite, type PurgeResult, purgeHistory } from './secrets-manager-history';
import { SecretsManagerRotation, type SecretsManagerRotationOptions } from './secrets-manager-rotation';
import { AWSCURRENT, AWSPENDING, type SecretsManagerClientOptions, SecretsManagerSecret, type StageMoveResult } from './secrets-manager-secret';
import type { KeysetSnapshot, KeysetStore } from './store';

export interface SecretsManagerStoreOptions extends SecretsManagerClientOptions {
  /** The keyset secret's name or ARN. */
  readonly secretId: string;
  /** How a requested rotation is waited for. @default poll every 2 s */
  readonly rotation?: SecretsManagerRotationOptions;
  /** @default () => new Date() */
  readonly clock?: () => Date;
}

/** A version of the keyset secret as found, valid or not: the rotation Lambda decides what to do with it. */
export interface KeysetVersion {
  readonly versionId: string;
  readonly stages: readonly string[];
  /** The parsed keyset; undefined when the value is not a valid keyset (see `invalid`). */
  readonly keyset?: Keyset;
  readonly invalid?: KeyManagementError;
}

export class SecretsManagerStore implements KeysetStore {
  readonly kind = 'aws';
  readonly writable = true;
  readonly location: string;
  readonly secret: SecretsManagerSecret;
  readonly managedRotation: SecretsManagerRotation;
  private readonly clock: () => Date;

  constructor(options: SecretsManagerStoreOptions) {
    this.secret = new SecretsManagerSecret(options.secretId, options);
    this.location = options.secretId;
    this.clock = options.clock ?? (() => new Date());
    this.managedRotation = new SecretsManagerRotation(this.secret, () => this.read(), options.rotation);
  }

  async read(): Promise<KeysetSnapshot> {
    const found = await this.secret.getStage(AWSCURRENT);
    if (!found) throw this.notFound();
    return { keyset: parseValue(found.text), handle: found.versionId };
  }

  async write(next: Keyset, expected: string | null): Promise<KeysetSnapshot> {
    const text = keysetText(next);
    if (expected === null) {
      const existing = await this.secret.getStage(AWSCURRENT);
      if (existing) {
        parseValue(existing.text);
        throw this.exists();
      }
    }
    const written = await this.secret.writeStaged(text, expected, randomUUID());
    if (written === 'rejected') throw expected === null ? this.exists() : this.conflict(expected);
    // The keyset is written whatever happens next: what older versions still hold is a warning to act on.
    const warnings =
      expected === null
        ? []
        : await afterDestroyingWrite(this.secret, next, expected, written.versionId, this.clock()).catch((err: unknown) => {
            if (!(err instanceof KeyManagementError)) throw err;
            return [`[${err.code}] ${err.message}; whether older versions of secret ${this.location} still hold the destroyed material is unknown — purging the secret's history finds and clears them`];
          });
    return { keyset: next, handle: written.versionId, ...(warnings.length > 0 ? { warnings } : {}) };
  }

  /** Removes destroyed material from the secret's older versions (see secrets-manager-history.ts). */
  async purgeHistory(onProgress?: (message: string) => void): Promise<PurgeResult> {
    return purgeHistory(this.secret, await this.read(), this.clock(), onProgress);
  }

  /** The version holding `stage`, parsed if it is a valid keyset; undefined when no version holds it. */
  async readStage(stage: string): Promise<KeysetVersion | undefined> {
    return toKeysetVersion(await this.secret.getStage(stage));
  }

  /** The version `versionId` (a rotation's token), parsed if valid; undefined when it does not exist. */
  async readVersion(versionId: string): Promise<KeysetVersion | undefined> {
    return toKeysetVersion(await this.secret.getVersion(versionId));
  }

  /** Stores `keyset` as AWSPENDING with VersionId = `token` (a rotation's createSecret); idempotent for the same token and keyset. */
  async stagePending(keyset: Keyset, token: string): Promise<{ versionId: string; stages: readonly string[] }> {
    const text = keysetText(keyset);
    return this.secret.putPending(text, token);
  }

  /**
   * Makes `versionId` AWSCURRENT if AWSCURRENT is still on `expected`, then clears its AWSPENDING label (a
   * rotation's finishSecret). Throws CONFLICT, changing nothing, when another writer moved AWSCURRENT.
   */
  async promote(versionId: string, expected: string): Promise<void> {
    const moved: StageMoveResult = await this.secret.moveCurrent(versionId, expected);
    if (moved === 'rejected') throw this.conflict(expected);
    await this.secret.removeStageQuietly(AWSPENDING, versionId);
  }

  /** Removes `stage` from `versionId`; false when it was not there. */
  async removeStage(stage: string, versionId: string): Promise<boolean> {
    return this.secret.removeStage(stage, versionId);
  }

  notFound(): KeyManagementError {
    return new KeyManagementError(
      'KEYSET_NOT_FOUND',
      `secret ${this.location} holds no keyset (no AWSCURRENT version, or no such secret); the stack creates the secret and its first keyset`,
    );
  }

  private exists(): KeyManagementError {
    return new KeyManagementError('KEYSET_EXISTS', `secret ${this.location} already holds a keyset (AWSCURRENT); it was not overwritten`);
  }

  private conflict(expected: string): ConflictError {
    return new ConflictError(`AWSCURRENT of secret ${this.location} is no longer version ${expected}: another writer changed the keyset since it was read`);
  }
}

function parseValue(text: string | undefined): Keyset {
  if (text === undefined) throw new KeysetInvalidError('(document)', 'is stored as SecretBinary; the keyset must be a SecretString holding JSON');
  return parseKeyset(text);
}

function toKeysetVersion(found: { versionId: string; stages: readonly string[]; text: string | undefined } | undefined): KeysetVersion | undefined {
  if (!found) return undefined;
  try {
    return { versionId: found.versionId, stages: found.stages, keyset: parseValue(found.text) };
  } catch (err) {
    if (err instanceof KeyManagementError) return { versionId: found.versionId, stages: found.stages, invalid: err };
    throw err;
  }
}
