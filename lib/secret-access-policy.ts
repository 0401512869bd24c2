import * as iam from 'aws-cdk-lib/aws-iam';

/**
 * Who may do what to one secret, whatever their identity policies say: the resource policy's explicit denies,
 * one statement per group of actions, each naming the only principals (by `aws:PrincipalArn`) it spares.
 *
 * - the value: `readers` may GetSecretValue of AWSCURRENT only (`secretsmanager:VersionStage`, absent when a
 *   request names a VersionId: denied too); `writers` read any version and write (PutSecretValue,
 *   UpdateSecretVersionStage);
 * - rotation: `rotators` may ask for one (RotateSecret);
 * - everything else but reading metadata (Describe*, List*, GetResourcePolicy) — UpdateSecret, DeleteSecret,
 *   RestoreSecret, CancelRotateSecret, Put/DeleteResourcePolicy, replication, tags — only `administrators`: the
 *   stack's CloudFormation execution role (deployments configure rotation, tags and this policy, and delete the
 *   secret with a dev stack) and the break-glass principal.
 *
 * The break-glass principal is spared by every statement. AWS services acting as themselves
 * (`aws:PrincipalIsAWSService`) are not principals of the account and are never denied here: Secrets Manager's
 * own work during rotation must go through.
 */
export interface SecretAccess {
  /** Read AWSCURRENT only. */
  readonly readers: readonly string[];
  /** Read any version, write versions and move labels. */
  readonly writers: readonly string[];
  /** Ask Secrets Manager to rotate. */
  readonly rotators: readonly string[];
  /** Everything, for deployments. */
  readonly administrators: readonly string[];
  /** Everything, for an emergency (RUNBOOK.md, Break glass). */
  readonly breakGlass?: string;
}

/** Read-only metadata any principal with an identity grant may still see. */
export const METADATA_ACTIONS = ['secretsmanager:Describe*', 'secretsmanager:List*', 'secretsmanager:GetResourcePolicy'];

const VALUE_WRITE_ACTIONS = ['secretsmanager:PutSecretValue', 'secretsmanager:UpdateSecretVersionStage'];

export function secretAccessStatements(access: SecretAccess): iam.PolicyStatement[] {
  const spare = (...groups: (readonly string[])[]): string[] => [...new Set([...groups.flat(), ...(access.breakGlass ? [access.breakGlass] : [])])];
  const deny = (sid: string, spared: string[], actions: { actions?: string[]; notActions?: string[] }, extra: Record<string, Record<string, unknown>> = {}) =>
    new iam.PolicyStatement({
      sid,
      effect: iam.Effect.DENY,
      principals: [new iam.AnyPrincipal()],
      ...actions,
      resources: ['*'],
      conditions: { ArnNotLike: { 'aws:PrincipalArn': spared }, Bool: { 'aws:PrincipalIsAWSService': 'false' }, ...extra },
    });
  return [
    deny('ReadTheValueOnlyKeyRoles', spare(access.readers, access.writers), { actions: ['secretsmanager:GetSecretValue'] }),
    deny('ReadersSeeOnlyAWSCURRENT', spare(access.writers), { actions: ['secretsmanager:GetSecretValue'] }, { StringNotEquals: { 'secretsmanager:VersionStage': 'AWSCURRENT' } }),
    deny('WriteTheValueOnlyWriters', spare(access.writers), { actions: VALUE_WRITE_ACTIONS }),
    deny('RotateOnlyRotators', spare(access.rotators, access.administrators), { actions: ['secretsmanager:RotateSecret'] }),
    deny('ManageOnlyDeploymentsAndBreakGlass', spare(access.administrators), {
      notActions: [...METADATA_ACTIONS, 'secretsmanager:GetSecretValue', ...VALUE_WRITE_ACTIONS, 'secretsmanager:RotateSecret'],
    }),
  ];
}
