import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { DEFAULT_ROTATION_WINDOW_HOURS, DEFAULT_WARNING_WINDOW_DAYS, MAX_ROTATION_PERIOD_DAYS, METRICS_NAMESPACE, ROTATION_ENV } from '../lambda/contract';
import { acknowledge } from './acknowledge';
import { rotationHandlerAssetDir } from './bundling';
import { KeyStorage } from './key-storage';
import { validationError } from './validation';

export { METRICS_NAMESPACE } from '../lambda/contract';

export interface RotationFunctionProps {
  /** The keyset and rotation-log secrets the function rotates and appends to, and their key. */
  readonly storage: KeyStorage;
  /**
   * Customer-managed key for the dead-letter queue and the log group. Its key policy is extended here so that
   * CloudWatch Logs and EventBridge may use it.
   */
  readonly operationsKey: kms.IKey;
  /**
   * Days between rotations on the keyset secret's native Secrets Manager rotation schedule (`rate(<n> days)`);
   * `null` configures the rotation function on the secret with no schedule (rotation on demand only). At most 365
   * (PCI DSS 3.6.4).
   */
  readonly rotationPeriodDays: number | null;
  /**
   * Hours of the rotation window, 1 to 24: Secrets Manager rotates at some time within it on the due day, and a
   * rotation still AWSPENDING after it is reported stuck.
   * @default 4
   */
  readonly rotationWindowHours?: number;
  /**
   * Days before the deadline from which the monitor reports the deadline at risk when no rotation is scheduled to
   * meet it (`WARNING_WINDOW_DAYS`); less than the period. Passed only when a rotation period is set.
   * @default 14
   */
  readonly warningWindowDays?: number;
  /**
   * Reserve concurrency for the function (two executions: a rotation step is never throttled by the daily monitor
   * running at the same moment). Secrets Manager itself runs one rotation of a secret at a time, and every step is
   * idempotent. Turn off in an account at the 10-execution concurrency floor, where Lambda rejects any reservation.
   * @default true
   */
  readonly reservedConcurrency?: boolean;
  /**
   * Label for descriptions and the audit trail (`STAGE`).
   * @default 'default'
   */
  readonly stage?: string;
  /**
   * Name of the function.
   * @default - a name CloudFormation generates
   */
  readonly functionName?: string;
  /**
   * Name of the function's log group.
   * @default - a name CloudFormation generates
   */
  readonly logGroupName?: string;
  /**
   * Name of the dead-letter queue.
   * @default - a name CloudFormation generates
   */
  readonly deadLetterQueueName?: string;
  /**
   * Retention of the function's log group.
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * What happens to the log group and the dead-letter queue when they leave the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * The function's code.
   * @default - the handler bundle the package ships (`dist/rotation-handler`, built by `npm run build`)
   */
  readonly code?: lambda.Code;
}

/**
 * The rotation Lambda and what drives it. One scheduler: the keyset secret's native Secrets Manager rotation
 * schedule (`AWS::SecretsManager::RotationSchedule`, `rate(<period> days)` in a rotation window), which makes
 * Secrets Manager stage AWSPENDING under a fresh token and invoke the function with the four rotation steps; the
 * function's resource policy lets Secrets Manager invoke it for this one secret only. A daily EventBridge rule runs
 * the monitor, which measures and only asks Secrets Manager to rotate when the key is past its deadline.
 *
 * Secrets Manager's own L2 `RotationSchedule` is not used because of what it grants beside the schedule:
 * `secretsmanager:GetRandomPassword` on `*`, `kms:Encrypt` on the storage key, and an invoke permission for
 * secretsmanager.amazonaws.com with no source condition (any secret, in any account, could name the function).
 *
 * The role is hand-written rather than CDK's default (whose `AWSLambdaBasicExecutionRole` allows every log group):
 * the two secrets, the storage key through Secrets Manager and its metadata, metrics in one namespace, its log
 * group, its DLQ.
 */
