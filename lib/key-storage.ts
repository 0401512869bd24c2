import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { acknowledge } from './acknowledge';
import { deploymentRoleArn } from './deployment';
import { denyKeyTakedown } from './key-protection';
import { SecretAccessPolicy } from './secret-access-policy';
import { validationError } from './validation';

export interface KeyStorageProps {
  /**
   * Name of the secret that holds the keyset (the versioned master key document).
   * @default - a name CloudFormation generates
   */
  readonly keysetSecretName?: string;
  /**
   * Name of the secret that holds the rotation log (bounded history, newest last).
   * @default - a name CloudFormation generates
   */
  readonly rotationLogSecretName?: string;
  /**
   * Alias of the customer-managed KMS key, e.g. `alias/alphapulse/keys/prod/keyset`.
   * @default - no alias
   */
  readonly keyAlias?: string;
  /**
   * What happens to the KMS key and both secrets when they leave the stack. Only `RETAIN` protects key material
   * from an accidental `cdk destroy`.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Principals that deploy the stack: they alone (with `breakGlassPrincipalArn`) manage the secrets and may disable
   * or delete the key.
   * @default - the CDK bootstrap's CloudFormation execution role of the stack's synthesizer
   */
  readonly deploymentPrincipalArns?: readonly string[];
  /**
   * A principal spared by every deny on the secrets and the key, for an emergency (RUNBOOK.md, Break glass).
   * @default - none
   */
  readonly breakGlassPrincipalArn?: string;
}

/**
 * Where the master keyset lives: a customer-managed KMS key (annual rotation of its backing key on) and two
 * Secrets Manager secrets encrypted under it, both created *empty*: the rotation handler's `init` writes version 1
 * of the keyset, and never a generated password (which it would rightly refuse as a keyset). The keyset secret's
 * rotation schedule is the rotation function's (`RotationFunction`).
 *
 * Access is decided here, beside the resources: each grant adds an identity statement to the grantee and names it in
 * the secret's resource policy, whose explicit denies keep out every principal no grant named (`SecretAccessPolicy`),
 * and the key policy denies disabling or deleting the key to all but deployments and break glass. `kms:Decrypt` is
 * only ever granted through Secrets Manager (`kms:ViaService`) and for one secret (`kms:EncryptionContext:SecretARN`),
 * so a principal allowed the rotation log can never decrypt the keyset with the same key.
 */
export class KeyStorage extends Construct {
  readonly key: kms.Key;
  readonly keysetSecret: secretsmanager.Secret;
  readonly rotationLogSecret: secretsmanager.Secret;
  private readonly keysetAccess: SecretAccessPolicy;
  private readonly rotationLogAccess: SecretAccessPolicy;

  constructor(scope: Construct, id: string, props: KeyStorageProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const administrators = props.deploymentPrincipalArns ?? [deploymentRoleArn(Stack.of(this))];
    const spared = { administrators, ...(props.breakGlassPrincipalArn ? { breakGlass: props.breakGlassPrincipalArn } : {}) };

    this.key = new kms.Key(this, 'Key', {
      description: `AlphaPulse master keyset encryption (${props.keysetSecretName ?? 'keyset'}, ${props.rotationLogSecretName ?? 'rotation log'})`,
      enableKeyRotation: true,
      ...(props.keyAlias ? { alias: props.keyAlias } : {}),
      removalPolicy,
      pendingWindow: Duration.days(30),
    });
    denyKeyTakedown(this.key, spared);

    this.keysetSecret = emptySecret(this, 'KeysetSecret', {
      ...(props.keysetSecretName ? { secretName: props.keysetSecretName } : {}),
      description: 'AlphaPulse master keyset: versioned key material (JSON). Written only by the rotation function and key administrators.',
      encryptionKey: this.key,
      removalPolicy,
    });
    this.rotationLogSecret = emptySecret(this, 'RotationLogSecret', {
      ...(props.rotationLogSecretName ? { secretName: props.rotationLogSecretName } : {}),
      description: 'AlphaPulse rotation log: history of keyset rotations (no key material).',
      encryptionKey: this.key,
      removalPolicy,
    });
    this.keysetAccess = new SecretAccessPolicy(this.keysetSecret, spared);
    this.rotationLogAccess = new SecretAccessPolicy(this.rotationLogSecret, spared);
    acknowledge(
      this.rotationLogSecret,
      ['AwsSolutions-SMG4', 'NIST.800.53.R5-SecretsManagerRotationEnabled'],
      'The rotation log holds no credential or key: it is an append-only history of the keyset rotations (rotation ids, version numbers, times), written by the rotation function after each one. There is nothing in it to replace.',
    );
  }

