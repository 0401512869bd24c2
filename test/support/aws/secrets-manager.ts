/**
 * Secrets Manager as a state machine: secrets, versions, staging labels and Lambda rotation, with an
 * injected clock and no I/O (the HTTP layer in server.ts is separate; tests may also call it in-process).
 *
 * Modelled, from the AWS Secrets Manager API Reference pages GetSecretValue, PutSecretValue,
 * UpdateSecretVersionStage, DescribeSecret, ListSecretVersionIds, RotateSecret, CancelRotateSecret,
 * CreateSecret, DeleteSecret, RestoreSecret, GetResourcePolicy, PutResourcePolicy and
 * DeleteResourcePolicy, and the User Guide pages "Rotation by Lambda function"
 * (the four steps), "Rotation schedules", "Secrets Manager versions" and "Log AWS Secrets Manager
 * events with AWS CloudTrail" (RotationStarted/Succeeded/Failed/Abandoned):
 * - Secret ARNs `arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 random characters>`; a secret
 *   is found by name, full ARN or partial ARN (no suffix); otherwise ResourceNotFoundException
 *   "Secrets Manager can't find the specified secret.".
 * - VersionId = ClientRequestToken (32-64 characters, else ValidationException; in-process calls without
 *   one get a UUID, as the SDK fills it). A staging label is on at most one version: attaching it moves
 *   it. The first version of a secret always gets AWSCURRENT. Whenever AWSCURRENT moves, AWSPREVIOUS
 *   moves to the version AWSCURRENT left.
 * - GetSecretValue: VersionStage defaults to AWSCURRENT; with VersionId and VersionStage the version must
 *   carry the stage; a version without a value (RotateSecret's placeholder) or a missing label/version is
 *   ResourceNotFoundException "... can't find the specified secret value for VersionId: X" / "... for
 *   staging label: L". Sets LastAccessedDate (day resolution, as documented).
 * - PutSecretValue: VersionStages omitted = [AWSCURRENT]; same token + same value = success, nothing
 *   changes; same token + other value = ResourceExistsException; a token naming a version with no value
 *   (a rotation placeholder) sets its value (how a rotation function fills AWSPENDING). Creating a NEW
 *   version while a rotation is in progress (AWSPENDING on a version other than AWSCURRENT) abandons
 *   that rotation: AWSPENDING is removed from the in-progress version and RotationAbandoned is emitted.
 * - Version retention ("Secrets Manager versions"): with more than 100 versions, versions without labels
 *   are removed, oldest first, but never one created less than 24 hours ago (checked on each new version).
 * - UpdateSecretVersionStage: moving a label attached elsewhere needs RemoveFromVersionId = that version
 *   (InvalidParameterException otherwise, with AWS's wording); removing a label from a version that does
 *   not hold it is InvalidParameterException; AWSCURRENT can only be moved, never just removed; an
 *   unknown version is ResourceNotFoundException.
 * - DescribeSecret (VersionIdsToStages lists labelled versions only), ListSecretVersionIds (unlabelled
 *   versions only with IncludeDeprecated; MaxResults 1-100 and NextToken pagination).
 * - RotateSecret: stores RotationLambdaARN / RotationRules if given, InvalidRequestException if no
 *   function is configured, RotationEnabled = true. RotateImmediately (default true) false only
 *   configures. If a rotation is in progress (AWSPENDING on a version other than AWSCURRENT): a
 *   ClientRequestToken naming that version restarts the rotation with it (idempotency); any other token
 *   is InvalidRequestException "A previous rotation isn't complete. That rotation will be reattempted."
 *   and the pending rotation is run again. Otherwise a version VersionId = token, no value, AWSPENDING is
 *   created, RotationStarted emitted, and the call returns at once; the rotation function is then
 *   invoked with Step createSecret, setSecret, testSecret, finishSecret, one after the other, stopping at
 *   the first failure (RotationFailed, labels left as the function left them). All four succeed:
 *   LastRotatedDate = now, NextRotationDate recomputed, RotationSucceeded.
 * - Schedule: NextRotationDate = (LastRotatedDate ?? CreatedDate) + interval for AutomaticallyAfterDays N
 *   or ScheduleExpression rate(N days|hours) (the API reference: "Secrets Manager schedules the date by
 *   adding the rotation interval to the actual date of the last rotation"); `runDueRotations()` starts
 *   every due one. CancelRotateSecret turns RotationEnabled off and touches no label or version.
 * - KMS: a secret under a customer managed key that is not Enabled fails GetSecretValue with
 *   DecryptionFailure and PutSecretValue with EncryptionFailure.
 * - DeleteSecret (RecoveryWindowInDays 7-30, default 30; ForceDeleteWithoutRecovery) and RestoreSecret:
 *   a secret scheduled for deletion answers InvalidRequestException to reads, writes and rotation, and is
 *   gone once the window has passed.
 * - Resource policies as documents: PutResourcePolicy stores the JSON text (MalformedPolicyDocumentException
 *   when it is not a JSON object), GetResourcePolicy answers ARN, Name and ResourcePolicy (omitted when the
 *   secret has none), DeleteResourcePolicy removes it.
 *
 * Not modelled: evaluating resource policies and IAM (see the authorize hook in server.ts), tags, replication,
 * managed rotation, ListSecrets, BatchGetSecretValue, UpdateSecret, GetRandomPassword, cron() schedules
 * and rotation windows (`Duration`; cron expressions are stored but give no NextRotationDate), the
 * testSecret probe RotateSecret runs when RotateImmediately is false, Secrets Manager's own retries of a
 * failed rotation, the versions-per-secret quota, and ingestion of RotationToken (it is only passed on).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import {
  AwsServiceError,
  type Input,
  optionalBoolean,
  optionalNumber,
  optionalObject,
  optionalString,
  optionalStringList,
  requiredString,
  validationError,
} from './errors';

export const AWSCURRENT = 'AWSCURRENT';
export const AWSPENDING = 'AWSPENDING';
export const AWSPREVIOUS = 'AWSPREVIOUS';

export const ROTATION_STEPS = ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const;
export type RotationStep = (typeof ROTATION_STEPS)[number];

/** The event Secrets Manager invokes a rotation function with, once per step. */
export interface RotationEvent {
  readonly Step: RotationStep;
  readonly SecretId: string;
  readonly ClientRequestToken: string;
  readonly RotationToken: string;
}

