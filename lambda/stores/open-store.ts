/**
 * Store URIs, as the CLI and services name them:
 *   file:PATH            the local keyset file (default `file:.alphapulse/keyset.json`)
 *   env:                 ALPHAPULSE_ENCRYPTION_* variables, read-only
 *   aws:SECRET_ID        AWS Secrets Manager
 *   vault:MOUNT/PATH     HashiCorp Vault KV v2
 */
import { KeyManagementError } from '../keys/errors';
import { EnvStore } from './env-store';
import { DEFAULT_KEYSET_PATH, FileStore } from './file-store';
import type { KeysetStore, StoreKind } from './store';
import { openVaultStore } from './vault-store';

export const STORE_ENV_VAR = 'KEY_MANAGER_STORE';
export const DEFAULT_STORE_URI = `file:${DEFAULT_KEYSET_PATH}`;

export interface StoreUri {
  readonly kind: Exclude<StoreKind, 'memory'>;
  /** Path, secret id or mount/path; empty for env. */
  readonly target: string;
}

export interface OpenStoreOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** AWS region for `aws:` stores. */
  readonly region?: string;
  /** AWS-compatible endpoint for `aws:` stores (else AWS_ENDPOINT_URL). */
  readonly endpointUrl?: string;
}

/** Opens one store kind's backend from its target. */
export type StoreOpener = (target: string, options: OpenStoreOptions) => KeysetStore;

const openers = new Map<StoreUri['kind'], StoreOpener>([
  ['file', (target) => new FileStore(target)],
  ['env', (_target, options) => new EnvStore(options.env ?? process.env)],
  ['vault', (target, options) => openVaultStore(target, options.env ?? process.env)],
  // Required on first use, so that file and env stores (and CLI start-up) never load the AWS SDK.
  ['aws', (target, options) => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { SecretsManagerStore } = require('./secrets-manager-store') as typeof import('./secrets-manager-store');
    const env = options.env ?? process.env;
    return new SecretsManagerStore({
      secretId: target,
      region: options.region ?? (env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined),
      endpointUrl: options.endpointUrl ?? (env.AWS_ENDPOINT_URL_SECRETS_MANAGER || env.AWS_ENDPOINT_URL || undefined),
    });
  }],
]);

export function parseStoreUri(uri: string): StoreUri {
  const match = /^(file|env|aws|vault):(.*)$/s.exec(uri.trim());
  if (!match) {
    throw new KeyManagementError('INVALID_INPUT', `store '${uri.slice(0, 100)}' is not recognised; use file:PATH, env:, aws:SECRET_ID or vault:MOUNT/PATH`);
  }
  const kind = match[1] as StoreUri['kind'];
  const target = match[2];
  if (kind === 'env' && target !== '') throw new KeyManagementError('INVALID_INPUT', `the env store takes no target: write 'env:'`);
  if (kind !== 'env' && target === '') throw new KeyManagementError('INVALID_INPUT', `store '${kind}:' needs a target, e.g. ${kind === 'file' ? 'file:.alphapulse/keyset.json' : kind === 'aws' ? 'aws:alphapulse/encryption/master_key' : 'vault:alphapulse/encryption/master_key'}`);
  return { kind, target };
}

/** Resolves `--store`, else KEY_MANAGER_STORE, else the default file store. */
export function resolveStoreUri(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return flag ?? (env[STORE_ENV_VAR] || DEFAULT_STORE_URI);
}

export function openStore(uri: string, options: OpenStoreOptions = {}): KeysetStore {
  const parsed = parseStoreUri(uri);
  const opener = openers.get(parsed.kind);
  if (!opener) throw new KeyManagementError('INVALID_INPUT', `store kind '${parsed.kind}' is not available in this build`);
  return opener(parsed.target, options);
}
