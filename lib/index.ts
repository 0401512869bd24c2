/**
 * `@alphapulse/keys/cdk`: the AlphaPulse key management constructs for AWS CDK apps.
 *
 * ```ts
 * import { AlphaPulseKeys } from '@alphapulse/keys/cdk';
 * const keys = new AlphaPulseKeys(stack, 'Keys', { stage: 'prod' });
 * keys.grantRead(tradingFunction);
 * ```
 *
 * `aws-cdk-lib` and `constructs` are peer dependencies: the app's own copies are used. The rotation handler ships
 * pre-bundled in the package, so a synth needs neither esbuild nor the package's sources.
 *
 * @packageDocumentation
 * @module @alphapulse/keys/cdk
 */
export { AlphaPulseKeys } from './alphapulse-keys';
export type { AlphaPulseKeysNames, AlphaPulseKeysProps, IKeysetReader, KeysetSecretAttributes } from './alphapulse-keys';
export { AccessRoles } from './access-roles';
export type { AccessRolesProps, AccessRoleTrust } from './access-roles';
export { BackupBucket } from './backup-bucket';
export type { BackupBucketProps } from './backup-bucket';
export { KeyStorage } from './key-storage';
export type { KeyStorageProps } from './key-storage';
export { KeysetInitializer } from './keyset-initializer';
export type { KeysetInitializerProps } from './keyset-initializer';
export { KeyMonitoring, MONITOR_SILENT_HOURS } from './monitoring';
export type { KeyMonitoringProps } from './monitoring';
export { METRICS_NAMESPACE, RotationFunction } from './rotation-function';
export type { RotationFunctionProps } from './rotation-function';
export { MAX_ROTATION_PERIOD_DAYS } from '../lambda/contract';
