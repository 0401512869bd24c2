// Bundle-only (lib/bundling.ts resolves lambda/rotation/kms-client.ts's '@aws-sdk/client-kms' here): the three names
// it re-exports, from the SDK's per-module ES build, so that the bundle keeps these and what they need, not every
// command the package index re-exports. Node and the tests load the package itself.
export { KMSClient } from '@aws-sdk/client-kms/dist-es/KMSClient';
export { DescribeKeyCommand } from '@aws-sdk/client-kms/dist-es/commands/DescribeKeyCommand';
export { GetKeyRotationStatusCommand } from '@aws-sdk/client-kms/dist-es/commands/GetKeyRotationStatusCommand';
