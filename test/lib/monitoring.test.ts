/**
 * KeyMonitoring: the on-call topic, the alarms (one per RUNBOOK.md section), the event rules and the dashboard; in
 * each stage's stack, and alone in a bare stack.
 */
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import { resolveStageConfig, STAGES, type StageName } from '../../lib/config';
import { KeyStorage } from '../../lib/key-storage';
import { KeyMonitoring, type KeyMonitoringProps } from '../../lib/monitoring';
import { RotationFunction } from '../../lib/rotation-function';
import { arnOf, logicalIdOfConstruct, physicalNames, ref, resourceAt, resourcesUnder, type Synthesized, synthesizeStages, testApp } from './stack-fixture';

let stages: Record<StageName, Synthesized>;

const PERIOD: Record<StageName, number | null> = { prod: 90, staging: 30, dev: null };
const keysetName = (stage: StageName) => resolveStageConfig(stage).keysetSecretName;

/** Alarms counting occurrences per 5 minutes: their data disappears after the event, so they send no OK. */
const EVENT_ALARMS = ['KeyRetrievalFailures', 'DecryptionFailures', 'RotationFailed', 'KeyVersionMismatch', 'RotationFunctionErrors', 'UnusualKeyAccess'];
/** Alarms on a lasting condition: their OK means it was fixed. */
const STATE_ALARMS = (period: number | null) => [...(period === null ? [] : ['RotationDeadlineApproaching', 'RotationOverdue']), 'RotationStuck', 'StorageKeyUnhealthy', 'MonitorSilent', 'DeadLetterQueueNotEmpty'];

/** A KeyMonitoring with the least a stack must give it: a KeyStorage, a RotationFunction, an operations key and a period. */
function alone(stack: Stack, id: string, props: Partial<KeyMonitoringProps> = {}) {
  const storage = new KeyStorage(stack, `${id}Storage`);
  const operationsKey = new kms.Key(stack, `${id}OperationsKey`, { enableKeyRotation: true });
  const rotationPeriodDays = props.rotationPeriodDays === undefined ? 90 : props.rotationPeriodDays;
  const rotation = new RotationFunction(stack, `${id}Rotation`, { storage, operationsKey, rotationPeriodDays });
  return { storage, operationsKey, rotation, monitoring: new KeyMonitoring(stack, id, { storage, rotation, operationsKey, rotationPeriodDays, ...props }) };
}

const app = testApp();
const bare = new Stack(app, 'Bare');
const { monitoring, operationsKey, storage, rotation } = alone(bare, 'Monitoring');

const onDemand = new Stack(app, 'OnDemand');
const { monitoring: onDemandMonitoring } = alone(onDemand, 'Monitoring', { rotationPeriodDays: null });

const twice = new Stack(app, 'Twice');
const first = alone(twice, 'First');
const second = alone(twice, 'Second');

const ownTopic = new Stack(app, 'OwnTopic');
const teamTopic = new sns.Topic(ownTopic, 'TeamTopic');
const withTopic = alone(ownTopic, 'Monitoring', { topic: teamTopic, alarmNamePrefix: 'team-keys', alarmEmails: ['oncall@example.com'], stage: 'qa', keysetSecretName: 'team/keyset' });

const t: Record<string, Template> = {};
beforeAll(() => {
  stages = synthesizeStages();
  for (const stack of [bare, onDemand, twice, ownTopic]) t[stack.stackName] = Template.fromStack(stack);
});