/** The test's rotation function: resolve = the step succeeded, reject = the invocation failed. */
export type RotationFunction = (event: RotationEvent) => Promise<unknown>;

export interface RotationInvocation {
  readonly secretArn: string;
  readonly step: RotationStep;
  readonly token: string;
  readonly event: RotationEvent;
  readonly at: Date;
  outcome?: 'succeeded' | 'failed';
  error?: string;
}

export type SecretsManagerEventName = 'RotationStarted' | 'RotationSucceeded' | 'RotationFailed' | 'RotationAbandoned';

/** A CloudTrail service event as EventBridge delivers it ("AWS Service Event via CloudTrail"). */
export interface SecretsManagerEvent {
  readonly version: '0';
  readonly id: string;
  readonly 'detail-type': 'AWS Service Event via CloudTrail';
  readonly source: 'aws.secretsmanager';
  readonly account: string;
  readonly time: string;
  readonly region: string;
  readonly resources: readonly string[];
  readonly detail: {
    readonly eventVersion: string;
    readonly userIdentity: { readonly accountId: string; readonly invokedBy: string };
    readonly eventTime: string;
    readonly eventSource: 'secretsmanager.amazonaws.com';
    readonly eventName: SecretsManagerEventName;
    readonly awsRegion: string;
    readonly sourceIPAddress: string;
    readonly userAgent: string;
    readonly requestParameters: null;
    readonly responseElements: null;
    /** SecretId = the secret's ARN (as AWS sends it); VersionId and Step are the stand-in's additions. */
    readonly additionalEventData: { readonly SecretId: string; readonly VersionId?: string; readonly Step?: RotationStep };
    readonly errorCode?: string;
    readonly errorMessage?: string;
    readonly eventID: string;
    readonly readOnly: false;
    readonly eventType: 'AwsServiceEvent';
    readonly managementEvent: true;
    readonly recipientAccountId: string;
    readonly eventCategory: 'Management';
  };
}

export interface RotationRules {
  readonly AutomaticallyAfterDays?: number;
  readonly ScheduleExpression?: string;
  readonly Duration?: string;
}

interface SecretVersion {
  readonly versionId: string;
  string?: string;
  binary?: Buffer;
  readonly stages: Set<string>;
  createdDate: Date;
  lastAccessedDate?: Date;
}

interface Secret {
  readonly arn: string;
  readonly name: string;
  readonly kmsKeyId?: string;
  readonly description?: string;
  createdDate: Date;
  lastChangedDate: Date;
  lastAccessedDate?: Date;
  lastRotatedDate?: Date;
  rotationEnabled: boolean;
  rotationLambdaArn?: string;
  rotationRules?: RotationRules;
  /** In creation order. */
  readonly versions: Map<string, SecretVersion>;
  deletedDate?: Date;
  recoveryWindowDays?: number;
  resourcePolicy?: string;
}

/** A version as tests inspect it. */
export interface VersionView {
  readonly versionId: string;
  readonly stages: readonly string[];
  readonly createdDate: Date;
  readonly hasValue: boolean;
  readonly secretString?: string;
}

export interface SecretsManagerModelOptions {
  readonly region: string;
  readonly accountId: string;
  readonly clock: () => Date;
  /** Whether a KMS key is usable now (Enabled); undefined = no such key. Without it every key is usable. */
  readonly kmsKeyUsable?: (keyRef: string) => boolean | undefined;
}

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
const MAX_VERSIONS = 100;
const MIN_TOKEN = 32;
const MAX_TOKEN = 64;
const SUFFIX_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const NOT_FOUND = "Secrets Manager can't find the specified secret.";
const MARKED_FOR_DELETION = "You can't perform this operation on the secret because it was marked for deletion.";
const PREVIOUS_ROTATION = "A previous rotation isn't complete. That rotation will be reattempted.";

function sameValue(v: SecretVersion, s: string | undefined, b: Buffer | undefined): boolean {
  if (v.string !== undefined || s !== undefined) return v.string === s && b === undefined;
  return v.binary !== undefined && b !== undefined && v.binary.equals(b);
}

export class SecretsManagerModel {
  /** Invoked for each rotation step; unset = the function does not exist (every rotation fails). */
  rotationFunction?: RotationFunction;
  /** Every rotation-function invocation, in order. */
  readonly invocations: RotationInvocation[] = [];
  /** Every event emitted, in order. */
  readonly events: SecretsManagerEvent[] = [];

  private readonly secrets = new Map<string, Secret>();
  private readonly running = new Map<string, { token: string; done: Promise<void> }>();

  constructor(private readonly options: SecretsManagerModelOptions) {}

