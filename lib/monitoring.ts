import { CfnResource, Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { DEFAULT_WARNING_WINDOW_DAYS, METRICS_NAMESPACE } from '../lambda/contract';
import { KeyStorage } from './key-storage';
import { RotationFunction } from './rotation-function';

/** MonitorSilent fires after this many consecutive hours without a KeyAgeDays datapoint (daily run + 2 h slack). */
export const MONITOR_SILENT_HOURS = 26;

export interface KeyMonitoringProps {
  /** The rotation function whose errors, dead-letter queue and monitor datapoints are watched. */
  readonly rotation: RotationFunction;
  /** The keyset secret and storage key whose rotation and key events page on-call. */
  readonly storage: KeyStorage;
  /**
   * Key for the on-call topic this construct creates; its policy is extended so CloudWatch alarms may publish.
   * Ignored for the key policy when `topic` is given (that topic's key policy is its owner's).
   */
  readonly operationsKey: kms.IKey;
  /** Rotation period in days; `null` (on-demand rotation) leaves out the deadline and overdue alarms. */
  readonly rotationPeriodDays: number | null;
  /**
   * Days before the deadline from which "deadline approaching" fires if no rotation is scheduled to meet it.
   * @default 14
   */
  readonly warningWindowDays?: number;
  /**
   * Label in the topic's display name and the event messages.
   * @default 'default'
   */
  readonly stage?: string;
  /**
   * Topic the alarms and event rules publish to. A topic encrypted with a customer-managed key must let
   * `cloudwatch.amazonaws.com` and `events.amazonaws.com` use that key.
   * @default - a new topic, encrypted with `operationsKey`
   */
  readonly topic?: sns.ITopic;
  /**
   * Name of the topic this construct creates.
   * @default - a name CloudFormation generates
   */
  readonly topicName?: string;
  /**
   * Prefix of the alarm names: `<prefix>-RotationStuck`.
   * @default - names CloudFormation generates
   */
  readonly alarmNamePrefix?: string;
  /**
   * Name of the dashboard.
   * @default - a name CloudFormation generates
   */
  readonly dashboardName?: string;
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
  /**
   * Name of the keyset secret in the operator commands of the alarm descriptions.
   * @default - the keyset secret's name
   */
  readonly keysetSecretName?: string;
}

/**
 * `state` alarms measure a condition that lasts until someone fixes it (a key past its deadline, a silent monitor,
 * messages in the DLQ), so their return to OK means it is fixed and is worth telling the on-call topic. `event` alarms
 * count occurrences in 5 minutes: their data disappears once the event is over, so they return to OK 5-10 minutes
 * later whatever the state of the problem, and an OK notification would auto-resolve the page.
 */
type AlarmKind = 'state' | 'event';

/** One row of the alarm table: the RUNBOOK.md section name, its kind, and the alarm's settings. */
interface AlarmSpec {
  readonly name: string;
  readonly kind: AlarmKind;
  readonly props: Omit<cloudwatch.AlarmProps, 'alarmName'>;
}

const FIVE_MINUTES = Duration.minutes(5);
const ONE_DAY = Duration.days(1);

const metric = (metricName: string, statistic: string, period: Duration) => new cloudwatch.Metric({ namespace: METRICS_NAMESPACE, metricName, statistic, period });

/** An occurrence count: one in the period alarms; no data is no occurrence. */
const atLeastOnce = (m: cloudwatch.IMetric, alarmDescription: string): Omit<cloudwatch.AlarmProps, 'alarmName'> => ({
  metric: m,
  threshold: 1,
  evaluationPeriods: 1,
  comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
  treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  alarmDescription,
});

/** The operator commands the alarm descriptions name. */
interface Commands {
  km(command: string): string;
  readonly invokeMonitor: string;
}

/** A service's use of the keys: reads, decryptions, versions it did not know. */
function keyUseAlarms({ km }: Commands): AlarmSpec[] {
  return [
    {
      name: 'KeyRetrievalFailures',
      kind: 'event',
      props: atLeastOnce(metric('KeyRetrievalFailures', 'Sum', FIVE_MINUTES), `A service could not read the master keyset in the last 5 minutes: it cannot derive data keys once its cache expires. First: ${km('health')}`),
    },
    {
      name: 'DecryptionFailures',
      kind: 'event',
      props: atLeastOnce(metric('DecryptionFailures', 'Sum', FIVE_MINUTES), `Ciphertexts failed authentication or named a disabled/unknown key version (tampering, wrong context, or a disabled version still in use). First: ${km('status')}`),
    },
    {
      name: 'KeyVersionMismatch',
      kind: 'event',
      props: atLeastOnce(metric('KeyVersionMismatch', 'Sum', FIVE_MINUTES), `A ciphertext named a key version the service's cached keyset did not have (a service missed a rotation or reads another keyset). First: ${km('status')}`),
    },
  ];
}

/** Rotation: a failed step, a deadline at risk or missed, a stuck rotation, the storage key, the monitor itself. */
function rotationAlarms(props: KeyMonitoringProps, { km, invokeMonitor }: Commands): AlarmSpec[] {
  const period = props.rotationPeriodDays;
  const deadline: AlarmSpec[] =
    period === null
      ? []
      : [
          {
            name: 'RotationDeadlineApproaching',
            kind: 'state',
            props: {
              ...atLeastOnce(metric('RotationDeadlineAtRisk', 'Maximum', ONE_DAY), ''),
              alarmDescription: `The primary key is within ${props.warningWindowDays ?? DEFAULT_WARNING_WINDOW_DAYS} days of its ${period}-day deadline and nothing will rotate it in time: Secrets Manager's rotation is not enabled or not scheduled before the deadline, or a rotation is stuck. First: ${km('status')}, then: ${km('rotate')}`,
            },
          },
          {
            name: 'RotationOverdue',
            kind: 'state',
            props: {
              metric: metric('KeyAgeDays', 'Maximum', ONE_DAY),
              threshold: period,
              evaluationPeriods: 1,
              comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
              treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
              alarmDescription: `The primary key is older than the ${period}-day cryptoperiod (PCI DSS 3.6.4); the monitor has asked Secrets Manager to rotate unless a rotation is in progress. First: ${km('status')}, then: ${km('rotate')}`,
            },
          },
        ];
  return [
    {
      name: 'RotationFailed',
      kind: 'event',
      props: atLeastOnce(metric('RotationFailed', 'Sum', FIVE_MINUTES), `A keyset rotation step failed; the previous primary stays in use. First: ${km('status')} (shows a rotation in progress or stuck), then retry: ${km('rotate')}`),
    },
    ...deadline,
    {
      name: 'RotationStuck',
      kind: 'state',
      props: atLeastOnce(metric('RotationStuck', 'Maximum', ONE_DAY), `A rotation has been in progress (AWSPENDING) for longer than the rotation window, so Secrets Manager refuses every new rotation. First: ${km('status')} (prints the command that clears it), then: ${km('rotate')}`),
    },
    {
      name: 'StorageKeyUnhealthy',
      kind: 'state',
      props: {
        metric: metric('StorageKeyHealthy', 'Minimum', ONE_DAY),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: `The KMS key that encrypts the keyset is not enabled (disabled or pending deletion: every keyset read fails) or its own rotation is off. First: aws kms describe-key --key-id ${props.storage.key.keyArn}, then: aws kms get-key-rotation-status --key-id ${props.storage.key.keyArn}`,
      },
    },
    // Hourly buckets, 26 of them breaching in a row: a daily run that is late by up to two hours never trips it, and a
    // missed run trips it 26 hours after the last datapoint (missing data breaches; `init` also emits KeyAgeDays, so a
    // fresh stack starts with a datapoint).
    {
      name: 'MonitorSilent',
      kind: 'state',
      props: {
        metric: metric('KeyAgeDays', 'SampleCount', Duration.hours(1)),
        threshold: 1,
        evaluationPeriods: MONITOR_SILENT_HOURS,
        datapointsToAlarm: MONITOR_SILENT_HOURS,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
        alarmDescription: `The daily monitor reported no KeyAgeDays for ${MONITOR_SILENT_HOURS} consecutive hours: key age, rotation deadlines and the storage key are unwatched, and the overdue backstop is not running. First: ${invokeMonitor}`,
      },
    },
  ];
}

/** The rotation function's own failures: errors, and events dropped into its dead-letter queue. */
function functionAlarms(rotation: RotationFunction, { km, invokeMonitor }: Commands): AlarmSpec[] {
  return [
    {
      name: 'RotationFunctionErrors',
      kind: 'event',
      props: atLeastOnce(
        rotation.function.metricErrors({ period: FIVE_MINUTES, statistic: 'Sum' }),
        `The rotation function threw (a rotation step, the monitor, deploy-time init, or a refused invocation). First: aws logs tail ${rotation.logGroup.logGroupName} --since 1h, then ${km('status')}`,
      ),
    },
    {
      name: 'DeadLetterQueueNotEmpty',
      kind: 'state',
      props: atLeastOnce(
        rotation.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: FIVE_MINUTES, statistic: 'Maximum' }),
        `A monitor event was dropped after all retries, or an asynchronous invocation failed every attempt (see the queue ${rotation.deadLetterQueue.queueName}). First: ${km('status')}, then: ${invokeMonitor}`,
      ),
    },
  ];
}

