import { CfnElement, Stack, Validations } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';

/**
 * Records that compliance findings (cdk-nag rule ids, one per finding) were reviewed and accepted for `scope` and
 * everything under it, with the design reason. test/lib/key-management-stack.test.ts fails on anything else.
 */
export function acknowledge(scope: IConstruct, ids: readonly string[], reason: string): void {
  for (const id of ids) Validations.of(scope).acknowledge({ id, reason });
}

/** How cdk-nag names a resource's `Fn::GetAtt` in a finding id, e.g. `<RotationFunction8B9BF3C3.Arn>`. */
export function nagAttRef(element: IConstruct, attribute = 'Arn'): string {
  return `<${Stack.of(element).getLogicalId(element as CfnElement)}.${attribute}>`;
}
