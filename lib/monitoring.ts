import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE, RotationFunction } from './rotation-function';

/** MonitorSilent fires after this many consecutive hours without a KeyAgeDays datapoint (daily run + 2 h slack). */
export const MONITOR_SILENT_HOURS = 26;

export interface KeyMonitoringProps {
  readonly stage: string;
  readonly rotation: RotationFunction;
  /** Name of the keyset secret, for the operator commands in alarm descriptions. */
  readonly keysetSecretName: string;
  /** Key for the on-call topic; its policy is extended so CloudWatch alarms may publish. */
  readonly operationsKey: kms.Key;
  /** Rotation period in days; `null` (manual rotation) leaves out the deadline and overdue alarms. */
  readonly rotationPeriodDays: number | null;
  /**
   * Days before the deadline at which "deadline approaching" fires.
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
 * On-call topic, one alarm per failure an operator must act on, and a dashboard. Every alarm description says
 * what it means and the first command to run; RUNBOOK.md has one section per alarm under the same name.
 */
export class KeyMonitoring extends Construct {
  readonly topic: sns.Topic;
  readonly dashboard: cloudwatch.Dashboard;
  /** Alarms by the RUNBOOK.md section name. */
  readonly alarms: Readonly<Record<string, cloudwatch.Alarm>>;

  constructor(scope: Construct, id: string, props: KeyMonitoringProps) {
    super(scope, id);
    const { stage, rotation } = props;
    const fnName = rotation.function.functionName;
    const km = (command: string) => `key-manager --store aws:${props.keysetSecretName} ${command}`;
    const invokeRotate = `aws lambda invoke --function-name ${fnName} --payload '{"action":"rotate","rotationId":"manual-<date>"}' --cli-binary-format raw-in-base64-out out.json`;
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
      alarmDescription: `A keyset rotation failed; the previous primary stays in use and a staged version may be pending. First: ${km('status')}, then retry: ${invokeRotate}`,
    });
    add('KeyVersionMismatch', 'event', {
      ...atLeastOnce,
      metric: metric('KeyVersionMismatch', 'Sum', fiveMinutes),
      alarmDescription: `A ciphertext named a key version the service's cached keyset did not have (a service missed a rotation or reads another keyset). First: ${km('status')}`,
    });
    if (props.rotationPeriodDays !== null) {
      const warningWindowDays = props.warningWindowDays ?? 14;
      add('RotationDeadlineApproaching', 'state', {
        metric: metric('DaysUntilRotationDue', 'Minimum', oneDay),
        threshold: warningWindowDays,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: `The monitor's rotation did not happen: the primary key is inside the ${warningWindowDays}-day warning window (period ${props.rotationPeriodDays} days, so due within ${warningWindowDays} days) although the daily monitor should have rotated it on entering the window. First: ${invokeRotate} and ${km('status')}`,
      });
      add('RotationOverdue', 'state', {
        metric: metric('KeyAgeDays', 'Maximum', oneDay),
        threshold: props.rotationPeriodDays,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: `The primary key is older than the ${props.rotationPeriodDays}-day cryptoperiod (PCI DSS 3.6.4). First: ${invokeRotate}, then: ${km('status')}`,
      });
    }
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
      alarmDescription: `The daily monitor reported no KeyAgeDays for ${MONITOR_SILENT_HOURS} consecutive hours: key age and rotation deadlines are unwatched and the warning-window rotation is not running. First: ${invokeMonitor}`,
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
      alarmDescription: `The rotation function threw (rotation, monitor or deploy-time init). First: aws logs tail ${rotation.logGroup.logGroupName} --since 1h, then ${km('status')}`,
    });
    add('DeadLetterQueueNotEmpty', 'state', {
      ...atLeastOnce,
      metric: rotation.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: fiveMinutes, statistic: 'Maximum' }),
      alarmDescription: `A rotation or monitor event was dropped after all retries (see the queue ${rotation.deadLetterQueue.queueName}). First: ${km('status')}, then: ${invokeRotate}`,
    });
    this.alarms = alarms;

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
            left: ['RotationSucceeded', 'RotationFailed', 'RotationSkipped', 'EmergencyRotations'].map((m) => metric(m, 'Sum', oneDay)),
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
  }
}
