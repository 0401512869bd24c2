/**
 * One Secrets Manager secret as a versioned document with staging labels: the I/O underneath the
 * keyset store and the rotation log. Values are plain strings here; what they mean is the caller's
 * business.
 *
 * The compare-and-set write is Secrets Manager's own staged-write protocol: the new value is stored as
 * a version with a staging label of ours (idempotent by `ClientRequestToken`), then `AWSCURRENT` is moved
 * onto it with `RemoveFromVersionId` = the version the writer read. Secrets Manager refuses that move when
 * `AWSCURRENT` is no longer where the writer saw it, so of two racing writers exactly one wins and the
 * other's version is left unlabelled (nothing is lost, nothing is overwritten). Rotation is the one writer
 * that uses `AWSPENDING`, because that label is how Secrets Manager tracks a rotation in progress.
 */
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
  RotateSecretCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { KeyManagementError } from '../keys/errors';
import { awsMaxAttempts, awsRequestHandler } from './aws-client-options';
import { checkEndpointUrl } from './endpoint-url';
import { awsErrorName, isResourceNotFound, mapSecretsManagerError, type SecretsManagerOperation } from './secrets-manager-errors';

import { AWSCURRENT, AWSPENDING, isValidToken, MAX_TOKEN_LENGTH, MIN_TOKEN_LENGTH, STAGED_WRITE } from './secrets-manager-labels';

export { AWSCURRENT, AWSPENDING, AWSPREVIOUS, MAX_TOKEN_LENGTH, MIN_TOKEN_LENGTH, STAGED_WRITE } from './secrets-manager-labels';

export interface SecretsManagerClientOptions {
  /** A client to use as is (tests, or a caller sharing one). */
  readonly client?: SecretsManagerClient;
  /** @default the SDK's resolution: AWS_REGION, then the profile */
  readonly region?: string;
  /** An AWS-compatible endpoint. @default the SDK's resolution, which honours AWS_ENDPOINT_URL */
  readonly endpointUrl?: string;
}

/** Attempts per Secrets Manager call unless AWS_MAX_ATTEMPTS says otherwise: the first try and three retries. */
export const SECRETS_MANAGER_MAX_ATTEMPTS = 4;

/**
 * The client every AWS-backed piece uses: standard retry mode (backoff with jitter, throttling-aware), 4 attempts
 * (or AWS_MAX_ATTEMPTS), and per-attempt timeouts so a stalled connection is retried instead of waited on.
 */