  /**
   * Read the current keyset value (services deriving data keys; backups): GetSecretValue of AWSCURRENT only
   * (`secretsmanager:VersionStage`), so a version whose material was destroyed since is out of reach.
   */
  grantReadKeyset(grantee: iam.IGrantable): iam.Grant {
    this.keysetAccess.addReader(principalArnOf(this, grantee));
    return grantCurrentKeysetRead(grantee, this.keysetSecret.secretArn, this.key.keyArn, Stack.of(this).region);
  }

  /**
   * Name principals of other stacks or accounts (by ARN, `*` allowed within a name) among the keyset's readers in
   * the resource policy; their own stacks grant them the identity permissions
   * (`AlphaPulseKeys.fromKeysetSecretAttributes(...).grantRead`).
   */
  addReaderPrincipalArns(...arns: string[]): void {
    for (const arn of arns) this.keysetAccess.addReader(arn);
  }

  /**
   * Read any version of the keyset and replace it through the staged-write protocol (a label of ours, then
   * `AWSCURRENT`): rotation steps, disabling a version, recovery.
   */
  grantWriteKeyset(grantee: iam.IGrantable): iam.Grant {
    this.keysetAccess.addWriter(principalArnOf(this, grantee));
    return this.grantSecret(grantee, this.keysetSecret, WRITE_ACTIONS, WRITE_KEY_ACTIONS);
  }

  /**
   * Ask Secrets Manager to rotate the keyset (RotateSecret) and see rotation progress: the version list with creation
   * dates (ListSecretVersionIds, metadata only), to tell a running rotation from a stuck one.
   */
  grantRotateKeyset(grantee: iam.IGrantable): iam.Grant {
    this.keysetAccess.addRotator(principalArnOf(this, grantee));
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['secretsmanager:RotateSecret', 'secretsmanager:DescribeSecret', 'secretsmanager:ListSecretVersionIds'],
      resourceArns: [this.keysetSecret.secretArn],
    });
  }

  /** The storage key's state and rotation status (DescribeKey, GetKeyRotationStatus): metadata, no cryptographic use. */
  grantKeyMetadata(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({ grantee, actions: ['kms:DescribeKey', 'kms:GetKeyRotationStatus'], resourceArns: [this.key.keyArn] });
  }

  /** Read the rotation log value. */
  grantReadRotationLog(grantee: iam.IGrantable): iam.Grant {
    this.rotationLogAccess.addReader(principalArnOf(this, grantee));
    return this.grantSecret(grantee, this.rotationLogSecret, ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'], ['kms:Decrypt']);
  }

  /** Append to the rotation log (same staged-write protocol as the keyset). */
  grantWriteRotationLog(grantee: iam.IGrantable): iam.Grant {
    this.rotationLogAccess.addWriter(principalArnOf(this, grantee));
    return this.grantSecret(grantee, this.rotationLogSecret, WRITE_ACTIONS, WRITE_KEY_ACTIONS);
  }

  /** Metadata of both secrets (versions and their stages, last rotated/changed dates), never a value. */
  grantDescribe(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['secretsmanager:DescribeSecret'],
      resourceArns: [this.keysetSecret.secretArn, this.rotationLogSecret.secretArn],
    });
  }

  /**
   * The version list of both secrets, including versions without a stage label (an audit trail of every write), for
   * investigators using the AWS CLI. Metadata only.
   */
  grantListVersions(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['secretsmanager:ListSecretVersionIds'],
      resourceArns: [this.keysetSecret.secretArn, this.rotationLogSecret.secretArn],
    });
  }

  private grantSecret(grantee: iam.IGrantable, secret: secretsmanager.ISecret, secretActions: string[], keyActions: string[]): iam.Grant {
    const grant = iam.Grant.addToPrincipal({ grantee, actions: secretActions, resourceArns: [secret.secretArn] });
    grant.combine(
      iam.Grant.addToPrincipal({
        grantee,
        actions: keyActions,
        resourceArns: [this.key.keyArn],
        conditions: {
          StringEquals: {
            'kms:ViaService': `secretsmanager.${Stack.of(this).region}.amazonaws.com`,
            'kms:EncryptionContext:SecretARN': secret.secretArn,
          },
        },
      }),
    );
    return grant;
  }
}

