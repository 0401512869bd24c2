/**
 * A loopback AWS stand-in that speaks the real wire protocols, for tests that run the real processes
 * (the key-manager CLI, the rotation Lambda bundle) with their real SDK clients:
 *
 *   const aws = await startAwsStandIn({ clock });
 *   aws.secretsManager.createSecret('keyset');
 *   await runProcess('node', ['dist/bin/key-manager.js', ...], { env: { PATH: process.env.PATH, HOME, ...aws.env() } });
 *   aws.faults.add({ service: 'secretsmanager', operation: 'PutSecretValue', kind: 'reset', applied: true, times: 1 });
 *   await aws.close();
 *
 * server.ts is the HTTP layer; each service is a pure model with an injected clock (secrets-manager.ts,
 * kms.ts, cloudwatch.ts, logs.ts, sts.ts, s3.ts, lambda-service.ts) whose header says which documented
 * behaviour it models. process.ts and lambda.ts run child processes and the rotation handler bundle.
 */
export { AwsStandIn, type AwsStandInOptions, type AuthorizeRequest, type RecordedRequest, type RequestOutcome, refusedEndpoint, startAwsStandIn } from './server';
export { type ActiveFault, type FaultKind, type FaultRule, Faults, type ServiceName } from './faults';
export { AwsServiceError } from './errors';
export {
  AWSCURRENT,
  AWSPENDING,
  AWSPREVIOUS,
  ROTATION_STEPS,
  type RotationEvent,
  type RotationFunction,
  type RotationInvocation,
  type RotationRules,
  type RotationStep,
  type SecretsManagerEvent,
  type SecretsManagerEventName,
  SecretsManagerModel,
  type VersionView,
} from './secrets-manager';
export { type KeyState, KmsModel } from './kms';
export { CloudWatchModel, type MetricDatum } from './cloudwatch';
export { type LogEvent, LogsModel } from './logs';
export { DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, StsModel } from './sts';
export { S3Model, type StoredObject } from './s3';
export { type Invocation, type InvokeInput, type InvokeOutput, type LambdaHandler, LambdaModel, type LambdaOutcome } from './lambda-service';
export { type ProcessResult, type RunProcessOptions, runProcess } from './process';
export {
  type BundleRotationFunctionOptions,
  bundleLambdaHandler,
  bundleRotationFunction,
  bundleRotationHandler,
  deliverLogs,
  type FunctionLogs,
  type InvokeBundleOptions,
  type InvokeResult,
  invokeBundle,
  LAMBDA_RUNNER,
  LAMBDA_WARM_RUNNER,
  RESULT_PREFIX,
  warmLambdaHandler,
  type WarmLambdaHandler,
} from './lambda';