  private now(): Date {
    return this.options.clock();
  }

  // ---------------------------------------------------------------- seeding and inspection

  /**
   * Creates a secret, as CloudFormation's AWS::SecretsManager::Secret does: with `secretString`, version 1
   * labelled AWSCURRENT; without, an empty secret with no versions.
   */
  createSecret(name: string, options: { kmsKeyId?: string; secretString?: string; description?: string; versionId?: string } = {}): { arn: string; name: string; versionId?: string } {
    const out = this.createSecretOp({
      Name: name,
      KmsKeyId: options.kmsKeyId,
      SecretString: options.secretString,
      Description: options.description,
      ClientRequestToken: options.versionId,
    });
    return { arn: out.ARN, name: out.Name, versionId: out.VersionId };
  }

  /**
   * Configures rotation as CloudFormation's AWS::SecretsManager::RotationSchedule does (RotateSecret with
   * the function and rules). `rotateImmediately` defaults to true, as RotateImmediatelyOnUpdate does;
   * false only configures. Returns the rotation's VersionId when one was started.
   */
  configureRotation(secretId: string, options: { lambdaArn: string; rules?: RotationRules; rotateImmediately?: boolean }): string | undefined {
    const out = this.rotateSecret({
      SecretId: secretId,
      RotationLambdaARN: options.lambdaArn,
      RotationRules: options.rules as Input | undefined,
      RotateImmediately: options.rotateImmediately ?? true,
    });
    return out.VersionId;
  }

  /** Every version of a secret (including unlabelled ones), oldest first. */
  versions(secretId: string): VersionView[] {
    return [...this.find(secretId).versions.values()].map((v) => ({
      versionId: v.versionId,
      stages: [...v.stages],
      createdDate: v.createdDate,
      hasValue: v.string !== undefined || v.binary !== undefined,
      ...(v.string !== undefined ? { secretString: v.string } : {}),
    }));
  }

  versionCount(secretId: string): number {
    return this.find(secretId).versions.size;
  }

  /** The version that carries `stage`, or undefined. */
  versionWithStage(secretId: string, stage: string): string | undefined {
    return this.labelHolder(this.find(secretId), stage)?.versionId;
  }

  /** The labels of one version (throws if there is no such version). */
  stagesOf(secretId: string, versionId: string): string[] {
    return [...this.version(this.find(secretId), versionId).stages];
  }

  /** The SecretString of a version (by id, or by stage with `{stage}`), without touching LastAccessedDate. */
  value(secretId: string, ref: string | { stage: string } = { stage: AWSCURRENT }): string | undefined {
    const secret = this.find(secretId);
    const v = typeof ref === 'string' ? secret.versions.get(ref) : this.labelHolder(secret, ref.stage);
    return v?.string;
  }

  arnOf(secretId: string): string {
    return this.find(secretId).arn;
  }

  nextRotationDate(secretId: string): Date | undefined {
    return this.computeNextRotation(this.find(secretId));
  }

  lastRotatedDate(secretId: string): Date | undefined {
    return this.find(secretId).lastRotatedDate;
  }

  rotationEnabled(secretId: string): boolean {
    return this.find(secretId).rotationEnabled;
  }

  /**
   * Moves every time recorded for a secret (its creation, change, access and last rotation, and each
   * version's creation and last access) `ms` into the past. For processes that read the real clock this is
   * `ms` passing (the injected clock moves only the stand-in's own time): a version made now is then `ms`
   * old to them, as Secrets Manager's 24-hour version retention rule sees it.
   */
  backdate(secretId: string, ms: number): void {
    const secret = this.find(secretId);
    const back = (d: Date): Date => new Date(d.getTime() - ms);
    secret.createdDate = back(secret.createdDate);
    secret.lastChangedDate = back(secret.lastChangedDate);
    if (secret.lastAccessedDate) secret.lastAccessedDate = back(secret.lastAccessedDate);
    if (secret.lastRotatedDate) secret.lastRotatedDate = back(secret.lastRotatedDate);
    for (const v of secret.versions.values()) {
      v.createdDate = back(v.createdDate);
      if (v.lastAccessedDate) v.lastAccessedDate = back(v.lastAccessedDate);
    }
  }

  /** Event names, in order, for one secret (or all). */
  eventNames(secretId?: string): SecretsManagerEventName[] {
    const arn = secretId === undefined ? undefined : this.find(secretId).arn;
    return this.events.filter((e) => arn === undefined || e.detail.additionalEventData.SecretId === arn).map((e) => e.detail.eventName);
  }

  /** Resolves once no rotation is running (including ones started while waiting). */
  async rotationsSettled(): Promise<void> {
    while (this.running.size > 0) {
      await Promise.all([...this.running.values()].map((r) => r.done));
    }
  }

  /**
   * Starts a rotation for every secret with RotationEnabled whose NextRotationDate is at or before the
   * clock, as the rotation schedule does; returns the ARNs started (or reattempted).
   */
  runDueRotations(): string[] {
    const started: string[] = [];
    for (const secret of [...this.secrets.values()]) {
      if (!secret.rotationEnabled || secret.deletedDate || this.running.has(secret.arn)) continue;
      const next = this.computeNextRotation(secret);
      if (!next || next.getTime() > this.now().getTime()) continue;
      const pending = this.pendingRotation(secret);
      if (pending) this.startRotation(secret, pending.versionId);
      else this.beginRotation(secret, randomUUID());
      started.push(secret.arn);
    }
    return started;
  }