export class RotationFunction extends Construct {
  readonly function: lambda.Function;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;
  readonly deadLetterQueue: sqs.Queue;
  /** The keyset secret's native rotation schedule (no rules when the stage rotates on demand only). */
  readonly schedule: secretsmanager.CfnRotationSchedule;
  readonly monitorRule: events.Rule;

  constructor(scope: Construct, id: string, props: RotationFunctionProps) {
    super(scope, id);
    validate(this, props);
    const stage = props.stage ?? 'default';
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;

    allowLogsToUseKey(props.operationsKey);
    allowEventBridgeToUseKey(props.operationsKey);
    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      ...(props.logGroupName ? { logGroupName: props.logGroupName } : {}),
      retention: props.logRetention ?? logs.RetentionDays.ONE_YEAR,
      encryptionKey: props.operationsKey,
      removalPolicy,
    });
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      ...(props.deadLetterQueueName ? { queueName: props.deadLetterQueueName } : {}),
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: props.operationsKey,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy,
    });
    this.role = this.executionRole(props, stage);
    this.function = new lambda.Function(this, 'Function', {
      ...(props.functionName ? { functionName: props.functionName } : {}),
      description: `AlphaPulse master keyset rotation and daily key-age monitor (${stage})`,
      code: props.code ?? lambda.Code.fromAsset(handlerAsset(this)),
      handler: 'index.handler',
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 256,
      timeout: Duration.minutes(2),
      role: this.role,
      environment: environmentOf(props, stage),
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      reservedConcurrentExecutions: props.reservedConcurrency === false ? undefined : 2,
      deadLetterQueue: this.deadLetterQueue,
      retryAttempts: 2,
      maxEventAge: Duration.hours(6),
      recursiveLoop: lambda.RecursiveLoop.TERMINATE,
    });
    this.schedule = this.nativeRotation(props);
    this.monitorRule = this.dailyMonitor(stage);
    this.acknowledgeFindings(props);
  }

  /** Invoke the function: the monitor on demand, and RotateSecret, which needs lambda:InvokeFunction on the rotation function. */
  grantInvoke(grantee: iam.IGrantable): iam.Grant {
    return this.function.grantInvoke(grantee);
  }

  /** Read the function's logs (audit trail of rotations). */
  grantReadLogs(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['logs:FilterLogEvents', 'logs:GetLogEvents', 'logs:DescribeLogStreams'],
      resourceArns: [this.logGroup.logGroupArn],
    });
  }

  /** The two secrets and their key through Secrets Manager, the key's metadata, metrics in one namespace, its log group, its DLQ. */
  private executionRole(props: RotationFunctionProps, stage: string): iam.Role {
    const role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `AlphaPulse key rotation (${stage}): its two secrets, its key via Secrets Manager, its logs (and the metrics in them) and DLQ`,
    });
    props.storage.grantWriteKeyset(role);
    props.storage.grantRotateKeyset(role);
    props.storage.grantKeyMetadata(role);
    props.storage.grantWriteRotationLog(role);
    // Its metrics go out in its log (embedded metric format, lambda/telemetry/emf-metrics.ts): no cloudwatch:PutMetricData.
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [this.logGroup.logGroupArn] }));
    // A KMS-encrypted queue needs the sender to generate and read data keys; only through SQS.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resources: [props.operationsKey.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `sqs.${Stack.of(this).region}.amazonaws.com` } },
      }),
    );
    return role;
  }

  /**
   * Secrets Manager's invoke permission (for this secret, from this account only: aws:SourceArn and aws:SourceAccount,
   * AWS's guidance against the confused deputy) and the native rotation schedule on the keyset secret.
   */
  private nativeRotation(props: RotationFunctionProps): secretsmanager.CfnRotationSchedule {
    const permission = new lambda.CfnPermission(this, 'SecretsManagerInvoke', {
      action: 'lambda:InvokeFunction',
      functionName: this.function.functionArn,
      principal: 'secretsmanager.amazonaws.com',
      sourceArn: props.storage.keysetSecret.secretArn,
      sourceAccount: Stack.of(this).account,
    });
    // RotateSecret (the monitor's backstop) requires lambda:InvokeFunction on the rotation function (RotateSecret API
    // reference). A Policy of its own, not the role's default policy: the function depends on that one, and this
    // statement names the function.
    const invoke = new iam.Policy(this, 'InvokeForRotateSecret', {
      roles: [this.role],
      statements: [new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [this.function.functionArn] })],
    });
    acknowledge(
      invoke,
      ['PCI.DSS.321-IAMNoInlinePolicy', 'NIST.800.53.R5-IAMNoInlinePolicy'],
      'One statement for this one role (invoke its own function, which RotateSecret requires) that cannot live in the role policy the function depends on without a dependency cycle; it is created and deleted with the role.',
    );
    const windowHours = props.rotationWindowHours ?? DEFAULT_ROTATION_WINDOW_HOURS;
    const schedule = new secretsmanager.CfnRotationSchedule(this, 'KeysetRotationSchedule', {
      secretId: props.storage.keysetSecret.secretArn,
      rotationLambdaArn: this.function.functionArn,
      // Rotation starts on a schedule, never because the schedule resource was created or changed.
      rotateImmediatelyOnUpdate: false,
      ...(props.rotationPeriodDays !== null ? { rotationRules: { scheduleExpression: `rate(${props.rotationPeriodDays} days)`, duration: `${windowHours}h` } } : {}),
    });
    schedule.addResourceDependency(permission);
    if (props.rotationPeriodDays === null) {
      acknowledge(
        props.storage.keysetSecret,
        ['AwsSolutions-SMG4', 'NIST.800.53.R5-SecretsManagerRotationEnabled'],
        'This stage rotates on demand only (rotationPeriodDays null, the dev default): the rotation function is configured on the secret, so RotateSecret and key-manager rotate work, with no schedule. Stages with a cryptoperiod carry a rate() schedule.',
      );
    }
    return schedule;
  }

  private dailyMonitor(stage: string): events.Rule {
    const rule = new events.Rule(this, 'MonitorSchedule', {
      description: `Daily measurement of the AlphaPulse keyset (key age, deadline, stuck rotation, storage key); asks Secrets Manager to rotate only a key past its deadline (${stage})`,
      schedule: events.Schedule.rate(Duration.days(1)),
    });
    rule.addTarget(
      new targets.LambdaFunction(this.function, {
        deadLetterQueue: this.deadLetterQueue,
        retryAttempts: 4,
        maxEventAge: Duration.hours(24),
        event: events.RuleTargetInput.fromObject({ action: 'monitor' }),
      }),
    );
    return rule;
  }

  private acknowledgeFindings(props: RotationFunctionProps): void {
    acknowledge(
      this.function,
      ['AwsSolutions-L1'],
      'Node.js 22 is the runtime agreed with the handler: its bundle targets node22 (lib/bundling.ts, shared with the benchmarks); the runtime and the esbuild target move together, in one change.',
    );
    acknowledge(
      this.function,
      ['PCI.DSS.321-LambdaInsideVPC', 'NIST.800.53.R5-LambdaInsideVPC'],
      'The function reaches only AWS APIs (Secrets Manager, KMS, CloudWatch) over TLS with SigV4, and no private network resource; a VPC would add NAT or four interface endpoints per stage without narrowing what the function can reach, which its IAM role already limits to two secrets and one key.',
    );
    if (props.reservedConcurrency === false) {
      acknowledge(
        this.function,
        ['NIST.800.53.R5-LambdaConcurrency'],
        'Reserved concurrency turned off by configuration for an account at the 10-execution floor, where Lambda rejects any reservation; Secrets Manager runs one rotation of the secret at a time and every step is idempotent.',
      );
    }
    acknowledge(
      this.role,
      ['PCI.DSS.321-IAMNoInlinePolicy', 'NIST.800.53.R5-IAMNoInlinePolicy'],
      'The policy is specific to this one role (two secret ARNs, one key, one log group, one queue) and is created and deleted with it; a managed policy would only add an object that must never be attached elsewhere.',
    );
  }
}

