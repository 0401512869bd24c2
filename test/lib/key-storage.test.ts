/**
 * KeyStorage: the customer-managed key and the two empty secrets under it, with their resource policies; in each
 * stage's stack, and alone in a bare stack.
 */
import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { STAGES, type StageName } from '../../lib/config';
import { KeyStorage } from '../../lib/key-storage';
import { deniedBy } from './policy-evaluator';
import { arnOf, logicalIdOfConstruct, physicalNames, ref, resourceAt, resourcesUnder, type Synthesized, synthesizeStages, testApp } from './stack-fixture';

const DEPLOYER = { 'Fn::Sub': 'arn:${AWS::Partition}:iam::${AWS::AccountId}:role/cdk-hnb659fds-cfn-exec-role-${AWS::AccountId}-${AWS::Region}' };
const PIPELINE = 'arn:aws:iam::123456789012:role/platform-pipeline';
const BREAK_GLASS = 'arn:aws:iam::123456789012:role/break-glass';

let stages: Record<StageName, Synthesized>;

const app = testApp();
const bare = new Stack(app, 'Bare');
const storage = new KeyStorage(bare, 'KeyStorage');
const reader = new iam.Role(bare, 'Reader', { assumedBy: new iam.AccountRootPrincipal() });
storage.grantReadKeyset(reader);

const named = new Stack(app, 'Named');
const namedStorage = new KeyStorage(named, 'KeyStorage', {
  keysetSecretName: 'team/keyset',
  rotationLogSecretName: 'team/rotation_log',
  keyAlias: 'alias/team/keyset',
  removalPolicy: RemovalPolicy.DESTROY,
  deploymentPrincipalArns: [PIPELINE],
  breakGlassPrincipalArn: BREAK_GLASS,
});

const twice = new Stack(app, 'Twice');
const firstStorage = new KeyStorage(twice, 'First');
const secondStorage = new KeyStorage(twice, 'Second');

const t: Record<string, Template> = {};
beforeAll(() => {
  stages = synthesizeStages();
  for (const stack of [bare, named, twice]) t[stack.stackName] = Template.fromStack(stack);
});

const policyOf = (template: Template, secret: secretsmanager.Secret) => resourceAt(template, secret.node.findChild('Policy')).Properties.ResourcePolicy.Statement as unknown[];

describe.each(STAGES)('stage %s', (stage) => {
  const s = () => stages[stage].stack.keys.storage;
  const template = () => stages[stage].template;

  it('creates the keyset and rotation-log secrets empty, under the customer-managed key', () => {
    const secrets = template().findResources('AWS::SecretsManager::Secret');
    expect(Object.keys(secrets)).toHaveLength(2);
    expect(Object.keys(secrets).sort()).toEqual([s().keysetSecret, s().rotationLogSecret].map(logicalIdOfConstruct).sort());
    for (const secret of Object.values(secrets)) {
      expect(secret.Properties.GenerateSecretString).toBeUndefined();
      expect(secret.Properties.SecretString).toBeUndefined();
      expect(secret.Properties.KmsKeyId).toEqual(arnOf(s().key));
    }
  });

  it('turns on rotation for the storage key', () => {
    expect(resourceAt(template(), s().key).Properties.EnableKeyRotation).toBe(true);
  });

  it('puts resource policies on both secrets (what they deny, request by request: access-roles.test.ts)', () => {
    const policies = Object.values(template().findResources('AWS::SecretsManager::ResourcePolicy')).map((p) => p.Properties.SecretId);
    expect(policies).toEqual(expect.arrayContaining([ref(s().keysetSecret), ref(s().rotationLogSecret)]));
    expect(policies).toHaveLength(2);
  });
});