/**
 * The ARN the resource policies name a grantee by (`aws:PrincipalArn`): a role's (a function's role included) or a
 * user's. Anything else cannot be named there, so it cannot be granted.
 */
export function principalArnOf(scope: Construct, grantee: iam.IGrantable): string {
  const principal = grantee.grantPrincipal;
  if (principal instanceof iam.Role || (principal as Partial<iam.IRole>).roleArn !== undefined) return (principal as iam.IRole).roleArn;
  if (principal instanceof iam.User) return principal.userArn;
  throw validationError(scope, 'GrantNeedsRoleOrUser', `grants on the keyset need an IAM role or user (the secret's resource policy names principals by aws:PrincipalArn), got ${principal.toString()}`);
}

/**
 * The identity permissions to read the current keyset: GetSecretValue of AWSCURRENT only (`secretsmanager:VersionStage`),
 * DescribeSecret, and kms:Decrypt through Secrets Manager for this secret alone. The secret's resource policy must
 * also name the grantee (KeyStorage does for its own grants).
 */
export function grantCurrentKeysetRead(grantee: iam.IGrantable, secretArn: string, keyArn: string, region: string): iam.Grant {
  const grant = iam.Grant.addToPrincipal({
    grantee,
    actions: ['secretsmanager:GetSecretValue'],
    resourceArns: [secretArn],
    conditions: { StringEquals: { 'secretsmanager:VersionStage': 'AWSCURRENT' } },
  });
  grant.combine(iam.Grant.addToPrincipal({ grantee, actions: ['secretsmanager:DescribeSecret'], resourceArns: [secretArn] }));
  grant.combine(
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['kms:Decrypt'],
      resourceArns: [keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${region}.amazonaws.com`, 'kms:EncryptionContext:SecretARN': secretArn } },
    }),
  );
  return grant;
}

/** What the staged-write protocol (lambda/stores, cli) and the rotation steps call: read, describe (VersionIdsToStages), put, move a stage. */
const WRITE_ACTIONS = [
  'secretsmanager:GetSecretValue',
  'secretsmanager:DescribeSecret',
  'secretsmanager:PutSecretValue',
  'secretsmanager:UpdateSecretVersionStage',
];

/**
 * What Secrets Manager calls on the writer's behalf: GenerateDataKey to encrypt a new version, Decrypt to read one.
 * It never calls kms:Encrypt, so that is not granted.
 */
const WRITE_KEY_ACTIONS = ['kms:Decrypt', 'kms:GenerateDataKey'];

/** A secret with no value: CloudFormation creates an empty secret when neither SecretString nor GenerateSecretString is set. */
function emptySecret(scope: Construct, id: string, props: secretsmanager.SecretProps): secretsmanager.Secret {
  const secret = new secretsmanager.Secret(scope, id, props);
  (secret.node.defaultChild as secretsmanager.CfnSecret).addPropertyDeletionOverride('GenerateSecretString');
  return secret;
}
