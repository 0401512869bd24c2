import { CfnResource, Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { KeyStorage } from './key-storage';
import { METRICS_NAMESPACE, RotationFunction } from './rotation-function';

/** MonitorSilent fires after this many consecutive hours without a KeyAgeDays datapoint (daily run + 2 h slack). */
export const MONITOR_SILENT_HOURS = 26;

export interface KeyMonitoringProps {
  readonly stage: string;
  readonly rotation: RotationFunction;
  /** The keyset secret and storage key whose rotation and key events page on-call. */
  readonly storage: KeyStorage;
  /** Name of the keyset secret, for the operator commands in alarm descriptions. */
  readonly keysetSecretName: string;
  /** Key for the on-call topic; its policy is extended so CloudWatch alarms may publish. */
  readonly operationsKey: kms.Key;
  /** Rotation period in days; `null` (manual rotation) leaves out the deadline and overdue alarms. */
  readonly rotationPeriodDays: number | null;
  /**
   * Days before the deadline from which "deadline approaching" fires if no rotation is scheduled to meet it.
   * @default 14
   */
  readonly warningWindowDays?: number;
  /**
   * E-mail addresses subscribed to the topic.
   * @default - none
   */
  readonly alarmEmails?: readonly string[];
  /**
   * Standard deviations of the band for unusual access to key derivations.
   * @default 3
   */
  readonly anomalyBandWidth?: number;
}

/**
 * On-call topic, one alarm per failure an operator must act on, event rules for what breaks rotation without a
 * metric (Secrets Manager's RotationFailed/RotationAbandoned, the storage key disabled, scheduled for deletion or its
 * policy replaced), and a dashboard. Every alarm description and event message says what it means and the first
 * command to run; RUNBOOK.md has one section per alarm and event under the same name.
 */
export class KeyMonitoring extends Construct {
  readonly topic: sns.Topic;
  readonly dashboard: cloudwatch.Dashboard;
  /** Alarms by the RUNBOOK.md section name. */
  readonly alarms: Readonly<Record<string, cloudwatch.Alarm>>;
  /** Event rules to the on-call topic, by the RUNBOOK.md section name. */
  readonly eventRules: Readonly<Record<string, events.Rule>>;

  constructor(scope: Construct, id: string, props: KeyMonitoringProps) {
    super(scope, id);
    const { stage, rotation } = props;
    const fnName = rotation.function.functionName;
    const km = (command: string) => `key-manager --store aws:${props.keysetSecretName} ${command}`;
    const invokeMonitor = `aws lambda invoke --function-name ${fnName} --payload '{"action":"monitor"}' --cli-binary-format raw-in-base64-out out.json`;

    props.operationsKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': props.operationsKey.stack.account } },
      }),
    );
    this.topic = new sns.Topic(this, 'OnCallTopic', {
      topicName: `alphapulse-keys-${stage}-oncall`,
      displayName: `AlphaPulse keys (${stage}) on-call`,
      masterKey: props.operationsKey,
      enforceSSL: true,
    });
    for (const email of props.alarmEmails ?? []) this.topic.addSubscription(new subscriptions.EmailSubscription(email));

    const metric = (metricName: string, statistic: string, period: Duration) =>
      new cloudwatch.Metric({ namespace: METRICS_NAMESPACE, metricName, statistic, period });
    const fiveMinutes = Duration.minutes(5);
    const oneDay = Duration.days(1);
    const alarms: Record<string, cloudwatch.Alarm> = {};
    /**
     * `state` alarms measure a condition that lasts until someone fixes it (a key past its deadline, a silent monitor,
     * messages in the DLQ), so their return to OK means it is fixed and is worth telling the on-call topic.
     * `event` alarms count occurrences in 5 minutes: their data disappears once the event is over, so they return to
     * OK 5-10 minutes later whatever the state of the problem, and an OK notification would auto-resolve the page.
     */
    const add = (name: string, kind: 'state' | 'event', alarmProps: Omit<cloudwatch.AlarmProps, 'alarmName'>) => {
      const alarm = new cloudwatch.Alarm(this, name, { alarmName: `AlphaPulseKeys-${stage}-${name}`, ...alarmProps });
      alarm.addAlarmAction(new cwActions.SnsAction(this.topic));
      if (kind === 'state') alarm.addOkAction(new cwActions.SnsAction(this.topic));
      alarms[name] = alarm;
    };
    const atLeastOnce = {
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    };

    add('KeyRetrievalFailures', 'event', {
      ...atLeastOnce,
      metric: metric('KeyRetrievalFailures', 'Sum', fiveMinutes),
      alarmDescription: `A service could not read the master keyset in the last 5 minutes: it cannot derive data keys once its cache expires. First: ${km('health')}`,
    });
    add('DecryptionFailures', 'event', {
      ...atLeastOnce,
      metric: metric('DecryptionFailures', 'Sum', fiveMinutes),
      alarmDescription: `Ciphertexts failed authentication or named a disabled/unknown key version (tampering, wrong context, or a disabled version still in use). First: ${km('status')}`,
    });
    add('RotationFailed', 'event', {
      ...atLeastOnce,
      metric: metric('RotationFailed', 'Sum', fiveMinutes),
      alarmDescription: `A keyset rotation step failed; the previous primary stays in use. First: ${km('status')} (shows a rotation in progress or stuck), then retry: ${km('rotate')}`,
    });
    add('KeyVersionMismatch', 'event', {
      ...atLeastOnce,
      metric: metric('KeyVersionMismatch', 'Sum', fiveMinutes),
      alarmDescription: `A ciphertext named a key version the service's cached keyset did not have (a service missed a rotation or reads another keyset). First: ${km('status')}`,
    });
    if (props.rotationPeriodDays !== null) {
      const warningWindowDays = props.warningWindowDays ?? 14;
      add('RotationDeadlineApproaching', 'state', {
        metric: metric('RotationDeadlineAtRisk', 'Maximum', oneDay),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: `The primary key is within ${warningWindowDays} days of its ${props.rotationPeriodDays}-day deadline and nothing will rotate it in time: Secrets Manager's rotation is not enabled or not scheduled before the deadline, or a rotation is stuck. First: ${km('status')}, then: ${km('rotate')}`,
      });
      add('RotationOverdue', 'state', {
        metric: metric('KeyAgeDays', 'Maximum', oneDay),
        threshold: props.rotationPeriodDays,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: `The primary key is older than the ${props.rotationPeriodDays}-day cryptoperiod (PCI DSS 3.6.4); the monitor has asked Secrets Manager to rotate unless a rotation is in progress. First: ${km('status')}, then: ${km('rotate')}`,
      });
    }
    add('RotationStuck', 'state', {
      ...atLeastOnce,
      metric: metric('RotationStuck', 'Maximum', oneDay),
      alarmDescription: `A rotation has been in progress (AWSPENDING) for longer than the rotation window, so Secrets Manager refuses every new rotation. First: ${km('status')} (prints the command that clears it), then: ${km('rotate')}`,
    });
    add('StorageKeyUnhealthy', 'state', {
      metric: metric('StorageKeyHealthy', 'Minimum', oneDay),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: `The KMS key that encrypts the keyset is not enabled (disabled or pending deletion: every keyset read fails) or its own rotation is off. First: aws kms describe-key --key-id ${props.storage.key.keyArn}, then: aws kms get-key-rotation-status --key-id ${props.storage.key.keyArn}`,
    });
    // Hourly buckets, 26 of them breaching in a row: a daily run that is late by up to two hours never trips it, and a
    // missed run trips it 26 hours after the last datapoint (missing data breaches; `init` also emits KeyAgeDays, so
    // a fresh stack starts with a datapoint).
    add('MonitorSilent', 'state', {
      metric: metric('KeyAgeDays', 'SampleCount', Duration.hours(1)),
      threshold: 1,
      evaluationPeriods: MONITOR_SILENT_HOURS,
      datapointsToAlarm: MONITOR_SILENT_HOURS,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      alarmDescription: `The daily monitor reported no KeyAgeDays for ${MONITOR_SILENT_HOURS} consecutive hours: key age, rotation deadlines and the storage key are unwatched, and the overdue backstop is not running. First: ${invokeMonitor}`,
    });
    // The key manager publishes KeyDerivations per (KeyVersion, Context) and once more without dimensions: the
    // anomaly model needs one plain metric, and the total covers new versions and contexts without a redeploy.
    const derivations = new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: 'KeyDerivations',
      statistic: 'Sum',
      period: fiveMinutes,
      label: 'KeyDerivations (all contexts and versions)',
    });
    const unusualAccess = new cloudwatch.AnomalyDetectionAlarm(this, 'UnusualKeyAccess', {
      alarmName: `AlphaPulseKeys-${stage}-UnusualKeyAccess`,
      metric: derivations,
      stdDevs: props.anomalyBandWidth ?? 3,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_UPPER_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: `Data-key derivations are above their learned band: a service or principal is reading keys far more than usual (exfiltration, a loop, a cache turned off). First: ${km('audit --log-group <application log group>')}, then ${km('status')}`,
    });
    // Event-style like the counts above: the band closes over the spike once it stops, which is no resolution.
    unusualAccess.addAlarmAction(new cwActions.SnsAction(this.topic));
    alarms.UnusualKeyAccess = unusualAccess;
    add('RotationFunctionErrors', 'event', {
      ...atLeastOnce,
      metric: rotation.function.metricErrors({ period: fiveMinutes, statistic: 'Sum' }),
      alarmDescription: `The rotation function threw (a rotation step, the monitor, deploy-time init, or a refused invocation). First: aws logs tail ${rotation.logGroup.logGroupName} --since 1h, then ${km('status')}`,
    });
    add('DeadLetterQueueNotEmpty', 'state', {
      ...atLeastOnce,
      metric: rotation.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: fiveMinutes, statistic: 'Maximum' }),
      alarmDescription: `A monitor event was dropped after all retries, or an asynchronous invocation failed every attempt (see the queue ${rotation.deadLetterQueue.queueName}). First: ${km('status')}, then: ${invokeMonitor}`,
    });
    this.alarms = alarms;
    this.eventRules = this.pageOnEvents(stage, props, km);

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `AlphaPulseKeys-${stage}`,
      widgets: [
        [
          new cloudwatch.GraphWidget({
            title: 'Key derivations (all contexts and versions)',
            left: [
              derivations,
            ],
            width: 12,
          }),
          new cloudwatch.GraphWidget({
            title: 'Failures',
            left: ['KeyRetrievalFailures', 'DecryptionFailures', 'KeyVersionMismatch'].map((m) => metric(m, 'Sum', fiveMinutes)),
            width: 12,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Rotations',
            left: ['RotationSucceeded', 'RotationFailed', 'EmergencyRotations'].map((m) => metric(m, 'Sum', oneDay)),
            right: ['RotationStuck', 'RotationDeadlineAtRisk'].map((m) => metric(m, 'Maximum', oneDay)),
            width: 12,
          }),
          new cloudwatch.GraphWidget({
            title: 'Key age',
            left: [metric('KeyAgeDays', 'Maximum', oneDay), metric('DaysUntilRotationDue', 'Minimum', oneDay)],
            right: [metric('EnabledKeyVersions', 'Maximum', oneDay)],
            width: 12,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Rotation function',
            left: [rotation.function.metricInvocations({ period: fiveMinutes }), rotation.function.metricErrors({ period: fiveMinutes })],
            right: [rotation.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: fiveMinutes })],
            width: 12,
          }),
          new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: Object.values(alarms), width: 12 }),
        ],
      ],
    });
    // cfn-lint's resource specification predates Tags on AWS::CloudWatch::Dashboard, which CloudFormation accepts (the
    // aws-cdk-lib L1 is generated from CloudFormation's own schema and carries them): silence that one false finding here.
    (this.dashboard.node.defaultChild as CfnResource).addMetadata('cfn-lint', { config: { ignore_checks: ['E3002'] } });
  }

  /**
   * What breaks rotation without a metric of ours, straight from the events AWS publishes: Secrets Manager's rotation
   * outcome events for the keyset secret (CloudTrail "AWS Service Event"), and the KMS calls that disable the storage
   * key, schedule its deletion (every keyset read fails once the pending window ends) or replace its policy
   * (CloudTrail "AWS API Call"; needs CloudTrail management events in the region, which an account trail provides).
   */
  private pageOnEvents(stage: string, props: KeyMonitoringProps, km: (command: string) => string): Record<string, events.Rule> {
    const page = (id: string, description: string, pattern: events.EventPattern, message: string) => {
      const rule = new events.Rule(this, id, { description: `${description} (${stage})`, eventPattern: pattern });
      rule.addTarget(
        new targets.SnsTopic(this.topic, {
          message: events.RuleTargetInput.fromText(`AlphaPulse keys (${stage}): ${events.EventField.fromPath('$.detail.eventName')} at ${events.EventField.time}. ${message}`),
        }),
      );
      return rule;
    };
    return {
      RotationFailedEvent: page(
        'RotationFailedEvent',
        "Secrets Manager reports a failed or abandoned rotation of the keyset secret",
        {
          source: ['aws.secretsmanager'],
          detailType: ['AWS Service Event via CloudTrail'],
          detail: { eventName: ['RotationFailed', 'RotationAbandoned'], additionalEventData: { SecretId: [props.storage.keysetSecret.secretArn] } },
        },
        `The keyset rotation did not complete; the previous primary stays current. RUNBOOK.md, section RotationFailedEvent. First: ${km('status')}`,
      ),
      StorageKeyEvent: page(
        'StorageKeyEvent',
        'The KMS key that encrypts the keyset was disabled, scheduled for deletion or given a new key policy',
        {
          source: ['aws.kms'],
          detailType: ['AWS API Call via CloudTrail'],
          detail: { eventSource: ['kms.amazonaws.com'], eventName: ['DisableKey', 'ScheduleKeyDeletion', 'PutKeyPolicy'], resources: { ARN: [props.storage.key.keyArn] } },
        },
        `The storage key of the keyset was changed: a disabled key makes every keyset read fail, a scheduled deletion makes the keyset unreadable for good after the pending window. RUNBOOK.md, section StorageKeyEvent. First: aws kms describe-key --key-id ${props.storage.key.keyArn}`,
      ),
    };
  }
}