describe('alone in a bare stack, with no props', () => {
  it('synthesizes with every name generated, no alias, and keeps the key and both secrets', () => {
    expect(physicalNames(t.Bare)).toEqual([]);
    expect(t.Bare.findResources('AWS::KMS::Alias')).toEqual({});
    expect(resourceAt(t.Bare, storage.key).Properties).toMatchObject({ EnableKeyRotation: true, PendingWindowInDays: 30 });
    for (const c of [storage.key, storage.keysetSecret, storage.rotationLogSecret]) expect(resourceAt(t.Bare, c)).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
  });

  it('creates both secrets empty under its key, each with its resource policy', () => {
    for (const secret of [storage.keysetSecret, storage.rotationLogSecret]) {
      const props = resourceAt(t.Bare, secret).Properties;
      expect(props).not.toHaveProperty('GenerateSecretString');
      expect(props).not.toHaveProperty('SecretString');
      expect(props.KmsKeyId).toEqual(arnOf(storage.key));
      expect(resourceAt(t.Bare, secret.node.findChild('Policy')).Properties.SecretId).toEqual(ref(secret));
    }
    expect(Object.keys(resourcesUnder(t.Bare, storage, 'AWS::SecretsManager::ResourcePolicy'))).toHaveLength(2);
  });

  it("spares the CDK bootstrap's deployment role, and no one else, by the management denies and the key's takedown deny", () => {
    const keyset = policyOf(t.Bare, storage.keysetSecret);
    expect(deniedBy(keyset, { action: 'secretsmanager:DeleteSecret', principalArn: DEPLOYER })).toEqual([]);
    expect(deniedBy(keyset, { action: 'secretsmanager:DeleteSecret', principalArn: arnOf(reader) })).toEqual(['ManageOnlyDeploymentsAndBreakGlass']);
    const keyPolicy = resourceAt(t.Bare, storage.key).Properties.KeyPolicy.Statement as unknown[];
    expect(deniedBy(keyPolicy, { action: 'kms:ScheduleKeyDeletion', principalArn: DEPLOYER })).toEqual([]);
    expect(deniedBy(keyPolicy, { action: 'kms:ScheduleKeyDeletion', principalArn: arnOf(reader) })).toEqual(['OnlyDeploymentsAndBreakGlassDisableOrDeleteTheKey']);
  });

  it('names a reader granted the current keyset in its resource policy, and no one else', () => {
    const current = { action: 'secretsmanager:GetSecretValue', keys: { 'secretsmanager:VersionStage': 'AWSCURRENT' } };
    expect(deniedBy(policyOf(t.Bare, storage.keysetSecret), { ...current, principalArn: arnOf(reader) })).toEqual([]);
    expect(deniedBy(policyOf(t.Bare, storage.keysetSecret), { ...current, principalArn: DEPLOYER })).toEqual(['ReadTheValueOnlyKeyRoles']);
    expect(deniedBy(policyOf(t.Bare, storage.rotationLogSecret), { ...current, principalArn: arnOf(reader) })).toEqual(['ReadTheValueOnlyKeyRoles']);
  });
});

describe('with names, an alias, DESTROY, deployment and break-glass principals', () => {
  it('names the secrets and aliases the key', () => {
    expect(physicalNames(t.Named).sort()).toEqual(['AWS::KMS::Alias alias/team/keyset', 'AWS::SecretsManager::Secret team/keyset', 'AWS::SecretsManager::Secret team/rotation_log']);
    expect(Object.values(t.Named.findResources('AWS::KMS::Alias'))[0].Properties.TargetKeyId).toEqual(arnOf(namedStorage.key));
    for (const c of [namedStorage.key, namedStorage.keysetSecret, namedStorage.rotationLogSecret]) expect(resourceAt(t.Named, c).DeletionPolicy).toBe('Delete');
  });

  it('spares the given principals instead of the bootstrap role', () => {
    const keyset = policyOf(t.Named, namedStorage.keysetSecret);
    const keyPolicy = resourceAt(t.Named, namedStorage.key).Properties.KeyPolicy.Statement as unknown[];
    for (const principalArn of [PIPELINE, BREAK_GLASS]) {
      expect(deniedBy(keyset, { action: 'secretsmanager:DeleteSecret', principalArn })).toEqual([]);
      expect(deniedBy(keyPolicy, { action: 'kms:DisableKey', principalArn })).toEqual([]);
    }
    expect(deniedBy(keyset, { action: 'secretsmanager:DeleteSecret', principalArn: DEPLOYER })).toEqual(['ManageOnlyDeploymentsAndBreakGlass']);
    expect(deniedBy(keyPolicy, { action: 'kms:DisableKey', principalArn: DEPLOYER })).toEqual(['OnlyDeploymentsAndBreakGlassDisableOrDeleteTheKey']);
  });
});

describe('twice in one stack', () => {
  it('does not clash: no physical name is set, and each encrypts its own secrets with its own key', () => {
    expect(physicalNames(t.Twice)).toEqual([]);
    for (const s of [firstStorage, secondStorage]) {
      for (const secret of [s.keysetSecret, s.rotationLogSecret]) expect(resourceAt(t.Twice, secret).Properties.KmsKeyId).toEqual(arnOf(s.key));
    }
    expect(logicalIdOfConstruct(firstStorage.keysetSecret)).not.toBe(logicalIdOfConstruct(secondStorage.keysetSecret));
  });
});
