/**
 * Builds each stage's stack once per test file (synthesis is the slow part of these tests), finds resources by the
 * construct that made them (never by a physical name or a guessed logical id), and reads IAM statements out of the
 * template in a form tests can assert on.
 */
import { App, CfnElement, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { resolveStageConfig, STAGES, type StageConfigOptions, type StageName } from '../../lib/config';
import { KeyManagementStack, stackName } from '../../lib/key-management-stack';

export interface Synthesized {
  readonly stack: KeyManagementStack;
  readonly template: Template;
}

/**
 * An App for these tests, with CDK's built-in CloudFormation validation off: that validator is a WASM engine started
 * in the first synthesis of every test file (most of a file's time, and again a part of every synthesis after). It
 * finds nothing in these templates; cfn-lint.test.ts runs it once, strict, over the stage stacks and a bare
 * AlphaPulseKeys, beside cfn-lint.
 */
export function testApp(): App {
  return new App({ builtinCloudFormationValidation: false });
}

export function synthesizeStages(overrides: Partial<Record<StageName, StageConfigOptions>> = {}): Record<StageName, Synthesized> {
  const app = testApp();
  const stacks = STAGES.map((stage) => new KeyManagementStack(app, stackName(stage), { config: resolveStageConfig(stage, overrides[stage] ?? {}) }));
  // One synthesis of the whole app; every construct must exist before the first.
  const out = {} as Record<StageName, Synthesized>;
  STAGES.forEach((stage, i) => {
    out[stage] = { stack: stacks[i], template: Template.fromStack(stacks[i]) };
  });
  return out;
}

/** A resource as it appears in the template's `Resources`. */
export interface TemplateResource {
  readonly Type: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly Properties: Record<string, any>;
  readonly DependsOn?: string[];
  readonly DeletionPolicy?: string;
  readonly UpdateReplacePolicy?: string;
  readonly Metadata?: Record<string, unknown>;
}

/** The CloudFormation element a construct synthesizes to: itself, or its default child (an L2's L1). */
function elementOf(construct: IConstruct): CfnElement {
  const element = CfnElement.isCfnElement(construct) ? construct : construct.node.defaultChild;
  if (element === undefined || !CfnElement.isCfnElement(element)) throw new Error(`${construct.node.path} is no CloudFormation element and has no default child that is one`);
  return element as CfnElement;
}

/** Logical id of the resource `construct` synthesizes to (a CfnElement, or the default child of an L2), overrides included. */
export function logicalIdOfConstruct(construct: IConstruct): string {
  const element = elementOf(construct);
  return Stack.of(element).resolve(element.logicalId) as string;
}

/** The resource `construct` synthesized to in `template` (the template of the construct's own stack). */
export function resourceAt(template: Template, construct: IConstruct): TemplateResource {
  const id = logicalIdOfConstruct(construct);
  const resource = (template.toJSON().Resources as Record<string, TemplateResource> | undefined)?.[id];
  if (resource === undefined) throw new Error(`${construct.node.path} (${id}) is not in the template`);
  return resource;
}

/** Every resource synthesized from `scope` or any construct below it, by logical id; only those of `type` if given. */
export function resourcesUnder(template: Template, scope: IConstruct, type?: string): Record<string, TemplateResource> {
  const resources = template.toJSON().Resources as Record<string, TemplateResource>;
  const out: Record<string, TemplateResource> = {};
  for (const c of scope.node.findAll()) {
    if (!CfnElement.isCfnElement(c)) continue;
    const id = logicalIdOfConstruct(c);
    const r = resources[id];
    if (r !== undefined && (type === undefined || r.Type === type)) out[id] = r;
  }
  return out;
}

/** The physical-name property of each resource type these constructs create (the ones a user may set or leave generated). */
export const NAME_PROPERTIES: Readonly<Record<string, string>> = {
  'AWS::Lambda::Function': 'FunctionName',
  'AWS::SecretsManager::Secret': 'Name',
  'AWS::SNS::Topic': 'TopicName',
  'AWS::CloudWatch::Alarm': 'AlarmName',
  'AWS::CloudWatch::Dashboard': 'DashboardName',
  'AWS::IAM::Role': 'RoleName',
  'AWS::IAM::ManagedPolicy': 'ManagedPolicyName',
  'AWS::SQS::Queue': 'QueueName',
  'AWS::Logs::LogGroup': 'LogGroupName',
  'AWS::S3::Bucket': 'BucketName',
  'AWS::KMS::Alias': 'AliasName',
  'AWS::Events::Rule': 'Name',
};

/** Every physical name set in the template, as `<type> <name>` (unresolved names as their JSON). */
export function physicalNames(template: Template): string[] {
  return Object.values(template.toJSON().Resources as Record<string, TemplateResource>)
    .filter((r) => NAME_PROPERTIES[r.Type] !== undefined && r.Properties?.[NAME_PROPERTIES[r.Type]] !== undefined)
    .map((r) => {
      const name = r.Properties[NAME_PROPERTIES[r.Type]];
      return `${r.Type} ${typeof name === 'string' ? name : JSON.stringify(name)}`;
    });
}

export interface Statement {
  readonly Effect: 'Allow' | 'Deny';
  readonly Action: string[];
  readonly Resource: unknown[];
  readonly Condition?: Record<string, Record<string, unknown>>;
}

/** Every statement of the identity policies attached to the role (by logical id, or the role construct). */
export function roleStatements(template: Template, role: string | IConstruct): Statement[] {
  const roleLogicalId = idOf(role);
  const policies = template.findResources('AWS::IAM::Policy');
  const statements: Statement[] = [];
  for (const policy of Object.values(policies)) {
    const roles = (policy.Properties.Roles as { Ref: string }[]).map((r) => r.Ref);
    if (!roles.includes(roleLogicalId)) continue;
    for (const s of policy.Properties.PolicyDocument.Statement as Record<string, unknown>[]) {
      statements.push({
        Effect: s.Effect as 'Allow' | 'Deny',
        Action: ([] as string[]).concat(s.Action as string | string[]),
        Resource: ([] as unknown[]).concat(s.Resource as unknown),
        Condition: s.Condition as Statement['Condition'],
      });
    }
  }
  return statements;
}

/** Allow statements that grant `action` (exactly, or through a wildcard such as `s3:Get*`). */
export function allowsOf(statements: Statement[], action: string): Statement[] {
  return statements.filter((s) => s.Effect === 'Allow' && s.Action.some((a) => actionMatches(a, action)));
}

export function actionMatches(pattern: string, action: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 'i');
  return re.test(action);
}

