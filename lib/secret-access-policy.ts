import { Lazy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';

/** Read-only metadata any principal with an identity grant may still see. */
export const METADATA_ACTIONS = ['secretsmanager:Describe*', 'secretsmanager:List*', 'secretsmanager:GetResourcePolicy'];

const VALUE_WRITE_ACTIONS = ['secretsmanager:PutSecretValue', 'secretsmanager:UpdateSecretVersionStage'];

export interface SecretAccessPolicyProps {
  /** Principals that deploy the stack: they manage the secret (rotation configuration, tags, this policy, deletion). */
  readonly administrators: readonly string[];
  /**
   * Spared by every statement, for an emergency (RUNBOOK.md, Break glass).
   * @default - none
   */
  readonly breakGlass?: string;
}

/**
 * Who may do what to one secret, whatever their identity policies say: the resource policy's explicit denies, one
 * statement per group of actions, each naming the only principals (by `aws:PrincipalArn`) it spares:
 *
 * - the value: readers may GetSecretValue of AWSCURRENT only (`secretsmanager:VersionStage`, which a request naming a
 *   VersionId does not carry: denied too); writers read any version and write (PutSecretValue,
 *   UpdateSecretVersionStage);
 * - rotation: rotators (and deployments, which configure the schedule) may ask for one (RotateSecret);
 * - everything else but reading metadata (Describe*, List*, GetResourcePolicy) — UpdateSecret, DeleteSecret,
 *   RestoreSecret, CancelRotateSecret, Put/DeleteResourcePolicy, replication, tags — only administrators.
 *
 * Principals are added by the grants of the construct that owns the secret, before or after this policy is created:
 * the lists are read at synthesis. AWS services acting as themselves (`aws:PrincipalIsAWSService`) are never denied:
 * Secrets Manager's own work during rotation must go through.
 */
export class SecretAccessPolicy {
  private readonly readers: string[] = [];
  private readonly writers: string[] = [];
  private readonly rotators: string[] = [];

  constructor(secret: secretsmanager.Secret, private readonly props: SecretAccessPolicyProps) {
    const spare = (...groups: (() => readonly string[])[]) => () => [...new Set([...groups.flatMap((g) => g()), ...(props.breakGlass ? [props.breakGlass] : [])])];
    const readers = () => this.readers;
    const writers = () => this.writers;
    const rotators = () => this.rotators;
    const administrators = () => props.administrators;
    const statements = [
      deny('ReadTheValueOnlyKeyRoles', spare(readers, writers), { actions: ['secretsmanager:GetSecretValue'] }),
      deny('ReadersSeeOnlyAWSCURRENT', spare(writers), { actions: ['secretsmanager:GetSecretValue'] }, { StringNotEquals: { 'secretsmanager:VersionStage': 'AWSCURRENT' } }),
      deny('WriteTheValueOnlyWriters', spare(writers), { actions: VALUE_WRITE_ACTIONS }),
      deny('RotateOnlyRotators', spare(rotators, administrators), { actions: ['secretsmanager:RotateSecret'] }),
      deny('ManageOnlyDeploymentsAndBreakGlass', spare(administrators), {
        notActions: [...METADATA_ACTIONS, 'secretsmanager:GetSecretValue', ...VALUE_WRITE_ACTIONS, 'secretsmanager:RotateSecret'],
      }),
    ];
    for (const statement of statements) secret.addToResourcePolicy(statement);
  }

  /** May read the current value. */
  addReader(principalArn: string): void {
    add(this.readers, principalArn);
  }

  /** May read any version, write versions and move labels. */
  addWriter(principalArn: string): void {
    add(this.writers, principalArn);
  }

  /** May ask Secrets Manager to rotate. */
  addRotator(principalArn: string): void {
    add(this.rotators, principalArn);
  }

  /** Whether `principalArn` was added as a reader or writer (for a grant made on a secret it cannot reach otherwise). */
  admitsValueReads(principalArn: string): boolean {
    return this.readers.includes(principalArn) || this.writers.includes(principalArn) || this.props.breakGlass === principalArn;
  }
}

function add(list: string[], arn: string): void {
  if (!list.includes(arn)) list.push(arn);
}

/**
 * A deny of `actions` to everyone but `spared()` (read at synthesis); with nobody to spare, to everyone but AWS
 * services acting as themselves.
 */
function deny(sid: string, spared: () => string[], actions: { actions?: string[]; notActions?: string[] }, extra: Record<string, Record<string, unknown>> = {}): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid,
    effect: iam.Effect.DENY,
    principals: [new iam.AnyPrincipal()],
    ...actions,
    resources: ['*'],
    conditions: {
      ArnNotLike: Lazy.any({ produce: () => (spared().length > 0 ? { 'aws:PrincipalArn': spared() } : undefined) }),
      Bool: { 'aws:PrincipalIsAWSService': 'false' },
      ...extra,
    },
  });
}
