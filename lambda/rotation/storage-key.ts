/**
 * The state of the KMS key the keyset secret is encrypted under, as the daily monitor measures it:
 * `DescribeKey` (KeyState: a Disabled or PendingDeletion key makes every read of the keyset fail, and a
 * deletion makes it unreadable for good once the pending window ends) and `GetKeyRotationStatus` (the
 * key's own annual rotation, which PCI DSS 3.6.4 expects on). Metadata only: no cryptographic call.
 */
import type { KMSClient } from '@aws-sdk/client-kms';
import { KeyManagementError } from '../keys/errors';
import { awsMaxAttempts, awsRequestHandler } from '../stores/aws-client-options';
import { awsErrorName, isMissingRegion, isThrottling, isUnreachable } from '../stores/secrets-manager-errors';

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
    // Loaded on first use (kms-client.ts; the bundle takes its three names from the SDK's per-command modules): the
    // rotation steps, which never need KMS metadata, do not pay for the client.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const kms = require('./kms-client') as typeof import('./kms-client');
    this.client ??= this.options.client ?? new kms.KMSClient({ ...(this.options.region ? { region: this.options.region } : {}), retryMode: 'standard', maxAttempts: awsMaxAttempts(3), requestHandler: awsRequestHandler() });
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
      const where = `KMS ${operation} on the storage key ${this.keyId}`;
      const cause = { cause: err };
      if (/AccessDenied|Unrecognized|ExpiredToken|InvalidSignature/.test(name)) {
        throw new KeyManagementError('ACCESS_DENIED', `${where} failed (${name}); the rotation role needs kms:DescribeKey and kms:GetKeyRotationStatus on it`, cause);
      }
      // Not the key's fault: a KMS_FAILURE would send on-call to check a key that is fine.
      if (isThrottling(err)) throw new KeyManagementError('THROTTLED', `${where} was throttled (${name}) and the SDK's retries were exhausted; the next monitor run measures it again`, cause);
      if (isUnreachable(err)) throw new KeyManagementError('STORE_UNAVAILABLE', `cannot reach KMS for ${operation} on the storage key ${this.keyId} (${name}) after the SDK's retries; check the function's network path to KMS (a VPC endpoint) and any endpoint override (AWS_ENDPOINT_URL_KMS, AWS_ENDPOINT_URL)`, cause);
      if (isMissingRegion(err)) throw new KeyManagementError('INVALID_INPUT', `no AWS region for ${where}; set AWS_REGION`, cause);
      throw new KeyManagementError('KMS_FAILURE', `${where} failed (${name})`, cause);
    }
  }
}