/** The construct's own checks, with the value in the message (a stage's settings are checked earlier, by lib/config.ts). */
function validate(scope: Construct, props: RotationFunctionProps): void {
  const period = props.rotationPeriodDays;
  if (period !== null && (!Number.isInteger(period) || period < 1 || period > MAX_ROTATION_PERIOD_DAYS)) {
    throw validationError(scope, 'RotationPeriodOutOfRange', `rotationPeriodDays must be a whole number from 1 to ${MAX_ROTATION_PERIOD_DAYS} (PCI DSS 3.6.4) or null, got ${period}`);
  }
  const window = props.rotationWindowHours;
  if (window !== undefined && (!Number.isInteger(window) || window < 1 || window > 24)) {
    throw validationError(scope, 'RotationWindowOutOfRange', `rotationWindowHours must be a whole number from 1 to 24 (the window must not run into the next UTC day), got ${window}`);
  }
  const warning = props.warningWindowDays;
  if (warning !== undefined && period !== null && (!Number.isInteger(warning) || warning < 1 || warning >= period)) {
    throw validationError(scope, 'WarningWindowOutOfRange', `warningWindowDays must be a whole number from 1 to ${period - 1} (shorter than the period), got ${warning}`);
  }
}

function environmentOf(props: RotationFunctionProps, stage: string): Record<string, string> {
  const environment: Record<string, string> = {
    [ROTATION_ENV.keysetSecretId]: props.storage.keysetSecret.secretArn,
    [ROTATION_ENV.rotationLogSecretId]: props.storage.rotationLogSecret.secretArn,
    [ROTATION_ENV.storageKeyId]: props.storage.key.keyArn,
    [ROTATION_ENV.metricsNamespace]: METRICS_NAMESPACE,
    [ROTATION_ENV.stage]: stage,
  };
  if (props.rotationPeriodDays !== null) {
    environment[ROTATION_ENV.rotationPeriodDays] = String(props.rotationPeriodDays);
    environment[ROTATION_ENV.warningWindowDays] = String(props.warningWindowDays ?? DEFAULT_WARNING_WINDOW_DAYS);
  }
  return environment;
}

