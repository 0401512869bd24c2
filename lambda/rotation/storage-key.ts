/**
 * The state of the KMS key the keyset secret is encrypted under, as the daily monitor measures it:
 * `DescribeKey` (KeyState: a Disabled or PendingDeletion key makes every read of the keyset fail, and a
 * deletion makes it unreadable for good once the pending window ends) and `GetKeyRotationStatus` (the
 * key's own annual rotation, which PCI DSS 3.6.4 expects on). Metadata only: no cryptographic call.
 */
import type { KMSClient } from '@aws-sdk/client-kms';
import { KeyManagementError } from '../keys/errors';
import { AWS_REQUEST_HANDLER } from '../stores/aws-client-options';
import { awsErrorName } from '../stores/secrets-manager-errors';

export interface StorageKeyHealth {
  readonly keyId: string;
  /** Enabled, Disabled, PendingDeletion, ... as KMS reports it. */
  readonly state: string;
  /** When a deletion is scheduled. */
  readonly deletionDate?: string;
  /** Null when the key's state does not let KMS answer (a disabled or pending-deletion key). */
  readonly rotationEnabled: boolean | null;
  /** Enabled, with its own rotation on. */
  readonly healthy: boolean;
}

export interface StorageKey {
  health(): Promise<StorageKeyHealth>;
}

export class KmsStorageKey implements StorageKey {
  private client?: KMSClient;

  constructor(
    readonly keyId: string,
    private readonly options: { readonly client?: KMSClient; readonly region?: string } = {},
  ) {}

  async health(): Promise<StorageKeyHealth> {
    // Loaded on first use: the rotation steps, which never need KMS metadata, do not pay for the client.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const kms = require('./kms-client') as typeof import('./kms-client');
    this.client ??= this.options.client ?? new kms.KMSClient({ ...(this.options.region ? { region: this.options.region } : {}), retryMode: 'standard', maxAttempts: 3, requestHandler: AWS_REQUEST_HANDLER });
    const client = this.client;
    const meta = (await this.call('DescribeKey', () => client.send(new kms.DescribeKeyCommand({ KeyId: this.keyId })))).KeyMetadata;
    const state = meta?.KeyState ?? 'Unknown';
    let rotationEnabled: boolean | null = null;
    if (state === 'Enabled') {
      rotationEnabled = (await this.call('GetKeyRotationStatus', () => client.send(new kms.GetKeyRotationStatusCommand({ KeyId: this.keyId })))).KeyRotationEnabled === true;
    }
    return {
      keyId: this.keyId,
      state,
      ...(meta?.DeletionDate ? { deletionDate: meta.DeletionDate.toISOString() } : {}),
      rotationEnabled,
      healthy: state === 'Enabled' && rotationEnabled === true,
    };
  }

  private async call<T>(operation: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (err) {
      const name = awsErrorName(err);
      const denied = /AccessDenied|Unrecognized|ExpiredToken|InvalidSignature/.test(name);
      throw new KeyManagementError(
        denied ? 'ACCESS_DENIED' : 'KMS_FAILURE',
        `KMS ${operation} on the storage key ${this.keyId} failed (${name})${denied ? '; the rotation role needs kms:DescribeKey and kms:GetKeyRotationStatus on it' : ''}`,
        { cause: err },
      );
    }
  }
}