  // ---------------------------------------------------------------- operations

  /** Dispatches an operation by its API name (the HTTP layer's entry point). */
  invoke(operation: string, input: Input): unknown {
    switch (operation) {
      case 'GetSecretValue':
        return this.getSecretValue(input);
      case 'PutSecretValue':
        return this.putSecretValue(input);
      case 'UpdateSecretVersionStage':
        return this.updateSecretVersionStage(input);
      case 'DescribeSecret':
        return this.describeSecret(input);
      case 'ListSecretVersionIds':
        return this.listSecretVersionIds(input);
      case 'RotateSecret':
        return this.rotateSecret(input);
      case 'CancelRotateSecret':
        return this.cancelRotateSecret(input);
      case 'CreateSecret':
        return this.createSecretOp(input);
      case 'DeleteSecret':
        return this.deleteSecret(input);
      case 'RestoreSecret':
        return this.restoreSecret(input);
      case 'GetResourcePolicy':
        return this.getResourcePolicy(input);
      case 'PutResourcePolicy':
        return this.putResourcePolicy(input);
      case 'DeleteResourcePolicy':
        return this.deleteResourcePolicy(input);
      default:
        throw new AwsServiceError('UnknownOperationException', `The stand-in does not implement secretsmanager:${operation}`);
    }
  }

  createSecretOp(input: Input): { ARN: string; Name: string; VersionId?: string } {
    const name = requiredString(input, 'Name');
    if (this.lookup(name)) throw new AwsServiceError('ResourceExistsException', `The operation failed because the secret ${name} already exists.`);
    const kmsKeyId = optionalString(input, 'KmsKeyId');
    if (kmsKeyId !== undefined && this.options.kmsKeyUsable && this.options.kmsKeyUsable(kmsKeyId) === undefined) {
      throw new AwsServiceError('InvalidParameterException', `The KMS key ${kmsKeyId} does not exist (create it with aws.kms.createKey()).`);
    }
    const { text, binary } = this.valueOf(input, false);
    const suffix = Array.from(randomBytes(6), (b) => SUFFIX_ALPHABET[b % SUFFIX_ALPHABET.length]).join('');
    const now = this.now();
    const secret: Secret = {
      arn: `arn:aws:secretsmanager:${this.options.region}:${this.options.accountId}:secret:${name}-${suffix}`,
      name,
      kmsKeyId,
      description: optionalString(input, 'Description'),
      createdDate: now,
      lastChangedDate: now,
      rotationEnabled: false,
      versions: new Map(),
    };
    if (text === undefined && binary === undefined) {
      this.secrets.set(secret.arn, secret);
      return { ARN: secret.arn, Name: name };
    }
    const token = this.token(input);
    this.checkKms(secret, 'write');
    this.secrets.set(secret.arn, secret);
    this.addVersion(secret, token, text, binary, [AWSCURRENT]);
    return { ARN: secret.arn, Name: name, VersionId: token };
  }

  getSecretValue(input: Input): Record<string, unknown> {
    const secret = this.live(requiredString(input, 'SecretId'));
    const versionId = optionalString(input, 'VersionId');
    const stage = optionalString(input, 'VersionStage');
    let version: SecretVersion | undefined;
    let missing: string;
    if (versionId !== undefined) {
      version = secret.versions.get(versionId);
      missing = `VersionId: ${versionId}`;
      if (version && stage !== undefined && !version.stages.has(stage)) {
        version = undefined;
        missing = `VersionId: ${versionId} and staging label: ${stage}`;
      }
    } else {
      const label = stage ?? AWSCURRENT;
      version = this.labelHolder(secret, label);
      missing = `staging label: ${label}`;
    }
    if (!version || (version.string === undefined && version.binary === undefined)) {
      throw new AwsServiceError('ResourceNotFoundException', `Secrets Manager can't find the specified secret value for ${missing}`);
    }
    this.checkKms(secret, 'read');
    const today = new Date(Math.floor(this.now().getTime() / DAY_MS) * DAY_MS);
    version.lastAccessedDate = today;
    secret.lastAccessedDate = today;
    return {
      ARN: secret.arn,
      Name: secret.name,
      VersionId: version.versionId,
      SecretString: version.string,
      SecretBinary: version.binary,
      VersionStages: [...version.stages],
      CreatedDate: version.createdDate,
    };
  }

  putSecretValue(input: Input): { ARN: string; Name: string; VersionId: string; VersionStages: string[] } {
    const secret = this.live(requiredString(input, 'SecretId'));
    const token = this.token(input);
    const { text, binary } = this.valueOf(input, true);
    const stages = optionalStringList(input, 'VersionStages');
    const existing = secret.versions.get(token);
    const answer = (v: SecretVersion) => ({ ARN: secret.arn, Name: secret.name, VersionId: v.versionId, VersionStages: [...v.stages] });
    if (existing && (existing.string !== undefined || existing.binary !== undefined)) {
      if (sameValue(existing, text, binary)) return answer(existing);
      throw new AwsServiceError('ResourceExistsException', `You can't modify an existing version, you can only create a new version. A version with VersionId ${token} already exists with a different value.`);
    }
    this.checkKms(secret, 'write');
    if (existing) {
      // A version with no value: the placeholder RotateSecret created. Filling it is the rotation itself.
      existing.string = text;
      existing.binary = binary;
      for (const stage of stages ?? [AWSCURRENT]) this.attach(secret, existing, stage);
      secret.lastChangedDate = this.now();
      return answer(existing);
    }
    const pending = this.pendingRotation(secret);
    if (pending) {
      pending.stages.delete(AWSPENDING);
      this.emit('RotationAbandoned', secret, { VersionId: pending.versionId });
    }
    const created = this.addVersion(secret, token, text, binary, stages ?? [AWSCURRENT]);
    return answer(created);
  }

