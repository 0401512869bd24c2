/**
 * KeysetInitializer: the deploy-time custom resource that has the rotation function write keyset version 1, through
 * the CDK provider framework; in each stage's stack, and alone in a bare stack.
 */
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { STAGES, type StageName } from '../../lib/config';
import { KeyStorage } from '../../lib/key-storage';
import { KeysetInitializer } from '../../lib/keyset-initializer';
import { arnOf, logicalIdOfConstruct, physicalNames, ref, resourceAt, resourcesUnder, roleStatements, type Synthesized, synthesizeStages, testApp } from './stack-fixture';

let stages: Record<StageName, Synthesized>;

const HANDLER_ARN = 'arn:aws:lambda:us-east-1:123456789012:function:team-keyset-handler';

/** A KeysetInitializer with the least a stack must give it: a handler, a KeyStorage and an operations key. */
function alone(stack: Stack, id: string, handler?: lambda.IFunction) {
  const storage = new KeyStorage(stack, `${id}Storage`);
  const operationsKey = new kms.Key(stack, `${id}OperationsKey`, { enableKeyRotation: true });
  const fn = handler ?? new lambda.Function(stack, `${id}Handler`, { runtime: lambda.Runtime.NODEJS_22_X, handler: 'index.handler', code: lambda.Code.fromInline('exports.handler = async () => ({});') });
  return { storage, operationsKey, handler: fn, initializer: new KeysetInitializer(stack, id, { handler: fn, storage, operationsKey }) };
}

const app = testApp();
const bare = new Stack(app, 'Bare');
const { initializer, storage, operationsKey, handler } = alone(bare, 'Init');

const twice = new Stack(app, 'Twice');
const first = alone(twice, 'First');
const second = alone(twice, 'Second');

// A handler of another stack or app, imported by ARN.
const importedHandler = new Stack(app, 'ImportedHandler');
const fromArn = alone(importedHandler, 'Init', lambda.Function.fromFunctionAttributes(importedHandler, 'Handler', { functionArn: HANDLER_ARN, sameEnvironment: true }));

const t: Record<string, Template> = {};
beforeAll(() => {
  stages = synthesizeStages();
  for (const stack of [bare, twice, importedHandler]) t[stack.stackName] = Template.fromStack(stack);
});

const framework = (i: KeysetInitializer): IConstruct => i.provider.node.findChild('framework-onEvent');

describe.each(STAGES)('stage %s', (stage) => {
  const k = () => stages[stage].stack.keys;
  const template = () => stages[stage].template;

  it('initializes the keyset on deploy through the rotation function itself', () => {
    const resource = Object.values(template().findResources('Custom::AlphaPulseKeysetInit'));
    expect(resource).toHaveLength(1);
    expect(resource[0].Properties).toMatchObject({ KeysetSecretArn: ref(k().keysetSecret), RotationLogSecretArn: ref(k().rotationLogSecret) });
    expect(resourceAt(template(), k().initializer.resource)).toBe(resource[0]);
    // The provider framework relays to exactly the rotation function.
    expect(resourceAt(template(), framework(k().initializer)).Properties.Environment.Variables).toMatchObject({ USER_ON_EVENT_FUNCTION_ARN: arnOf(k().rotationFunction) });
  });
});

describe('alone in a bare stack, with a handler, a storage and an operations key', () => {
  it('synthesizes with every name generated', () => {
    expect(physicalNames(t.Bare)).toEqual([]);
  });

  it('sends the two secret ARNs to the handler, through a provider framework that may invoke only that handler', () => {
    expect(resourceAt(t.Bare, initializer.resource)).toMatchObject({
      Type: 'Custom::AlphaPulseKeysetInit',
      Properties: { ServiceToken: arnOf(framework(initializer)), KeysetSecretArn: ref(storage.keysetSecret), RotationLogSecretArn: ref(storage.rotationLogSecret) },
    });
    expect(resourceAt(t.Bare, framework(initializer)).Properties.Environment.Variables).toMatchObject({ USER_ON_EVENT_FUNCTION_ARN: arnOf(handler) });
    const role = initializer.node.findChild('ProviderRole');
    expect(resourceAt(t.Bare, framework(initializer)).Properties.Role).toEqual(arnOf(role));
    const invoke = roleStatements(t.Bare, role).filter((s) => s.Action.includes('lambda:InvokeFunction'));
    expect(invoke.flatMap((s) => s.Resource)).toEqual([arnOf(handler), { 'Fn::Join': ['', [arnOf(handler), ':*']] }]);
  });

  it("logs the framework to its own log group, encrypted with the operations key, a year, retained", () => {
    const groups = resourcesUnder(t.Bare, initializer, 'AWS::Logs::LogGroup');
    expect(Object.values(groups)).toHaveLength(1);
    const [id, group] = Object.entries(groups)[0];
    expect(group).toMatchObject({ DeletionPolicy: 'Retain', Properties: { RetentionInDays: 365, KmsKeyId: arnOf(operationsKey) } });
    expect(resourceAt(t.Bare, framework(initializer)).Properties.LoggingConfig).toMatchObject({ LogGroup: ref(id) });
  });
});

describe('two in one stack', () => {
  it('do not clash: no physical name is set, and each relays to its own handler for its own secrets', () => {
    expect(physicalNames(t.Twice)).toEqual([]);
    for (const x of [first, second]) {
      expect(resourceAt(t.Twice, x.initializer.resource).Properties.KeysetSecretArn).toEqual(ref(x.storage.keysetSecret));
      expect(resourceAt(t.Twice, framework(x.initializer)).Properties.Environment.Variables.USER_ON_EVENT_FUNCTION_ARN).toEqual(arnOf(x.handler));
    }
    expect(logicalIdOfConstruct(first.initializer.resource)).not.toBe(logicalIdOfConstruct(second.initializer.resource));
  });
});

describe('with a handler imported by ARN', () => {
  it('relays to that ARN', () => {
    expect(resourceAt(t.ImportedHandler, framework(fromArn.initializer)).Properties.Environment.Variables.USER_ON_EVENT_FUNCTION_ARN).toBe(HANDLER_ARN);
  });

  it("acknowledges the framework's invoke on the handler's versions, so AwsSolutions finds nothing of its own", () => {
    const report = new AwsSolutionsChecks().validateScope(importedHandler) as unknown as { violations: { ruleName: string; violatingResources?: { constructPath?: string }[] }[] };
    const underInitializer = report.violations.flatMap((v) => (v.violatingResources ?? []).filter((r) => r.constructPath?.startsWith(`${fromArn.initializer.node.path}/`)).map((r) => `${v.ruleName} ${r.constructPath}`));
    expect(underInitializer).toEqual([]);
  });
});