describe.each(STAGES)('stage %s', (stage) => {
  const k = () => stages[stage].stack.keys;
  const template = () => stages[stage].template;
  /** The properties of the alarm of this RUNBOOK.md section, found by its construct; undefined when there is none. */
  const alarm = (name: string) => {
    const construct = k().alarms[name];
    return construct === undefined ? undefined : resourceAt(template(), construct).Properties;
  };
  const topic = () => ref(k().topic);

  it('encrypts the on-call topic and lets CloudWatch alarms publish to it', () => {
    expect(Object.keys(template().findResources('AWS::SNS::Topic'))).toEqual([logicalIdOfConstruct(k().topic)]);
    expect(resourceAt(template(), k().topic).Properties.KmsMasterKeyId).toEqual(arnOf(k().operationsKey));
    expect(resourceAt(template(), k().operationsKey).Properties.KeyPolicy.Statement).toEqual(
      expect.arrayContaining([expect.objectContaining({ Sid: 'AllowCloudWatchAlarmsToPublish', Principal: { Service: 'cloudwatch.amazonaws.com' } })]),
    );
  });

  it.each([
    ['KeyRetrievalFailures', 'KeyRetrievalFailures', 1, 'GreaterThanOrEqualToThreshold', 300],
    ['DecryptionFailures', 'DecryptionFailures', 1, 'GreaterThanOrEqualToThreshold', 300],
    ['RotationFailed', 'RotationFailed', 1, 'GreaterThanOrEqualToThreshold', 300],
    ['KeyVersionMismatch', 'KeyVersionMismatch', 1, 'GreaterThanOrEqualToThreshold', 300],
  ])('alarms %s on %s (threshold %d, %s, period %ds)', (name, metric, threshold, operator, period) => {
    expect(alarm(name)).toMatchObject({ MetricName: metric, Namespace: 'AlphaPulse/Encryption', Threshold: threshold, ComparisonOperator: operator, Period: period, EvaluationPeriods: 1 });
  });

  it('alarms MonitorSilent after 26 consecutive hours without a KeyAgeDays datapoint (a late daily run does not flap)', () => {
    expect(alarm('MonitorSilent')).toMatchObject({
      MetricName: 'KeyAgeDays',
      Namespace: 'AlphaPulse/Encryption',
      Statistic: 'SampleCount',
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      Period: 3600,
      EvaluationPeriods: 26,
      DatapointsToAlarm: 26,
      TreatMissingData: 'breaching',
    });
  });

  if (PERIOD[stage] === null) {
    it('has no deadline or overdue alarms (rotation on demand only)', () => {
      expect(alarm('RotationDeadlineApproaching')).toBeUndefined();
      expect(alarm('RotationOverdue')).toBeUndefined();
      expect(template().findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: 'RotationDeadlineAtRisk' } })).toEqual({});
      expect(template().findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: 'KeyAgeDays', ComparisonOperator: 'GreaterThanThreshold' } })).toEqual({});
    });
  } else {
    it('alarms when the deadline is near with nothing scheduled to meet it, and once the key outlives the period', () => {
      expect(alarm('RotationDeadlineApproaching')).toMatchObject({ MetricName: 'RotationDeadlineAtRisk', Statistic: 'Maximum', Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold', Period: 86400 });
      expect(alarm('RotationOverdue')).toMatchObject({ MetricName: 'KeyAgeDays', Threshold: PERIOD[stage], ComparisonOperator: 'GreaterThanThreshold' });
    });

    it('tells the on-call engineer, for the deadline alarm, to look at status and then rotate through Secrets Manager', () => {
      const description = JSON.stringify(alarm('RotationDeadlineApproaching')!.AlarmDescription);
      expect(description).toMatch(/nothing will rotate it in time/);
      const firstCommand = description.slice(description.indexOf('First:'));
      expect(firstCommand.indexOf(`key-manager --store aws:${keysetName(stage)} status`)).toBeGreaterThan(0);
      expect(firstCommand.indexOf(`key-manager --store aws:${keysetName(stage)} rotate`)).toBeGreaterThan(firstCommand.indexOf('status'));
    });
  }

  it("alarms on a stuck rotation and on an unhealthy storage key, from the monitor's gauges", () => {
    expect(alarm('RotationStuck')).toMatchObject({ MetricName: 'RotationStuck', Statistic: 'Maximum', Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
    expect(alarm('StorageKeyUnhealthy')).toMatchObject({ MetricName: 'StorageKeyHealthy', Statistic: 'Minimum', Threshold: 1, ComparisonOperator: 'LessThanThreshold' });
  });

  it('pages on Secrets Manager rotation failures and abandonments of the keyset secret, with the RUNBOOK section', () => {
    const found = Object.entries(template().findResources('AWS::Events::Rule', { Properties: { EventPattern: { source: ['aws.secretsmanager'] } } }));
    expect(found.map(([id]) => id)).toEqual([logicalIdOfConstruct(k().monitoring.eventRules.RotationFailedEvent)]);
    const rule = resourceAt(template(), k().monitoring.eventRules.RotationFailedEvent);
    expect(rule.Properties.EventPattern).toEqual({
      source: ['aws.secretsmanager'],
      'detail-type': ['AWS Service Event via CloudTrail'],
      detail: { eventName: ['RotationFailed', 'RotationAbandoned'], additionalEventData: { SecretId: [ref(k().keysetSecret)] } },
    });
    expect(rule.Properties.Targets).toHaveLength(1);
    expect(rule.Properties.Targets[0].Arn).toEqual(topic());
    expect(rule.Properties.Targets[0].InputTransformer.InputTemplate).toContain('RUNBOOK.md, section RotationFailedEvent');
  });

  it('pages when the storage key is disabled, scheduled for deletion or given a new policy', () => {
    const found = Object.entries(template().findResources('AWS::Events::Rule', { Properties: { EventPattern: { source: ['aws.kms'] } } }));
    expect(found.map(([id]) => id)).toEqual([logicalIdOfConstruct(k().monitoring.eventRules.StorageKeyEvent)]);
    const rule = resourceAt(template(), k().monitoring.eventRules.StorageKeyEvent);
    expect(rule.Properties.EventPattern).toEqual({
      source: ['aws.kms'],
      'detail-type': ['AWS API Call via CloudTrail'],
      detail: { eventSource: ['kms.amazonaws.com'], eventName: ['DisableKey', 'ScheduleKeyDeletion', 'PutKeyPolicy'], resources: { ARN: [arnOf(k().key)] } },
    });
    expect(JSON.stringify(rule.Properties.Targets[0].InputTransformer.InputTemplate)).toContain('RUNBOOK.md, section StorageKeyEvent');
  });

  it('lets EventBridge publish to the encrypted on-call topic', () => {
    const policies = Object.values(template().findResources('AWS::SNS::TopicPolicy', { Properties: { Topics: [topic()] } }));
    expect(policies).toHaveLength(1);
    expect(policies[0].Properties.PolicyDocument.Statement).toEqual(expect.arrayContaining([expect.objectContaining({ Action: 'sns:Publish', Principal: { Service: 'events.amazonaws.com' } })]));
    expect(resourceAt(template(), k().operationsKey).Properties.KeyPolicy.Statement).toEqual(
      expect.arrayContaining([expect.objectContaining({ Principal: { Service: 'events.amazonaws.com' }, Action: ['kms:GenerateDataKey', 'kms:Decrypt'] })]),
    );
  });

  it('detects unusual access with an anomaly band over the undimensioned KeyDerivations total', () => {
    const a = alarm('UnusualKeyAccess')!;
    expect(a.ComparisonOperator).toBe('GreaterThanUpperThreshold');
    const band = a.Metrics.find((m: { Id: string }) => m.Id === a.ThresholdMetricId);
    expect(band.Expression).toMatch(/^ANOMALY_DETECTION_BAND\(m0, 3\)$/);
    const m0 = a.Metrics.find((m: { Id: string }) => m.Id === 'm0');
    expect(m0.MetricStat).toEqual({ Metric: { Namespace: 'AlphaPulse/Encryption', MetricName: 'KeyDerivations' }, Period: 300, Stat: 'Sum' });
  });

  it('alarms on function errors and on a non-empty dead-letter queue', () => {
    expect(alarm('RotationFunctionErrors')).toMatchObject({ MetricName: 'Errors', Namespace: 'AWS/Lambda', Threshold: 1, Dimensions: [{ Name: 'FunctionName', Value: ref(k().rotationFunction) }] });
    expect(alarm('DeadLetterQueueNotEmpty')).toMatchObject({ MetricName: 'ApproximateNumberOfMessagesVisible', Namespace: 'AWS/SQS', Threshold: 1, Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalIdOfConstruct(k().rotation.deadLetterQueue), 'QueueName'] } }] });
  });

  it("sends only state alarms' recovery to the on-call topic: an event count going quiet must not auto-resolve the page", () => {
    for (const name of EVENT_ALARMS) {
      expect(alarm(name)!.AlarmActions).toEqual([topic()]);
      expect(alarm(name)!.OKActions).toBeUndefined();
    }
    for (const name of STATE_ALARMS(PERIOD[stage])) expect(alarm(name)!.OKActions).toEqual([topic()]);
    expect(EVENT_ALARMS.length + STATE_ALARMS(PERIOD[stage]).length).toBe(Object.keys(template().findResources('AWS::CloudWatch::Alarm')).length);
    expect(Object.keys(k().alarms).sort()).toEqual([...EVENT_ALARMS, ...STATE_ALARMS(PERIOD[stage])].sort());
  });

  it('sends every alarm to the on-call topic, with the first command in the description', () => {
    const alarms = Object.values(template().findResources('AWS::CloudWatch::Alarm'));
    expect(alarms).toHaveLength(PERIOD[stage] === null ? 10 : 12);
    for (const a of alarms) {
      expect(a.Properties.AlarmActions).toEqual([topic()]);
      const description = JSON.stringify(a.Properties.AlarmDescription);
      expect(description).toMatch(new RegExp(`key-manager --store aws:${keysetName(stage)} |aws lambda invoke --function-name|aws logs tail|aws kms describe-key`));
      // No alarm tells anyone to invoke a rotate action: the function refuses it.
      expect(description).not.toMatch(/\\"action\\":\\"rotate/);
    }
    expect(JSON.stringify(alarm('RotationFailed')!.AlarmDescription)).toContain(`key-manager --store aws:${keysetName(stage)} rotate`);
  });

  it('has a dashboard', () => {
    expect(Object.keys(template().findResources('AWS::CloudWatch::Dashboard'))).toEqual([logicalIdOfConstruct(k().monitoring.dashboard)]);
  });
});