  updateSecretVersionStage(input: Input): { ARN: string; Name: string } {
    const secret = this.live(requiredString(input, 'SecretId'));
    const stage = requiredString(input, 'VersionStage');
    const moveTo = optionalString(input, 'MoveToVersionId');
    const removeFrom = optionalString(input, 'RemoveFromVersionId');
    const holder = this.labelHolder(secret, stage);
    if (moveTo !== undefined) {
      const target = this.version(secret, moveTo);
      if (removeFrom !== undefined) this.version(secret, removeFrom);
      if (holder && holder !== target) {
        if (removeFrom === undefined) {
          throw new AwsServiceError(
            'InvalidParameterException',
            `The parameter RemoveFromVersionId can't be empty. Staging label ${stage} is currently attached to version ${holder.versionId}, so you must explicitly reference that version in RemoveFromVersionId.`,
          );
        }
        if (removeFrom !== holder.versionId) {
          throw new AwsServiceError('InvalidParameterException', `When you move staging label ${stage}, if you specify RemoveFromVersionId, it must be set to the version that currently has the staging label ${stage}.`);
        }
      } else if (!holder && removeFrom !== undefined) {
        throw new AwsServiceError('InvalidParameterException', `The staging label ${stage} is not attached to version ${removeFrom}.`);
      }
      this.attach(secret, target, stage);
    } else if (removeFrom !== undefined) {
      const from = this.version(secret, removeFrom);
      if (!from.stages.has(stage)) throw new AwsServiceError('InvalidParameterException', `The staging label ${stage} is not attached to version ${removeFrom}.`);
      if (stage === AWSCURRENT) {
        throw new AwsServiceError('InvalidParameterException', `You can't remove the staging label ${AWSCURRENT} from a version; move it to another version with MoveToVersionId instead.`);
      }
      from.stages.delete(stage);
    } else {
      throw new AwsServiceError('InvalidParameterException', 'You must specify MoveToVersionId or RemoveFromVersionId.');
    }
    secret.lastChangedDate = this.now();
    return { ARN: secret.arn, Name: secret.name };
  }

  describeSecret(input: Input): Record<string, unknown> {
    const secret = this.find(requiredString(input, 'SecretId'));
    const labelled = [...secret.versions.values()].filter((v) => v.stages.size > 0);
    return {
      ARN: secret.arn,
      Name: secret.name,
      Description: secret.description,
      KmsKeyId: secret.kmsKeyId,
      RotationEnabled: secret.rotationEnabled,
      RotationLambdaARN: secret.rotationLambdaArn,
      RotationRules: secret.rotationRules,
      LastRotatedDate: secret.lastRotatedDate,
      LastChangedDate: secret.lastChangedDate,
      LastAccessedDate: secret.lastAccessedDate,
      DeletedDate: secret.deletedDate,
      NextRotationDate: this.computeNextRotation(secret),
      CreatedDate: secret.createdDate,
      VersionIdsToStages: labelled.length > 0 ? Object.fromEntries(labelled.map((v) => [v.versionId, [...v.stages]])) : undefined,
    };
  }

  listSecretVersionIds(input: Input): Record<string, unknown> {
    const secret = this.find(requiredString(input, 'SecretId'));
    const includeDeprecated = optionalBoolean(input, 'IncludeDeprecated') ?? false;
    const max = optionalNumber(input, 'MaxResults');
    if (max !== undefined && (!Number.isInteger(max) || max < 1 || max > 100)) {
      throw validationError('maxResults', max, max < 1 ? 'Member must have value greater than or equal to 1' : 'Member must have value less than or equal to 100');
    }
    const all = [...secret.versions.values()].filter((v) => includeDeprecated || v.stages.size > 0);
    const nextToken = optionalString(input, 'NextToken');
    let offset = 0;
    if (nextToken !== undefined) {
      const decoded = decodeToken(nextToken);
      if (!decoded || decoded.arn !== secret.arn || decoded.deprecated !== includeDeprecated || decoded.offset > all.length) {
        throw new AwsServiceError('InvalidNextTokenException', 'The NextToken value is invalid.');
      }
      offset = decoded.offset;
    }
    const size = max ?? 100;
    const page = all.slice(offset, offset + size);
    const next = offset + size < all.length ? encodeToken({ arn: secret.arn, offset: offset + size, deprecated: includeDeprecated }) : undefined;
    return {
      Versions: page.map((v) => ({ VersionId: v.versionId, VersionStages: [...v.stages], LastAccessedDate: v.lastAccessedDate, CreatedDate: v.createdDate })),
      NextToken: next,
      ARN: secret.arn,
      Name: secret.name,
    };
  }

