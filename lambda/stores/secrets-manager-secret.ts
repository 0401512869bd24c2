/**
 * One Secrets Manager secret as a versioned document with staging labels: the I/O underneath the
 * keyset store and the rotation log. Values are plain strings here; what they mean is the caller's
 * business.
 *
 * The compare-and-set write is Secrets Manager's own staged-write protocol: the new value is stored as
 * a version labelled `AWSPENDING` (idempotent by `ClientRequestToken`), then `AWSCURRENT` is moved onto
 * it with `RemoveFromVersionId` = the version the writer read. Secrets Manager refuses that move when
 * `AWSCURRENT` is no longer where the writer saw it, so of two racing writers exactly one wins and the
 * other's version is left unlabelled (nothing is lost, nothing is overwritten).
 */
import {
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { KeyManagementError } from '../keys/errors';
import { AWS_REQUEST_HANDLER } from './aws-client-options';
import { awsErrorName, isResourceNotFound, mapSecretsManagerError, type SecretsManagerOperation } from './secrets-manager-errors';

import { AWSCURRENT, AWSPENDING, isValidToken, MAX_TOKEN_LENGTH, MIN_TOKEN_LENGTH } from './secrets-manager-labels';

export { AWSCURRENT, AWSPENDING, AWSPREVIOUS, MAX_TOKEN_LENGTH, MIN_TOKEN_LENGTH } from './secrets-manager-labels';

export interface SecretsManagerClientOptions {
  /** A client to use as is (tests, or a caller sharing one). */
  readonly client?: SecretsManagerClient;
  /** @default the SDK's resolution: AWS_REGION, then the profile */
  readonly region?: string;
  /** An AWS-compatible endpoint. @default the SDK's resolution, which honours AWS_ENDPOINT_URL */
  readonly endpointUrl?: string;
}

/**
 * The client every AWS-backed piece uses: standard retry mode (backoff with jitter, throttling-aware),
 * and per-attempt timeouts so a stalled connection is retried instead of waited on.
 */
export function createSecretsManagerClient(options: SecretsManagerClientOptions = {}): SecretsManagerClient {
  return (
    options.client ??
    new SecretsManagerClient({
      ...(options.region ? { region: options.region } : {}),
      ...(options.endpointUrl ? { endpoint: options.endpointUrl } : {}),
      retryMode: 'standard',
      maxAttempts: 4,
      requestHandler: AWS_REQUEST_HANDLER,
    })
  );
}

export interface SecretVersionValue {
  readonly versionId: string;
  readonly stages: readonly string[];
  /** SecretString; undefined when the version holds SecretBinary instead. */
  readonly text: string | undefined;
}

export type StageMoveResult = 'moved' | 'rejected';

export class SecretsManagerSecret {
  readonly client: SecretsManagerClient;

  constructor(
    readonly secretId: string,
    options: SecretsManagerClientOptions = {},
  ) {
    if (secretId.trim() === '') throw new KeyManagementError('INVALID_INPUT', 'a Secrets Manager secret id (name or ARN) is required');
    this.client = createSecretsManagerClient(options);
  }

  /** The version holding `stage`, or undefined when no version holds it (or the secret does not exist). */
  async getStage(stage: string): Promise<SecretVersionValue | undefined> {
    return this.get({ VersionStage: stage });
  }

  /** The version `versionId`, whatever its labels, or undefined when there is none. */
  async getVersion(versionId: string): Promise<SecretVersionValue | undefined> {
    return this.get({ VersionId: versionId });
  }

  private async get(selector: { VersionStage?: string; VersionId?: string }): Promise<SecretVersionValue | undefined> {
    const out = await this.call('GetSecretValue', () => this.client.send(new GetSecretValueCommand({ SecretId: this.secretId, ...selector })), true);
    if (out === undefined) return undefined;
    if (!out.VersionId) throw new KeyManagementError('STORE_UNAVAILABLE', `Secrets Manager returned no VersionId for secret ${this.secretId}; retry`);
    return { versionId: out.VersionId, stages: out.VersionStages ?? [], text: out.SecretString };
  }

  /**
   * Stores `text` as a new version labelled AWSPENDING, with VersionId = `token`. Repeating the call
   * with the same token and text is a no-op; the same token with other text is a CONFLICT.
   * Returns the labels the version carries (the first version of a secret also gets AWSCURRENT).
   */
  async putPending(text: string, token: string): Promise<{ versionId: string; stages: readonly string[] }> {
    assertToken(token);
    try {
      const out = await this.call('PutSecretValue', () =>
        this.client.send(new PutSecretValueCommand({ SecretId: this.secretId, SecretString: text, ClientRequestToken: token, VersionStages: [AWSPENDING] })),
      );
      return { versionId: out?.VersionId ?? token, stages: out?.VersionStages ?? [AWSPENDING] };
    } catch (err) {
      if (awsErrorName((err as KeyManagementError).cause) === 'ResourceExistsException') {
        throw new KeyManagementError(
          'CONFLICT',
          `secret ${this.secretId} already has a version with token ${token} holding a different value; a version is never modified — use a new token (a new rotation id)`,
          { cause: err },
        );
      }
      throw err;
    }
  }

  /**
   * Moves AWSCURRENT to `versionId`. `from` is the version the caller read (null: the caller saw no
   * AWSCURRENT). Secrets Manager rejects the move when AWSCURRENT is attached elsewhere; that is
   * returned as 'rejected', every other failure is thrown.
   */
  async moveCurrent(versionId: string, from: string | null): Promise<StageMoveResult> {
    return this.moveStage(AWSCURRENT, versionId, from);
  }

  /**
   * Moves `stage` to `versionId`, removing it from `from`; 'rejected' when `stage` is not where `from` says.
   * A rejection is checked against where the label now is: when the SDK retries a move whose first
   * attempt landed but whose answer was lost, the retry is rejected because the label is already ours.
   */
  private async moveStage(stage: string, versionId: string, from: string | null): Promise<StageMoveResult> {
    try {
      await this.call('UpdateSecretVersionStage', () =>
        this.client.send(
          new UpdateSecretVersionStageCommand({ SecretId: this.secretId, VersionStage: stage, MoveToVersionId: versionId, ...(from !== null ? { RemoveFromVersionId: from } : {}) }),
        ),
      );
      return 'moved';
    } catch (err) {
      if (!isStageRejection(err)) throw err;
      return (await this.getStage(stage))?.versionId === versionId ? 'moved' : 'rejected';
    }
  }

  /** Removes `stage` from `versionId`; false when the label is not on that version (nothing changed). */
  async removeStage(stage: string, versionId: string): Promise<boolean> {
    try {
      await this.call('UpdateSecretVersionStage', () =>
        this.client.send(new UpdateSecretVersionStageCommand({ SecretId: this.secretId, VersionStage: stage, RemoveFromVersionId: versionId })),
      );
      return true;
    } catch (err) {
      if (isStageRejection(err)) return false;
      throw err;
    }
  }

  /**
   * Compare-and-set write of a whole value: stage, then move AWSCURRENT from `expected` (null: only
   * if the secret has no AWSCURRENT). Returns the new VersionId, or 'rejected' when another writer
   * moved AWSCURRENT first; the rejected version's AWSPENDING label is removed so it blocks nobody.
   */
  async writeStaged(text: string, expected: string | null, token: string): Promise<{ versionId: string } | 'rejected'> {
    const staged = await this.putPending(text, token);
    if (!staged.stages.includes(AWSCURRENT)) {
      const moved = await this.moveCurrent(staged.versionId, expected);
      if (moved === 'rejected') {
        await this.removeStageQuietly(AWSPENDING, staged.versionId);
        return 'rejected';
      }
    } else if (expected !== null) {
      // Only the first version of a secret is labelled AWSCURRENT on creation; a writer that read a version cannot see that.
      throw new KeyManagementError('STORE_UNAVAILABLE', `secret ${this.secretId} labelled a new version AWSCURRENT on creation although version ${expected} was read; check the secret's versions`);
    }
    await this.removeStageQuietly(AWSPENDING, staged.versionId);
    return { versionId: staged.versionId };
  }

  /**
   * Best-effort removal of a leftover label after the value is safely in place: a failure here must
   * not turn a completed write into a reported failure. A label left behind is cleared by the next
   * rotation.
   */
  async removeStageQuietly(stage: string, versionId: string): Promise<void> {
    try {
      await this.removeStage(stage, versionId);
    } catch {
      /* see above */
    }
  }

  private async call<T>(operation: SecretsManagerOperation, send: () => Promise<T>, notFoundIsUndefined = false): Promise<T | undefined> {
    try {
      return await send();
    } catch (err) {
      if (notFoundIsUndefined && isResourceNotFound(err)) return undefined;
      throw mapSecretsManagerError(err, { operation, secretId: this.secretId });
    }
  }
}

/** Secrets Manager's answer when a label is not where RemoveFromVersionId says (or is attached elsewhere). */
function isStageRejection(err: unknown): boolean {
  const cause = err instanceof KeyManagementError ? err.cause : err;
  return awsErrorName(cause) === 'InvalidParameterException';
}

export function assertToken(token: string): void {
  if (!isValidToken(token)) {
    throw new KeyManagementError('INVALID_INPUT', `a ClientRequestToken must be ${MIN_TOKEN_LENGTH}-${MAX_TOKEN_LENGTH} characters of letters, digits, '-' or '_'; got ${token.length} characters`);
  }
}