describe('alone in a bare stack, with a storage, a rotation function, an operations key and a period', () => {
  it('synthesizes with every name generated: topic, alarms, dashboard', () => {
    expect(physicalNames(t.Bare)).toEqual([]);
  });

  it('creates its own topic, encrypted with the operations key, which CloudWatch may use to publish', () => {
    expect(Object.keys(resourcesUnder(t.Bare, monitoring, 'AWS::SNS::Topic'))).toEqual([logicalIdOfConstruct(monitoring.topic)]);
    expect(resourceAt(t.Bare, monitoring.topic).Properties).toMatchObject({ KmsMasterKeyId: arnOf(operationsKey), DisplayName: 'AlphaPulse keys (default) on-call' });
    expect((resourceAt(t.Bare, operationsKey).Properties.KeyPolicy.Statement as { Sid?: string }[]).map((s) => s.Sid)).toContain('AllowCloudWatchAlarmsToPublish');
  });

  it('sends all twelve alarms to it, and names the keyset secret in the operator commands by its ARN-derived name', () => {
    const alarms = Object.values(resourcesUnder(t.Bare, monitoring, 'AWS::CloudWatch::Alarm'));
    expect(alarms).toHaveLength(12);
    for (const a of alarms) expect(a.Properties.AlarmActions).toEqual([ref(monitoring.topic)]);
    const description = JSON.stringify(resourceAt(t.Bare, monitoring.alarms.RotationFailed).Properties.AlarmDescription);
    expect(description).toContain('key-manager --store aws:');
    expect(description).toContain(JSON.stringify(ref(storage.keysetSecret)));
    expect(JSON.stringify(resourceAt(t.Bare, monitoring.alarms.MonitorSilent).Properties.AlarmDescription)).toContain(JSON.stringify(ref(rotation.function)));
  });
});