  rotateSecret(input: Input): { ARN: string; Name: string; VersionId?: string } {
    const secret = this.live(requiredString(input, 'SecretId'));
    const lambdaArn = optionalString(input, 'RotationLambdaARN');
    const rules = optionalObject(input, 'RotationRules');
    const immediately = optionalBoolean(input, 'RotateImmediately') ?? true;
    const token = this.token(input);
    const parsedRules = rules ? parseRules(rules) : undefined;
    if (!lambdaArn && !secret.rotationLambdaArn) {
      throw new AwsServiceError('InvalidRequestException', 'No Lambda rotation function ARN is associated with this secret.');
    }
    if (lambdaArn) secret.rotationLambdaArn = lambdaArn;
    if (parsedRules) secret.rotationRules = parsedRules;
    secret.rotationEnabled = true;
    secret.lastChangedDate = this.now();
    if (!immediately) return { ARN: secret.arn, Name: secret.name };

    const running = this.running.get(secret.arn);
    if (running) {
      if (running.token === token) return { ARN: secret.arn, Name: secret.name, VersionId: token };
      throw new AwsServiceError('InvalidRequestException', PREVIOUS_ROTATION);
    }
    const pending = this.pendingRotation(secret);
    if (pending) {
      if (pending.versionId === token) {
        this.startRotation(secret, token);
        return { ARN: secret.arn, Name: secret.name, VersionId: token };
      }
      this.startRotation(secret, pending.versionId);
      throw new AwsServiceError('InvalidRequestException', PREVIOUS_ROTATION);
    }
    if (secret.versions.has(token)) {
      // A retry of a RotateSecret whose rotation already completed: nothing new to do.
      return { ARN: secret.arn, Name: secret.name, VersionId: token };
    }
    this.beginRotation(secret, token);
    return { ARN: secret.arn, Name: secret.name, VersionId: token };
  }

  cancelRotateSecret(input: Input): { ARN: string; Name: string; VersionId?: string } {
    const secret = this.live(requiredString(input, 'SecretId'));
    secret.rotationEnabled = false;
    secret.lastChangedDate = this.now();
    return { ARN: secret.arn, Name: secret.name, VersionId: this.pendingRotation(secret)?.versionId };
  }

  deleteSecret(input: Input): { ARN: string; Name: string; DeletionDate: Date } {
    const secret = this.find(requiredString(input, 'SecretId'));
    const force = optionalBoolean(input, 'ForceDeleteWithoutRecovery') ?? false;
    const window = optionalNumber(input, 'RecoveryWindowInDays');
    if (force && window !== undefined) {
      throw new AwsServiceError('InvalidParameterException', 'You can\'t use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.');
    }
    if (window !== undefined && (!Number.isInteger(window) || window < 7 || window > 30)) {
      throw new AwsServiceError('InvalidParameterException', 'The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).');
    }
    if (secret.deletedDate && !force) throw new AwsServiceError('InvalidRequestException', MARKED_FOR_DELETION);
    const now = this.now();
    if (force) {
      this.secrets.delete(secret.arn);
      return { ARN: secret.arn, Name: secret.name, DeletionDate: now };
    }
    secret.deletedDate = now;
    secret.recoveryWindowDays = window ?? 30;
    secret.lastChangedDate = now;
    return { ARN: secret.arn, Name: secret.name, DeletionDate: new Date(now.getTime() + secret.recoveryWindowDays * DAY_MS) };
  }

  restoreSecret(input: Input): { ARN: string; Name: string } {
    const secret = this.find(requiredString(input, 'SecretId'));
    secret.deletedDate = undefined;
    secret.recoveryWindowDays = undefined;
    secret.lastChangedDate = this.now();
    return { ARN: secret.arn, Name: secret.name };
  }

  getResourcePolicy(input: Input): { ARN: string; Name: string; ResourcePolicy?: string } {
    const secret = this.find(requiredString(input, 'SecretId'));
    return { ARN: secret.arn, Name: secret.name, ResourcePolicy: secret.resourcePolicy };
  }

  putResourcePolicy(input: Input): { ARN: string; Name: string } {
    const secret = this.live(requiredString(input, 'SecretId'));
    const policy = requiredString(input, 'ResourcePolicy');
    let parsed: unknown;
    try {
      parsed = JSON.parse(policy);
    } catch {
      parsed = undefined;
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new AwsServiceError('MalformedPolicyDocumentException', 'This resource policy contains a syntax error.');
    }
    secret.resourcePolicy = policy;
    secret.lastChangedDate = this.now();
    return { ARN: secret.arn, Name: secret.name };
  }

  deleteResourcePolicy(input: Input): { ARN: string; Name: string } {
    const secret = this.live(requiredString(input, 'SecretId'));
    secret.resourcePolicy = undefined;
    secret.lastChangedDate = this.now();
    return { ARN: secret.arn, Name: secret.name };
  }

  /** The ARN a SecretId stands for (for authorization messages), or a made-up one for an unknown id. */
  resourceArn(input: Input): string {
    const id = optionalString(input, 'SecretId') ?? optionalString(input, 'Name') ?? '*';
    return this.lookup(id)?.arn ?? (id.startsWith('arn:') ? id : `arn:aws:secretsmanager:${this.options.region}:${this.options.accountId}:secret:${id}`);
  }

  // ---------------------------------------------------------------- rotation

  /** A version carrying AWSPENDING but not AWSCURRENT: a rotation that has not finished. */
  private pendingRotation(secret: Secret): SecretVersion | undefined {
    const pending = this.labelHolder(secret, AWSPENDING);
    return pending && !pending.stages.has(AWSCURRENT) ? pending : undefined;
  }

  private beginRotation(secret: Secret, token: string): void {
    const placeholder: SecretVersion = { versionId: token, stages: new Set(), createdDate: this.now() };
    secret.versions.set(token, placeholder);
    this.attach(secret, placeholder, AWSPENDING);
    secret.lastChangedDate = this.now();
    this.retainVersions(secret);
    this.startRotation(secret, token);
  }

