import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { acknowledge } from './acknowledge';

export interface KeyStorageProps {
  /** Name of the secret that holds the keyset (the versioned master key document). */
  readonly keysetSecretName: string;
  /** Name of the secret that holds the rotation log (bounded history, newest last). */
  readonly rotationLogSecretName: string;
  /** Alias of the customer-managed KMS key, e.g. `alias/alphapulse/encryption/prod`. */
  readonly keyAlias: string;
  /**
   * What happens to the KMS key and both secrets when they leave the stack. Only `RETAIN` protects key material
   * from an accidental `cdk destroy`.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * Where the master keyset lives: a customer-managed KMS key (annual rotation of its backing key on) and two
 * Secrets Manager secrets encrypted under it, both created *empty*: the rotation handler's `init` writes version 1
 * of the keyset, and never a generated password (which it would rightly refuse as a keyset). The keyset secret's
 * rotation schedule is the rotation function's (`RotationFunction`).
 *
 * Grants are narrow on purpose: `kms:Decrypt` is only ever granted through Secrets Manager
 * (`kms:ViaService`) and for one secret (`kms:EncryptionContext:SecretARN`), so a principal allowed the rotation
 * log can never decrypt the keyset with the same key.
 */
export class KeyStorage extends Construct {
  readonly key: kms.Key;
  readonly keysetSecret: secretsmanager.Secret;
  readonly rotationLogSecret: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: KeyStorageProps) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;

    this.key = new kms.Key(this, 'Key', {
      description: `AlphaPulse master keyset encryption (${props.keysetSecretName}, ${props.rotationLogSecretName})`,
      enableKeyRotation: true,
      alias: props.keyAlias,
      removalPolicy,
      pendingWindow: Duration.days(30),
    });

    this.keysetSecret = emptySecret(this, 'KeysetSecret', {
      secretName: props.keysetSecretName,
      description: 'AlphaPulse master keyset: versioned key material (JSON). Written only by the rotation function and key administrators.',
      encryptionKey: this.key,
      removalPolicy,
    });
    this.rotationLogSecret = emptySecret(this, 'RotationLogSecret', {
      secretName: props.rotationLogSecretName,
      description: 'AlphaPulse rotation log: history of keyset rotations (no key material).',
      encryptionKey: this.key,
      removalPolicy,
    });
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
    const grant = iam.Grant.addToPrincipal({
      grantee,
      actions: ['secretsmanager:GetSecretValue'],
      resourceArns: [this.keysetSecret.secretArn],
      conditions: { StringEquals: { 'secretsmanager:VersionStage': 'AWSCURRENT' } },
    });
    grant.combine(this.grantSecret(grantee, this.keysetSecret, ['secretsmanager:DescribeSecret'], ['kms:Decrypt']));
    return grant;
  }

  /**
   * Read and replace the keyset through the staged-write protocol (`AWSPENDING` then `AWSCURRENT`): rotation,
   * disabling a version, recovery.
   */
  grantWriteKeyset(grantee: iam.IGrantable): iam.Grant {
    return this.grantSecret(grantee, this.keysetSecret, WRITE_ACTIONS, WRITE_KEY_ACTIONS);
  }

  /**
   * Ask Secrets Manager to rotate the keyset (RotateSecret) and see rotation progress: the version list with creation
   * dates (ListSecretVersionIds, metadata only), to tell a running rotation from a stuck one.
   */
  grantRotateKeyset(grantee: iam.IGrantable): iam.Grant {
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
    return this.grantSecret(grantee, this.rotationLogSecret, ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'], ['kms:Decrypt']);
  }

  /** Append to the rotation log (same staged-write protocol as the keyset). */
  grantWriteRotationLog(grantee: iam.IGrantable): iam.Grant {
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
