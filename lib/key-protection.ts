import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';

/** What takes a key away from everything it protects: disabled, deleted, its policy replaced, its rotation stopped. */
export const KEY_TAKEDOWN_ACTIONS = ['kms:DisableKey', 'kms:ScheduleKeyDeletion', 'kms:PutKeyPolicy', 'kms:DisableKeyRotation'];

/**
 * The key stays manageable through IAM (CDK's default key policy lets the account's identity policies decide), but
 * no principal may disable it, schedule its deletion, replace its policy or stop its rotation except the ones that
 * deploy the stack and the break-glass principal. KMS's lockout check (a new key policy must let its author put the
 * next one) holds because the deployment principals are spared.
 */
export function denyKeyTakedown(key: kms.Key, spared: { readonly administrators: readonly string[]; readonly breakGlass?: string }): void {
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'OnlyDeploymentsAndBreakGlassDisableOrDeleteTheKey',
      effect: iam.Effect.DENY,
      principals: [new iam.AnyPrincipal()],
      actions: KEY_TAKEDOWN_ACTIONS,
      resources: ['*'],
      conditions: { ArnNotLike: { 'aws:PrincipalArn': [...spared.administrators, ...(spared.breakGlass ? [spared.breakGlass] : [])] } },
    }),
  );
}