  private startRotation(secret: Secret, token: string): void {
    this.emit('RotationStarted', secret, { VersionId: token });
    let finish = (): void => undefined;
    const done = new Promise<void>((resolve) => (finish = resolve));
    this.running.set(secret.arn, { token, done });
    // Asynchronous, as AWS is: the RotateSecret answer goes out before the first step runs.
    setImmediate(() => {
      this.runSteps(secret, token)
        .catch(() => undefined)
        .finally(() => {
          this.running.delete(secret.arn);
          finish();
        });
    });
  }

  private async runSteps(secret: Secret, token: string): Promise<void> {
    const rotationToken = randomUUID();
    for (const step of ROTATION_STEPS) {
      const event: RotationEvent = { Step: step, SecretId: secret.arn, ClientRequestToken: token, RotationToken: rotationToken };
      const invocation: RotationInvocation = { secretArn: secret.arn, step, token, event, at: this.now() };
      this.invocations.push(invocation);
      try {
        const fn = this.rotationFunction;
        if (!fn) throw Object.assign(new Error(`Function not found: ${secret.rotationLambdaArn ?? '(none)'}`), { name: 'ResourceNotFoundException' });
        await fn(event);
        invocation.outcome = 'succeeded';
      } catch (err) {
        invocation.outcome = 'failed';
        invocation.error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
        this.emit('RotationFailed', secret, { VersionId: token, Step: step }, {
          errorCode: err instanceof Error ? err.name : 'Error',
          errorMessage: invocation.error,
        });
        return;
      }
    }
    secret.lastRotatedDate = this.now();
    secret.lastChangedDate = this.now();
    this.emit('RotationSucceeded', secret, { VersionId: token });
  }

  private computeNextRotation(secret: Secret): Date | undefined {
    if (!secret.rotationEnabled || !secret.rotationRules) return undefined;
    const interval = intervalMs(secret.rotationRules);
    if (interval === undefined) return undefined;
    return new Date((secret.lastRotatedDate ?? secret.createdDate).getTime() + interval);
  }

  private emit(name: SecretsManagerEventName, secret: Secret, data: { VersionId?: string; Step?: RotationStep }, error?: { errorCode: string; errorMessage: string }): void {
    const at = this.now();
    const time = at.toISOString().replace(/\.\d{3}Z$/, 'Z');
    const { accountId: account, region } = this.options;
    this.events.push({
      version: '0',
      id: randomUUID(),
      'detail-type': 'AWS Service Event via CloudTrail',
      source: 'aws.secretsmanager',
      account,
      time,
      region,
      resources: [],
      detail: {
        eventVersion: '1.11',
        userIdentity: { accountId: account, invokedBy: 'secretsmanager.amazonaws.com' },
        eventTime: time,
        eventSource: 'secretsmanager.amazonaws.com',
        eventName: name,
        awsRegion: region,
        sourceIPAddress: 'secretsmanager.amazonaws.com',
        userAgent: 'secretsmanager.amazonaws.com',
        requestParameters: null,
        responseElements: null,
        additionalEventData: { SecretId: secret.arn, ...data },
        ...(error ?? {}),
        eventID: randomUUID(),
        readOnly: false,
        eventType: 'AwsServiceEvent',
        managementEvent: true,
        recipientAccountId: account,
        eventCategory: 'Management',
      },
    });
  }

  // ---------------------------------------------------------------- helpers

  private lookup(id: string): Secret | undefined {
    let secret = this.secrets.get(id);
    if (!secret) {
      for (const s of this.secrets.values()) {
        if (s.name === id || s.arn.slice(0, s.arn.length - 7) === id) {
          secret = s;
          break;
        }
      }
    }
    if (secret?.deletedDate && secret.recoveryWindowDays !== undefined && secret.deletedDate.getTime() + secret.recoveryWindowDays * DAY_MS <= this.now().getTime()) {
      this.secrets.delete(secret.arn);
      return undefined;
    }
    return secret;
  }

  private find(id: string): Secret {
    const secret = this.lookup(id);
    if (!secret) throw new AwsServiceError('ResourceNotFoundException', NOT_FOUND);
    return secret;
  }

  /** A secret that is not scheduled for deletion. */
  private live(id: string): Secret {
    const secret = this.find(id);
    if (secret.deletedDate) throw new AwsServiceError('InvalidRequestException', MARKED_FOR_DELETION);
    return secret;
  }

  private version(secret: Secret, versionId: string): SecretVersion {
    const v = secret.versions.get(versionId);
    if (!v) throw new AwsServiceError('ResourceNotFoundException', `Secrets Manager can't find the specified secret version: ${versionId}`);
    return v;
  }

  private labelHolder(secret: Secret, stage: string): SecretVersion | undefined {
    for (const v of secret.versions.values()) if (v.stages.has(stage)) return v;
    return undefined;
  }

  /** Attaches a label (moving it); moving AWSCURRENT moves AWSPREVIOUS to the version it left. */
  private attach(secret: Secret, target: SecretVersion, stage: string): void {
    const holder = this.labelHolder(secret, stage);
    if (holder === target) return;
    holder?.stages.delete(stage);
    target.stages.add(stage);
    if (stage === AWSCURRENT && holder) {
      this.labelHolder(secret, AWSPREVIOUS)?.stages.delete(AWSPREVIOUS);
      holder.stages.add(AWSPREVIOUS);
    }
  }