/**
 * On-call topic, one alarm per failure an operator must act on (built from the tables above), event rules for what
 * breaks rotation without a metric (Secrets Manager's RotationFailed/RotationAbandoned, the storage key disabled,
 * scheduled for deletion or its policy replaced), and a dashboard. Every alarm description and event message says what
 * it means and the first command to run; RUNBOOK.md has one section per alarm and event under the same name.
 */
export class KeyMonitoring extends Construct {
  readonly topic: sns.ITopic;
  readonly dashboard: cloudwatch.Dashboard;
  /** Alarms by the RUNBOOK.md section name. */
  readonly alarms: Readonly<Record<string, cloudwatch.Alarm>>;
  /** Event rules to the on-call topic, by the RUNBOOK.md section name. */
  readonly eventRules: Readonly<Record<string, events.Rule>>;
  private readonly stage: string;

  constructor(scope: Construct, id: string, props: KeyMonitoringProps) {
    super(scope, id);
    this.stage = props.stage ?? 'default';
    const secretName = props.keysetSecretName ?? props.storage.keysetSecret.secretName;
    const commands: Commands = {
      km: (command) => `key-manager --store aws:${secretName} ${command}`,
      invokeMonitor: `aws lambda invoke --function-name ${props.rotation.function.functionName} --payload '{"action":"monitor"}' --cli-binary-format raw-in-base64-out out.json`,
    };
    this.topic = props.topic ?? this.createTopic(props);
    for (const email of props.alarmEmails ?? []) this.topic.addSubscription(new subscriptions.EmailSubscription(email));

    const alarms: Record<string, cloudwatch.Alarm> = {};
    for (const spec of [...keyUseAlarms(commands), ...rotationAlarms(props, commands), ...functionAlarms(props.rotation, commands)]) {
      alarms[spec.name] = this.alarm(spec, props.alarmNamePrefix);
    }
    alarms.UnusualKeyAccess = this.unusualAccessAlarm(props, commands);
    this.alarms = alarms;
    this.eventRules = this.pageOnEvents(props, commands);
    this.dashboard = this.createDashboard(props);
  }

