/**
 * The KMS client and the two commands the storage key sends, for `storage-key.ts` to require on first use (so the
 * client initializes only when the monitor measures the key). An ES import here makes the bundler take the SDK's
 * modular ES build; `require('@aws-sdk/client-kms')` itself resolved to its CommonJS build, one 67 KB file, and the
 * rotation Lambda's bundle shrank from 357 to 340 KB without it (a cold start parses every byte). The bundle takes
 * these three from the SDK's per-command modules instead (`kms-client.modular.mjs`, see lib/bundling.ts): 318 KB.
 */
export { DescribeKeyCommand, GetKeyRotationStatusCommand, KMSClient } from '@aws-sdk/client-kms';