/** The pre-built handler bundle; a clear error when `npm run build` has not made it. */
function handlerAsset(scope: Construct): string {
  const dir = rotationHandlerAssetDir();
  if (!existsSync(path.join(dir, 'index.js'))) {
    throw validationError(scope, 'RotationHandlerNotBuilt', `the rotation handler bundle is missing at ${dir}/index.js: run 'npm run build' (it bundles lambda/rotation/handler.ts there)`);
  }
  return dir;
}

/** CloudWatch Logs encrypts with the key only for log groups of this account and region. */
function allowLogsToUseKey(key: kms.IKey): void {
  const stack = Stack.of(key);
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'AllowCloudWatchLogs',
      principals: [new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`)],
      actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
      resources: ['*'],
      conditions: {
        ArnLike: { 'kms:EncryptionContext:aws:logs:arn': `arn:${stack.partition}:logs:${stack.region}:${stack.account}:log-group:*` },
      },
    }),
  );
}

/** EventBridge writes undeliverable events to the encrypted DLQ and publishes to the encrypted on-call topic; only for rules of this account. */
function allowEventBridgeToUseKey(key: kms.IKey): void {
  const stack = Stack.of(key);
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'AllowEventBridgeDeadLetters',
      principals: [new iam.ServicePrincipal('events.amazonaws.com')],
      actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
      resources: ['*'],
      conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
    }),
  );
}