const idOf = (target: string | IConstruct): string => (typeof target === 'string' ? target : logicalIdOfConstruct(target));

/** `{ Ref }` of a resource, by logical id or by its construct. */
export const ref = (target: string | IConstruct) => ({ Ref: idOf(target) });
/** `{ Fn::GetAtt: [id, Arn] }` of a resource, by logical id or by its construct. */
export const arnOf = (target: string | IConstruct) => ({ 'Fn::GetAtt': [idOf(target), 'Arn'] });

/** One stage's stack alone, for a configuration other than the defaults (one more synthesis). */
export function synthesizeStage(stage: StageName, options: StageConfigOptions): Synthesized {
  const app = testApp();
  const stack = new KeyManagementStack(app, stackName(stage), { config: resolveStageConfig(stage, options) });
  return { stack, template: Template.fromStack(stack) };
}

export interface IamStatementRef {
  /** Logical id of the policy or role, with `#<policy name>` for a role's inline policy. */
  readonly source: string;
  readonly statement: Record<string, unknown>;
}

/**
 * Every statement of every IAM identity policy: AWS::IAM::Policy, AWS::IAM::ManagedPolicy and the inline `Policies`
 * of AWS::IAM::Role. Key policies (AWS::KMS::Key KeyPolicy, where `Resource: "*"` means "this key") and other
 * resource policies are not identity policies and are not included.
 */
export function iamPolicyStatements(template: Template): IamStatementRef[] {
  const out: IamStatementRef[] = [];
  const push = (source: string, document: unknown) => {
    const statements = (document as { Statement?: unknown } | undefined)?.Statement;
    for (const statement of ([] as unknown[]).concat(statements ?? [])) out.push({ source, statement: statement as Record<string, unknown> });
  };
  for (const type of ['AWS::IAM::Policy', 'AWS::IAM::ManagedPolicy']) {
    for (const [id, r] of Object.entries(template.findResources(type))) push(id, r.Properties.PolicyDocument);
  }
  for (const [id, r] of Object.entries(template.findResources('AWS::IAM::Role'))) {
    for (const p of (r.Properties.Policies ?? []) as { PolicyName: string; PolicyDocument: unknown }[]) push(`${id}#${p.PolicyName}`, p.PolicyDocument);
  }
  return out;
}

const SECRET_OR_KMS_ACTION = /^(secretsmanager|kms):/i;

/**
 * Allow statements granting a secretsmanager or kms action on a resource containing `*` anywhere (the literal
 * `"*"`, `secret:name-*`, `key/*`, or a `*` inside an `Fn::Join`), or granting a wildcard action of those services.
 * `justifiedSids` lists statements reviewed and accepted (by Sid).
 */
export function wildcardSecretOrKmsGrants(template: Template, justifiedSids: ReadonlySet<string> = new Set()): IamStatementRef[] {
  return iamPolicyStatements(template).filter(({ statement: s }) => {
    if (s.Effect !== 'Allow' || (typeof s.Sid === 'string' && justifiedSids.has(s.Sid))) return false;
    const actions = ([] as string[]).concat((s.Action ?? []) as string | string[]);
    const ours = actions.filter((a) => SECRET_OR_KMS_ACTION.test(a) || a === '*');
    if (ours.length === 0) return false;
    if (ours.some((a) => a.includes('*'))) return true;
    if (s.NotResource !== undefined) return true;
    return ([] as unknown[]).concat(s.Resource ?? []).some((r) => JSON.stringify(r).includes('*'));
  });
}
