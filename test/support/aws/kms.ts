/**
 * KMS keys, as far as the code under test looks at them: their state and rotation status.
 *
 * Modelled (AWS KMS API Reference: DescribeKey, GetKeyRotationStatus; Developer Guide: "Key states of
 * AWS KMS keys"):
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
 * - An unknown key: NotFoundException "Key '<arn>' does not exist".
 * - `usable(keyRef)`: whether the key could encrypt/decrypt now (Enabled), which the Secrets Manager model
 *   asks before it reads (DecryptionFailure) or writes (EncryptionFailure) a secret under this key.
 *
 * Not modelled: aliases, grants and key policies, cryptographic operations (Encrypt, Decrypt,
 * GenerateDataKey), multi-Region keys, imported key material, custom key stores, on-demand rotation,
 * and the transition from PendingDeletion to deleted when the window ends.
 */
import { randomUUID } from 'node:crypto';
import { AwsServiceError, type Input, optionalString, requiredString } from './errors';

export type KeyState = 'Enabled' | 'Disabled' | 'PendingDeletion';

export interface KmsKey {
  readonly keyId: string;
  readonly arn: string;
  readonly creationDate: Date;
  readonly description: string;
  keyState: KeyState;
  rotationEnabled: boolean;
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
    return { KeyRotationEnabled: enabled, KeyId: key.arn, RotationPeriodInDays: enabled ? 365 : undefined };
  }

  /** Dispatches an operation by its API name (the HTTP layer's entry point). */
  invoke(operation: string, input: Input): unknown {
    switch (operation) {
      case 'DescribeKey':
        return this.describeKey(input);
      case 'GetKeyRotationStatus':
        return this.getKeyRotationStatus(input);
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
