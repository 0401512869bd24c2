import { CustomResource, RemovalPolicy, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { acknowledge, nagAttRef } from './acknowledge';
import { KeyStorage } from './key-storage';

export interface KeysetInitializerProps {
  /** The rotation function; it recognises CloudFormation custom-resource events (`RequestType`). */
  readonly handler: lambda.IFunction;
  /** The secrets it initializes; their ARNs are the resource's properties, so renaming one re-runs `init`. */
  readonly storage: KeyStorage;
  /** Key for the provider framework's log group. */
  readonly operationsKey: kms.IKey;
  /**
   * Retention of the provider framework's log group.
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * What happens to the provider framework's log group when it leaves the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * Creates keyset version 1 on the first deploy by sending the rotation function a custom-resource event.
 *
 * The handler, not this construct, carries the safety: Create and Update run `init`, which writes only when the
 * secret has no value (never overwrites); Delete is a no-op (stack deletion never removes key material; the
 * secrets' own removal policy decides). The CDK provider framework relays the events and answers CloudFormation.
 */
export class KeysetInitializer extends Construct {
  readonly resource: CustomResource;
  readonly provider: cr.Provider;

  constructor(scope: Construct, id: string, props: KeysetInitializerProps) {
    super(scope, id);
    const logGroup = new logs.LogGroup(this, 'ProviderLogGroup', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_YEAR,
      encryptionKey: props.operationsKey,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    const role = new iam.Role(this, 'ProviderRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Relays deploy-time init events to the AlphaPulse rotation function',
    });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }),
    );
    this.provider = new cr.Provider(this, 'Provider', {
      onEventHandler: props.handler,
      frameworkOnEventRole: role,
      logGroup,
    });
    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: this.provider.serviceToken,
      resourceType: 'Custom::AlphaPulseKeysetInit',
      properties: {
        KeysetSecretArn: props.storage.keysetSecret.secretArn,
        RotationLogSecretArn: props.storage.rotationLogSecret.secretArn,
      },
    });

    const framework = this.provider.node.findChild('framework-onEvent');
    acknowledge(
      framework,
      ['PCI.DSS.321-LambdaInsideVPC', 'NIST.800.53.R5-LambdaInsideVPC'],
      'The CDK provider framework function only relays CloudFormation custom-resource events to the rotation function and answers the pre-signed S3 URL; it reaches no private resource and holds no key material.',
    );
    acknowledge(
      framework,
      ['NIST.800.53.R5-LambdaConcurrency', 'NIST.800.53.R5-LambdaDLQ'],
      'Runs only during deployments, invoked synchronously by CloudFormation, which reports and rolls back a failed event itself; a reservation or a dead-letter queue would catch nothing.',
    );
    // cdk-nag names the handler as the policy does: a function of this stack by its GetAtt, one imported by ARN by that ARN.
    const ownFunction = props.handler.node.defaultChild;
    const handlerArn = ownFunction === undefined && !Token.isUnresolved(props.handler.functionArn) ? props.handler.functionArn : nagAttRef(ownFunction ?? props.handler);
    acknowledge(
      role,
      [`AwsSolutions-IAM5[Resource::${handlerArn}:*]`],
      'Granted by the CDK provider framework: lambda:InvokeFunction on the rotation function and its versions/aliases, nothing else.',
    );
    acknowledge(
      role,
      ['PCI.DSS.321-IAMNoInlinePolicy', 'NIST.800.53.R5-IAMNoInlinePolicy'],
      'The policy is specific to this role (its log group, the one function it relays to) and is created and deleted with it.',
    );
  }
}
