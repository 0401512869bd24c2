/**
 * Enough of IAM's evaluation of explicit denies to ask a synthesized resource or key policy "is this request
 * denied?" for the condition operators our policies use. Principals and values are compared as they appear in the
 * template (a `Fn::GetAtt` of a role is equal to the same `Fn::GetAtt`), and string ARNs also by IAM's `*`
 * wildcard. Any other operator fails the test rather than guess.
 *
 * IAM semantics followed: a negated operator (ArnNotLike, StringNotEquals) is true when the condition key is
 * absent from the request; Bool compares the key's value as a string; a statement applies when its action (or
 * NotAction) and every condition match.
 */
import { actionMatches } from './stack-fixture';

export interface PolicyRequest {
  readonly action: string;
  /** `aws:PrincipalArn`: a role's `Fn::GetAtt`, a literal ARN, or absent for an AWS service principal. */
  readonly principalArn?: unknown;
  /** `aws:PrincipalIsAWSService`. @default false */
  readonly isAwsService?: boolean;
  /** Other condition keys of the request, e.g. `secretsmanager:VersionStage`. */
  readonly keys?: Readonly<Record<string, string>>;
}

interface Statement {
  readonly Sid?: string;
  readonly Effect: string;
  readonly Action?: string | string[];
  readonly NotAction?: string | string[];
  readonly Condition?: Record<string, Record<string, unknown>>;
}

const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : ([] as T[]).concat(v));

function wildcard(pattern: string, value: string): boolean {
  return new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`).test(value);
}

function sameValue(expected: unknown, actual: unknown): boolean {
  if (typeof expected === 'string' && typeof actual === 'string') return wildcard(expected, actual);
  return JSON.stringify(expected) === JSON.stringify(actual);
}

function keyValue(request: PolicyRequest, key: string): unknown {
  if (key === 'aws:PrincipalArn') return request.principalArn;
  if (key === 'aws:PrincipalIsAWSService') return String(request.isAwsService ?? false);
  return request.keys?.[key];
}

function conditionHolds(operator: string, keys: Record<string, unknown>, request: PolicyRequest): boolean {
  return Object.entries(keys).every(([key, expected]) => {
    const actual = keyValue(request, key);
    const values = list(expected as unknown);
    switch (operator) {
      case 'ArnNotLike':
      case 'StringNotEquals':
        return actual === undefined || !values.some((v) => sameValue(v, actual));
      case 'ArnLike':
      case 'StringEquals':
        return actual !== undefined && values.some((v) => sameValue(v, actual));
      case 'Bool':
        return actual !== undefined && values.some((v) => String(v) === String(actual));
      default:
        throw new Error(`no evaluator for ${operator}`);
    }
  });
}

/** The Sids of the Deny statements among `statements` that deny `request` (empty: not denied by this policy). */
export function deniedBy(statements: readonly unknown[], request: PolicyRequest): string[] {
  return (statements as Statement[])
    .filter((s) => s.Effect === 'Deny')
    .filter((s) => (s.Action !== undefined ? list(s.Action).some((a) => actionMatches(a, request.action)) : !list(s.NotAction).some((a) => actionMatches(a, request.action))))
    .filter((s) => Object.entries(s.Condition ?? {}).every(([operator, keys]) => conditionHolds(operator, keys, request)))
    .map((s) => s.Sid ?? '(no sid)');
}