describe('rotationPeriodDays: null', () => {
  it('has no deadline or overdue alarm, and the ten others', () => {
    expect(Object.keys(onDemandMonitoring.alarms).sort()).toEqual([...EVENT_ALARMS, ...STATE_ALARMS(null)].sort());
    expect(Object.keys(t.OnDemand.findResources('AWS::CloudWatch::Alarm'))).toHaveLength(10);
  });
});

describe('two in one stack', () => {
  it('do not clash: no physical name is set, and each watches its own function and key and pages its own topic', () => {
    expect(physicalNames(t.Twice)).toEqual([]);
    for (const x of [first, second]) {
      expect(resourceAt(t.Twice, x.monitoring.alarms.RotationFunctionErrors).Properties.Dimensions).toEqual([{ Name: 'FunctionName', Value: ref(x.rotation.function) }]);
      expect(resourceAt(t.Twice, x.monitoring.eventRules.StorageKeyEvent).Properties.EventPattern.detail.resources).toEqual({ ARN: [arnOf(x.storage.key)] });
      for (const a of Object.values(x.monitoring.alarms)) expect(resourceAt(t.Twice, a).Properties.AlarmActions).toEqual([ref(x.monitoring.topic)]);
    }
  });
});

describe('topic, alarm name prefix, e-mails, stage and secret name given', () => {
  it('creates no topic of its own and sends every alarm and event rule to the given one', () => {
    expect(withTopic.monitoring.topic).toBe(teamTopic);
    expect(Object.keys(t.OwnTopic.findResources('AWS::SNS::Topic'))).toEqual([logicalIdOfConstruct(teamTopic)]);
    for (const a of Object.values(withTopic.monitoring.alarms)) expect(resourceAt(t.OwnTopic, a).Properties.AlarmActions).toEqual([ref(teamTopic)]);
    for (const r of Object.values(withTopic.monitoring.eventRules)) expect(resourceAt(t.OwnTopic, r).Properties.Targets.map((x: { Arn: unknown }) => x.Arn)).toEqual([ref(teamTopic)]);
    // The given topic's key policy is its owner's: the operations key gets no statement for it.
    expect((resourceAt(t.OwnTopic, withTopic.operationsKey).Properties.KeyPolicy.Statement as { Sid?: string }[]).map((s) => s.Sid)).not.toContain('AllowCloudWatchAlarmsToPublish');
  });

  it('names the alarms with the prefix, subscribes the e-mails, and uses the stage and the secret name in messages', () => {
    expect(physicalNames(t.OwnTopic).sort()).toEqual(Object.keys(withTopic.monitoring.alarms).map((name) => `AWS::CloudWatch::Alarm team-keys-${name}`).sort());
    t.OwnTopic.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'oncall@example.com', TopicArn: ref(teamTopic) });
    expect(JSON.stringify(resourceAt(t.OwnTopic, withTopic.monitoring.alarms.RotationFailed).Properties.AlarmDescription)).toContain('key-manager --store aws:team/keyset rotate');
    expect(resourceAt(t.OwnTopic, withTopic.monitoring.eventRules.RotationFailedEvent).Properties.Description).toMatch(/\(qa\)$/);
  });
});
