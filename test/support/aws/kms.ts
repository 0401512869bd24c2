/**
 * KMS keys, as far as the code under test and the RUNBOOK's commands look at them: their state and
 * rotation status.
 *
 * Modelled (AWS KMS API Reference: DescribeKey, GetKeyRotationStatus, CancelKeyDeletion, EnableKey,
 * EnableKeyRotation; Developer Guide: "Key states of AWS KMS keys"):
 * - DescribeKey(KeyId = key id or key ARN): KeyMetadata with AWSAccountId, KeyId, Arn, CreationDate,
 *   Enabled (true only in the Enabled state), Description, KeyUsage ENCRYPT_DECRYPT, KeyState, Origin
 *   AWS_KMS, KeyManager CUSTOMER, KeySpec / CustomerMasterKeySpec SYMMETRIC_DEFAULT,
 *   EncryptionAlgorithms, MultiRegion false, and DeletionDate / PendingDeletionWindowInDays while
 *   PendingDeletion (default window 30 days). DescribeKey works in every key state.
 * - GetKeyRotationStatus: KeyRotationEnabled, KeyId, RotationPeriodInDays (365) when enabled. The API
 *   reference says the status "does not change when you disable a KMS key" and that "while a KMS key is
 *   pending deletion, its key rotation status is false" (restored if the deletion is cancelled). So a
 *   Disabled key answers its stored status (no DisabledException: that error is for cryptographic
 *   operations), a PendingDeletion key answers false.
 * - CancelKeyDeletion: a PendingDeletion key becomes Disabled ("the key state of the KMS key is
 *   Disabled"; enable it with EnableKey) and answers its KeyId as the key ARN; any other state is
 *   KMSInvalidStateException "<arn> is not pending deletion".
 * - EnableKey: Disabled (or already Enabled) becomes Enabled; a PendingDeletion key is
 *   KMSInvalidStateException "<arn> is pending deletion.".
 * - EnableKeyRotation (RotationPeriodInDays 90-2560, default 365): turns the key's rotation on; a
 *   Disabled key is DisabledException "<arn> is disabled.", a PendingDeletion key
 *   KMSInvalidStateException.
 * - An unknown key: NotFoundException "Key '<arn>' does not exist".
 * - `usable(keyRef)`: whether the key could encrypt/decrypt now (Enabled), which the Secrets Manager model
 *   asks before it reads (DecryptionFailure) or writes (EncryptionFailure) a secret under this key.
 *
 * Not modelled: aliases, grants and key policies, cryptographic operations (Encrypt, Decrypt,
 * GenerateDataKey), multi-Region keys, imported key material, custom key stores, on-demand rotation,
 * the calls that disable or schedule deletion (tests use `setState`), and the transition from
 * PendingDeletion to deleted when the window ends.
 */
import { randomUUID } from 'node:crypto';
import { AwsServiceError, type Input, optionalNumber, optionalString, requiredString } from './errors';

export type KeyState = 'Enabled' | 'Disabled' | 'PendingDeletion';

export interface KmsKey {
  readonly keyId: string;
  readonly arn: string;
  readonly creationDate: Date;
  readonly description: string;
  keyState: KeyState;
  rotationEnabled: boolean;
  rotationPeriodInDays?: number;
  deletionDate?: Date;
}

export interface KmsModelOptions {
  readonly region: string;
  readonly accountId: string;
  readonly clock: () => Date;
}

const DAY_MS = 86_400_000;

export class KmsModel {
  private readonly keys = new Map<string, KmsKey>();

  constructor(private readonly options: KmsModelOptions) {}

  /** Creates a customer managed symmetric key (Enabled, rotation off unless asked). */
  createKey(options: { keyState?: KeyState; rotationEnabled?: boolean; description?: string } = {}): { keyId: string; arn: string } {
    const keyId = randomUUID();
    const arn = `arn:aws:kms:${this.options.region}:${this.options.accountId}:key/${keyId}`;
    const key: KmsKey = { keyId, arn, creationDate: this.options.clock(), description: options.description ?? '', keyState: 'Enabled', rotationEnabled: options.rotationEnabled ?? false };
    this.keys.set(keyId, key);
    if (options.keyState) this.setState(keyId, options.keyState);
    return { keyId, arn };
  }

  /** Moves a key to a state, as EnableKey / DisableKey / ScheduleKeyDeletion / CancelKeyDeletion would. */
  setState(keyRef: string, state: KeyState, pendingWindowInDays = 30): void {
    const key = this.require(keyRef);
    key.keyState = state;
    key.deletionDate = state === 'PendingDeletion' ? new Date(this.options.clock().getTime() + pendingWindowInDays * DAY_MS) : undefined;
  }

  setRotation(keyRef: string, enabled: boolean): void {
    this.require(keyRef).rotationEnabled = enabled;
  }