  private createTopic(props: KeyMonitoringProps): sns.Topic {
    props.operationsKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
    );
    return new sns.Topic(this, 'OnCallTopic', {
      ...(props.topicName ? { topicName: props.topicName } : {}),
      displayName: `AlphaPulse keys (${this.stage}) on-call`,
      masterKey: props.operationsKey,
      enforceSSL: true,
    });
  }

  private alarm(spec: AlarmSpec, prefix: string | undefined): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(this, spec.name, { ...(prefix ? { alarmName: `${prefix}-${spec.name}` } : {}), ...spec.props });
    alarm.addAlarmAction(new cwActions.SnsAction(this.topic));
    if (spec.kind === 'state') alarm.addOkAction(new cwActions.SnsAction(this.topic));
    return alarm;
  }

  /**
   * The key manager publishes KeyDerivations per (KeyVersion, Context) and once more without dimensions: the anomaly
   * model needs one plain metric, and the total covers new versions and contexts without a redeploy. Event-style like
   * the counts: the band closes over the spike once it stops, which is no resolution.
   */
  private unusualAccessAlarm(props: KeyMonitoringProps, { km }: Commands): cloudwatch.Alarm {
    const alarm = new cloudwatch.AnomalyDetectionAlarm(this, 'UnusualKeyAccess', {
      ...(props.alarmNamePrefix ? { alarmName: `${props.alarmNamePrefix}-UnusualKeyAccess` } : {}),
      metric: derivations(),
      stdDevs: props.anomalyBandWidth ?? 3,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_UPPER_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: `Data-key derivations are above their learned band: a service or principal is reading keys far more than usual (exfiltration, a loop, a cache turned off). First: ${km('audit --log-group <application log group>')}, then ${km('status')}`,
    });
    alarm.addAlarmAction(new cwActions.SnsAction(this.topic));
    return alarm;
  }

  /**
   * What breaks rotation without a metric of ours, straight from the events AWS publishes: Secrets Manager's rotation
   * outcome events for the keyset secret (CloudTrail "AWS Service Event"), and the KMS calls that disable the storage
   * key, schedule its deletion (every keyset read fails once the pending window ends) or replace its policy
   * (CloudTrail "AWS API Call"; needs CloudTrail management events in the region, which an account trail provides).
   */
  private pageOnEvents(props: KeyMonitoringProps, { km }: Commands): Record<string, events.Rule> {
    const page = (id: string, description: string, pattern: events.EventPattern, message: string) => {
      const rule = new events.Rule(this, id, { description: `${description} (${this.stage})`, eventPattern: pattern });
      rule.addTarget(
        new targets.SnsTopic(this.topic, {
          message: events.RuleTargetInput.fromText(`AlphaPulse keys (${this.stage}): ${events.EventField.fromPath('$.detail.eventName')} at ${events.EventField.time}. ${message}`),
        }),
      );
      return rule;
    };
    const keyArn = props.storage.key.keyArn;
    return {
      RotationFailedEvent: page(
        'RotationFailedEvent',
        'Secrets Manager reports a failed or abandoned rotation of the keyset secret',
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
          detail: { eventSource: ['kms.amazonaws.com'], eventName: ['DisableKey', 'ScheduleKeyDeletion', 'PutKeyPolicy'], resources: { ARN: [keyArn] } },
        },
        `The storage key of the keyset was changed: a disabled key makes every keyset read fail, a scheduled deletion makes the keyset unreadable for good after the pending window. RUNBOOK.md, section StorageKeyEvent. First: aws kms describe-key --key-id ${keyArn}`,
      ),
    };
  }

  private createDashboard(props: KeyMonitoringProps): cloudwatch.Dashboard {
    const { rotation } = props;
    const graph = (title: string, left: cloudwatch.IMetric[], right: cloudwatch.IMetric[] = []) => new cloudwatch.GraphWidget({ title, left, right, width: 12 });
    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      ...(props.dashboardName ? { dashboardName: props.dashboardName } : {}),
      widgets: [
        [
          graph('Key derivations (all contexts and versions)', [derivations()]),
          graph('Failures', ['KeyRetrievalFailures', 'DecryptionFailures', 'KeyVersionMismatch'].map((m) => metric(m, 'Sum', FIVE_MINUTES))),
        ],
        [
          graph(
            'Rotations',
            ['RotationSucceeded', 'RotationFailed', 'EmergencyRotations'].map((m) => metric(m, 'Sum', ONE_DAY)),
            ['RotationStuck', 'RotationDeadlineAtRisk'].map((m) => metric(m, 'Maximum', ONE_DAY)),
          ),
          graph('Key age', [metric('KeyAgeDays', 'Maximum', ONE_DAY), metric('DaysUntilRotationDue', 'Minimum', ONE_DAY)], [metric('EnabledKeyVersions', 'Maximum', ONE_DAY)]),
        ],
        [
          graph('Rotation function', [rotation.function.metricInvocations({ period: FIVE_MINUTES }), rotation.function.metricErrors({ period: FIVE_MINUTES })], [rotation.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: FIVE_MINUTES })]),
          new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: Object.values(this.alarms), width: 12 }),
        ],
      ],
    });
    // cfn-lint's resource specification predates Tags on AWS::CloudWatch::Dashboard, which CloudFormation accepts (the
    // aws-cdk-lib L1 is generated from CloudFormation's own schema and carries them): silence that one false finding here.
    (dashboard.node.defaultChild as CfnResource).addMetadata('cfn-lint', { config: { ignore_checks: ['E3002'] } });
    return dashboard;
  }
}

function derivations(): cloudwatch.Metric {
  return new cloudwatch.Metric({ namespace: METRICS_NAMESPACE, metricName: 'KeyDerivations', statistic: 'Sum', period: FIVE_MINUTES, label: 'KeyDerivations (all contexts and versions)' });
}