  private addVersion(secret: Secret, token: string, text: string | undefined, binary: Buffer | undefined, stages: readonly string[]): SecretVersion {
    const version: SecretVersion = { versionId: token, string: text, binary, stages: new Set(), createdDate: this.now() };
    const first = secret.versions.size === 0;
    secret.versions.set(token, version);
    const labels = first && !stages.includes(AWSCURRENT) ? [...stages, AWSCURRENT] : stages;
    for (const stage of labels) this.attach(secret, version, stage);
    secret.lastChangedDate = this.now();
    this.retainVersions(secret);
    return version;
  }

  /** More than 100 versions: drop unlabelled ones, oldest first, that are at least 24 hours old. */
  private retainVersions(secret: Secret): void {
    if (secret.versions.size <= MAX_VERSIONS) return;
    const cutoff = this.now().getTime() - DAY_MS;
    for (const v of [...secret.versions.values()]) {
      if (secret.versions.size <= MAX_VERSIONS) break;
      if (v.stages.size === 0 && v.createdDate.getTime() <= cutoff) secret.versions.delete(v.versionId);
    }
  }

  private token(input: Input): string {
    const token = optionalString(input, 'ClientRequestToken') ?? randomUUID();
    if (token.length < MIN_TOKEN) throw validationError('clientRequestToken', token, `Member must have length greater than or equal to ${MIN_TOKEN}`);
    if (token.length > MAX_TOKEN) throw validationError('clientRequestToken', token, `Member must have length less than or equal to ${MAX_TOKEN}`);
    return token;
  }

  private valueOf(input: Input, required: boolean): { text?: string; binary?: Buffer } {
    const text = optionalString(input, 'SecretString');
    const raw = input.SecretBinary;
    const binary = raw === undefined || raw === null ? undefined : raw instanceof Uint8Array ? Buffer.from(raw) : typeof raw === 'string' ? Buffer.from(raw, 'base64') : undefined;
    if (text !== undefined && binary !== undefined) throw new AwsServiceError('InvalidParameterException', 'You can\'t specify both SecretString and SecretBinary.');
    if (required && text === undefined && binary === undefined) throw new AwsServiceError('InvalidParameterException', 'You must provide either SecretString or SecretBinary.');
    return { text, binary };
  }

  private checkKms(secret: Secret, direction: 'read' | 'write'): void {
    if (secret.kmsKeyId === undefined || !this.options.kmsKeyUsable) return;
    if (this.options.kmsKeyUsable(secret.kmsKeyId) === true) return;
    if (direction === 'read') throw new AwsServiceError('DecryptionFailure', "Secrets Manager can't decrypt the protected secret text using the provided KMS key.");
    throw new AwsServiceError('EncryptionFailure', "Secrets Manager can't encrypt the protected secret text using the provided KMS key. Check that the KMS key is available, enabled, and not in an invalid state.");
  }
}

function parseRules(rules: Input): RotationRules {
  const days = optionalNumber(rules, 'AutomaticallyAfterDays');
  const expression = optionalString(rules, 'ScheduleExpression');
  const duration = optionalString(rules, 'Duration');
  if (days !== undefined && (!Number.isInteger(days) || days < 1 || days > 1000)) {
    throw new AwsServiceError('InvalidParameterException', 'The AutomaticallyAfterDays value must be between 1 and 1000 days.');
  }
  if (expression !== undefined && !/^(rate\(\d+ (hours?|days?)\)|cron\(.+\))$/.test(expression)) {
    throw new AwsServiceError('InvalidParameterException', `Invalid schedule expression: ${expression}`);
  }
  const rate = expression === undefined ? undefined : /^rate\((\d+) (hours?|days?)\)$/.exec(expression);
  if (rate) {
    const n = Number(rate[1]);
    if (rate[2].startsWith('hour') ? n < 4 || n > 23 : n < 1 || n > 1000) throw new AwsServiceError('InvalidParameterException', `Invalid schedule expression: ${expression}`);
  }
  if (duration !== undefined && !/^([1-9]|1\d|2[0-4])h$/.test(duration)) throw new AwsServiceError('InvalidParameterException', `Invalid Duration: ${duration}`);
  return { ...(days !== undefined ? { AutomaticallyAfterDays: days } : {}), ...(expression !== undefined ? { ScheduleExpression: expression } : {}), ...(duration !== undefined ? { Duration: duration } : {}) };
}

function intervalMs(rules: RotationRules): number | undefined {
  const rate = rules.ScheduleExpression === undefined ? undefined : /^rate\((\d+) (hours?|days?)\)$/.exec(rules.ScheduleExpression);
  if (rate) return Number(rate[1]) * (rate[2].startsWith('hour') ? HOUR_MS : DAY_MS);
  if (rules.ScheduleExpression === undefined && rules.AutomaticallyAfterDays !== undefined) return rules.AutomaticallyAfterDays * DAY_MS;
  return undefined;
}

function encodeToken(t: { arn: string; offset: number; deprecated: boolean }): string {
  return Buffer.from(JSON.stringify(t)).toString('base64url');
}

function decodeToken(token: string): { arn: string; offset: number; deprecated: boolean } | undefined {
  try {
    const t = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { arn?: unknown; offset?: unknown; deprecated?: unknown };
    if (typeof t.arn === 'string' && typeof t.offset === 'number' && Number.isInteger(t.offset) && t.offset >= 0 && typeof t.deprecated === 'boolean') {
      return { arn: t.arn, offset: t.offset, deprecated: t.deprecated };
    }
  } catch {
    // fall through
  }
  return undefined;
}