  /** The key named by a key id or key ARN, or undefined. */
  find(keyRef: string): KmsKey | undefined {
    const id = keyRef.startsWith('arn:') ? keyRef.slice(keyRef.lastIndexOf('/') + 1) : keyRef;
    const key = this.keys.get(id);
    if (!key) return undefined;
    return keyRef.startsWith('arn:') && keyRef !== key.arn ? undefined : key;
  }

  /** Whether the key can be used for encryption now; undefined when the key does not exist. */
  usable(keyRef: string): boolean | undefined {
    const key = this.find(keyRef);
    return key ? key.keyState === 'Enabled' : undefined;
  }

  describeKey(input: Input): { KeyMetadata: Record<string, unknown> } {
    const key = this.require(requiredString(input, 'KeyId'));
    return {
      KeyMetadata: {
        AWSAccountId: this.options.accountId,
        KeyId: key.keyId,
        Arn: key.arn,
        CreationDate: key.creationDate,
        Enabled: key.keyState === 'Enabled',
        Description: key.description,
        KeyUsage: 'ENCRYPT_DECRYPT',
        KeyState: key.keyState,
        DeletionDate: key.deletionDate,
        PendingDeletionWindowInDays: key.deletionDate ? Math.round((key.deletionDate.getTime() - this.options.clock().getTime()) / DAY_MS) : undefined,
        Origin: 'AWS_KMS',
        KeyManager: 'CUSTOMER',
        CustomerMasterKeySpec: 'SYMMETRIC_DEFAULT',
        KeySpec: 'SYMMETRIC_DEFAULT',
        EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'],
        MultiRegion: false,
      },
    };
  }

  getKeyRotationStatus(input: Input): Record<string, unknown> {
    const key = this.require(requiredString(input, 'KeyId'));
    const enabled = key.keyState !== 'PendingDeletion' && key.rotationEnabled;
    return { KeyRotationEnabled: enabled, KeyId: key.arn, RotationPeriodInDays: enabled ? (key.rotationPeriodInDays ?? 365) : undefined };
  }

  cancelKeyDeletion(input: Input): { KeyId: string } {
    const key = this.require(requiredString(input, 'KeyId'));
    if (key.keyState !== 'PendingDeletion') throw new AwsServiceError('KMSInvalidStateException', `${key.arn} is not pending deletion`);
    this.setState(key.keyId, 'Disabled');
    return { KeyId: key.arn };
  }

  enableKey(input: Input): Record<string, never> {
    const key = this.require(requiredString(input, 'KeyId'));
    if (key.keyState === 'PendingDeletion') throw new AwsServiceError('KMSInvalidStateException', `${key.arn} is pending deletion.`);
    this.setState(key.keyId, 'Enabled');
    return {};
  }

  enableKeyRotation(input: Input): Record<string, never> {
    const key = this.require(requiredString(input, 'KeyId'));
    const period = optionalNumber(input, 'RotationPeriodInDays');
    if (period !== undefined && (!Number.isInteger(period) || period < 90 || period > 2560)) {
      throw new AwsServiceError('ValidationException', `1 validation error detected: Value '${period}' at 'rotationPeriodInDays' failed to satisfy constraint: Member must have value between 90 and 2560`);
    }
    if (key.keyState === 'Disabled') throw new AwsServiceError('DisabledException', `${key.arn} is disabled.`);
    if (key.keyState === 'PendingDeletion') throw new AwsServiceError('KMSInvalidStateException', `${key.arn} is pending deletion.`);
    key.rotationEnabled = true;
    if (period !== undefined) key.rotationPeriodInDays = period;
    return {};
  }

  /** Dispatches an operation by its API name (the HTTP layer's entry point). */
  invoke(operation: string, input: Input): unknown {
    switch (operation) {
      case 'DescribeKey':
        return this.describeKey(input);
      case 'GetKeyRotationStatus':
        return this.getKeyRotationStatus(input);
      case 'CancelKeyDeletion':
        return this.cancelKeyDeletion(input);
      case 'EnableKey':
        return this.enableKey(input);
      case 'EnableKeyRotation':
        return this.enableKeyRotation(input);
      default:
        throw new AwsServiceError('UnknownOperationException', `The stand-in does not implement kms:${operation}`);
    }
  }

  private require(keyRef: string): KmsKey {
    const key = this.find(keyRef);
    if (!key) {
      const shown = keyRef.startsWith('arn:') ? keyRef : `arn:aws:kms:${this.options.region}:${this.options.accountId}:key/${keyRef}`;
      throw new AwsServiceError('NotFoundException', `Key '${shown}' does not exist`);
    }
    return key;
  }

  /** The ARN a key reference stands for (for authorization messages). */
  resourceArn(input: Input): string {
    const ref = optionalString(input, 'KeyId') ?? '*';
    return this.find(ref)?.arn ?? (ref.startsWith('arn:') ? ref : `arn:aws:kms:${this.options.region}:${this.options.accountId}:key/${ref}`);
  }
}
