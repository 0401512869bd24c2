import { DefaultStackSynthesizer, Fn, type Stack } from 'aws-cdk-lib';

/**
 * The role CloudFormation deploys `stack` with: the CDK bootstrap's execution role
 * (`cdk-<qualifier>-cfn-exec-role-<account>-<region>`, the synthesizer's qualifier, else the default). Deployments
 * configure rotation, tags and policies and delete a dev stack's resources, so it alone (with a break-glass
 * principal) is spared by the denies on the secrets and keys.
 */
export function deploymentRoleArn(stack: Stack): string {
  const synthesizer = stack.synthesizer;
  const qualifier = (synthesizer instanceof DefaultStackSynthesizer ? synthesizer.bootstrapQualifier : undefined) ?? DefaultStackSynthesizer.DEFAULT_QUALIFIER;
  return Fn.sub(DefaultStackSynthesizer.DEFAULT_CLOUDFORMATION_ROLE_ARN.replace('${Qualifier}', qualifier));
}