export function createSecretsManagerClient(options: SecretsManagerClientOptions = {}): SecretsManagerClient {
  if (options.client) return options.client;
  // The keyset travels in this client's answers: an endpoint override must not send it over the network in cleartext.
  const endpoint = options.endpointUrl ?? process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER ?? process.env.AWS_ENDPOINT_URL;
  if (endpoint) checkEndpointUrl(endpoint, 'the Secrets Manager endpoint (--endpoint-url, AWS_ENDPOINT_URL)', 'the keyset', 'https://secretsmanager.us-east-1.amazonaws.com');
  return (
    new SecretsManagerClient({
      ...(options.region ? { region: options.region } : {}),
      ...(options.endpointUrl ? { endpoint: options.endpointUrl } : {}),
      retryMode: 'standard',
      maxAttempts: awsMaxAttempts(SECRETS_MANAGER_MAX_ATTEMPTS),
      requestHandler: awsRequestHandler(),
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

/** What DescribeSecret says about a secret's rotation and labelled versions (never the value). */
export interface SecretDescription {
  readonly arn: string;
  readonly name: string;
  /** Whether Secrets Manager rotates the secret (RotationEnabled); false when it was never configured. */
  readonly rotationEnabled: boolean;
  readonly rotationLambdaArn?: string;
  /** The schedule (`rate(90 days)`); absent for a rotation configured without one (on demand only). */
  readonly scheduleExpression?: string;
  /** The rotation window (`4h`), when one is set. */
  readonly rotationWindow?: string;
  readonly lastRotatedDate?: Date;
  readonly nextRotationDate?: Date;
  /** Labelled versions only, as Secrets Manager reports them. */
  readonly versionIdsToStages: Readonly<Record<string, readonly string[]>>;
}

/** One version from ListSecretVersionIds: metadata only. */
export interface SecretVersionInfo {
  readonly versionId: string;
  readonly stages: readonly string[];
  readonly createdDate?: Date;
}

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

  /**
   * The version `versionId`, whatever its labels, or undefined when there is none or it has no value yet (the
   * version RotateSecret creates before the rotation function's createSecret step fills it).
   */
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
   * Stores `text` as a new version labelled AWSPENDING, with VersionId = `token`: a rotation candidate.
   * Repeating the call with the same token and text is a no-op; the same token with other text is a CONFLICT.
   */
  async putPending(text: string, token: string): Promise<{ versionId: string; stages: readonly string[] }> {
    return this.putVersion(text, token, AWSPENDING);
  }

  /**
   * Stores `text` as a new version labelled `stage`, with VersionId = `token`. A token naming a version that has
   * no value yet (the one RotateSecret creates) gives it this value. Returns the labels the version carries (the
   * first version of a secret also gets AWSCURRENT).
   */
  private async putVersion(text: string, token: string, stage: string): Promise<{ versionId: string; stages: readonly string[] }> {
    assertToken(token);
    try {
      const out = await this.call('PutSecretValue', () =>
        this.client.send(new PutSecretValueCommand({ SecretId: this.secretId, SecretString: text, ClientRequestToken: token, VersionStages: [stage] })),
      );
      return { versionId: out?.VersionId ?? token, stages: out?.VersionStages ?? [stage] };
    } catch (err) {
      if (awsErrorName((err as KeyManagementError).cause) === 'ResourceExistsException') {
        throw new KeyManagementError(
          'CONFLICT',
          `secret ${this.secretId} already has a version with token ${token} holding a different value; a version is never modified — use a new token`,
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
  async moveStage(stage: string, versionId: string, from: string | null): Promise<StageMoveResult> {
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
   * Compare-and-set write of a whole value: stage it (label STAGED_WRITE), then move AWSCURRENT from `expected`
   * (null: only if the secret has no AWSCURRENT). Returns the new VersionId, or 'rejected' when another writer
   * moved AWSCURRENT first; the rejected version's label is removed so nothing keeps it alive.
   */
  async writeStaged(text: string, expected: string | null, token: string): Promise<{ versionId: string } | 'rejected'> {
    const staged = await this.putVersion(text, token, STAGED_WRITE);
    if (!staged.stages.includes(AWSCURRENT)) {
      const moved = await this.moveCurrent(staged.versionId, expected);
      if (moved === 'rejected') {
        await this.removeStageQuietly(STAGED_WRITE, staged.versionId);
        return 'rejected';
      }
    } else if (expected !== null) {
      // Only the first version of a secret is labelled AWSCURRENT on creation; a writer that read a version cannot see that.
      throw new KeyManagementError('STORE_UNAVAILABLE', `secret ${this.secretId} labelled a new version AWSCURRENT on creation although version ${expected} was read; check the secret's versions`);
    }
    await this.removeStageQuietly(STAGED_WRITE, staged.versionId);
    return { versionId: staged.versionId };
  }

  /**
   * Best-effort removal of a leftover label after the value is safely in place: a failure here must
   * not turn a completed write into a reported failure. A label left behind is reported by `status` (leftoverLabels).
   */
  async removeStageQuietly(stage: string, versionId: string): Promise<void> {
    try {
      await this.removeStage(stage, versionId);
    } catch {
      /* see above */
    }
  }

  /** Stores `text` as a new version that carries no label (labelled while it is put, so it never becomes AWSCURRENT). */
  async putUnlabelled(text: string, token: string): Promise<void> {
    const staged = await this.putVersion(text, token, STAGED_WRITE);
    await this.removeStage(STAGED_WRITE, staged.versionId);
  }

  /** DescribeSecret: the rotation configuration and the labelled versions. */
  async describe(): Promise<SecretDescription> {
    const out = await this.call('DescribeSecret', () => this.client.send(new DescribeSecretCommand({ SecretId: this.secretId })));
    const rules = out?.RotationRules;
    const schedule = rules?.ScheduleExpression ?? (rules?.AutomaticallyAfterDays ? `rate(${rules.AutomaticallyAfterDays} days)` : undefined);
    return {
      arn: out?.ARN ?? this.secretId,
      name: out?.Name ?? this.secretId,
      rotationEnabled: out?.RotationEnabled === true,
      ...(out?.RotationLambdaARN ? { rotationLambdaArn: out.RotationLambdaARN } : {}),
      ...(schedule ? { scheduleExpression: schedule } : {}),
      ...(rules?.Duration ? { rotationWindow: rules.Duration } : {}),
      ...(out?.LastRotatedDate ? { lastRotatedDate: out.LastRotatedDate } : {}),
      ...(out?.NextRotationDate ? { nextRotationDate: out.NextRotationDate } : {}),
      versionIdsToStages: out?.VersionIdsToStages ?? {},
    };
  }

  /** ListSecretVersionIds, every page: labels and creation dates, never a value. */
  async listVersions(options: { includeDeprecated?: boolean } = {}): Promise<SecretVersionInfo[]> {
    const versions: SecretVersionInfo[] = [];
    let nextToken: string | undefined;
    do {
      const page = nextToken;
      const out = await this.call('ListSecretVersionIds', () =>
        this.client.send(new ListSecretVersionIdsCommand({ SecretId: this.secretId, IncludeDeprecated: options.includeDeprecated === true, MaxResults: 100, ...(page ? { NextToken: page } : {}) })),
      );
      for (const v of out?.Versions ?? []) {
        if (v.VersionId) versions.push({ versionId: v.VersionId, stages: v.VersionStages ?? [], ...(v.CreatedDate ? { createdDate: v.CreatedDate } : {}) });
      }
      nextToken = out?.NextToken;
    } while (nextToken);
    return versions;
  }

  /**
   * RotateSecret with `token` as its ClientRequestToken: Secrets Manager creates that version (or takes the one
   * already staged as AWSPENDING under it) and runs the rotation function's four steps on it, asynchronously.
   * 'refused' when it answers InvalidRequestException (a rotation already in progress, or no rotation function
   * configured); the caller describes the secret to tell which.
   */
  async rotate(token: string): Promise<{ versionId: string } | 'refused'> {
    assertToken(token);
    try {
      const out = await this.call('RotateSecret', () => this.client.send(new RotateSecretCommand({ SecretId: this.secretId, ClientRequestToken: token })));
      return { versionId: out?.VersionId ?? token };
    } catch (err) {
      if (awsErrorName((err as KeyManagementError).cause) === 'InvalidRequestException') return 'refused';
      throw err;
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
