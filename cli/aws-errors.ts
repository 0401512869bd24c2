/**
 * AWS SDK errors from the other services the CLI calls (S3 for backups, CloudWatch Logs for `audit
 * --log-group`) as the same typed errors, with the same kind of hint, as Secrets Manager's. Which error
 * names mean "denied", "throttled", "KMS" or "unreachable" is decided once, by the Secrets Manager mapper
 * (its lists of names are AWS-wide); only the wording here names the service, the call and the role.
 * Like that mapper, AWS's own messages are never echoed.
 */
import { KeyManagementError } from '../lambda/keys/errors';
import { awsErrorName, isExpiredCredentials, mapSecretsManagerError } from '../lambda/stores/secrets-manager-errors';

export interface AwsCall {
  /** `S3`, `CloudWatch Logs`. */
  readonly service: string;
  /** The call as IAM names it: `s3:PutObject`, `logs:FilterLogEvents`. */
  readonly action: string;
  /** What the call was about: `s3://bucket/key`, `log group /aws/lambda/x`. */
  readonly resource: string;
  /** The role that may make this call, as a hint: "the stack's Backup Service role (output BackupServiceRoleArn)". */
  readonly role: string;
  /** The service's own endpoint variable (`AWS_ENDPOINT_URL_S3`), for the "cannot reach" hint. */
  readonly endpointVariable: string;
}

interface SdkErrorShape {
  readonly message?: string;
  readonly $metadata?: { readonly httpStatusCode?: number; readonly requestId?: string };
}

/** Maps any error thrown by `call`; errors the caller expects (NoSuchBucket, PreconditionFailed) are its to handle first. */
export function mapAwsError(err: unknown, call: AwsCall): KeyManagementError {
  if (err instanceof KeyManagementError) return err;
  const e = (err ?? {}) as SdkErrorShape;
  const name = awsErrorName(err);
  const status = e.$metadata?.httpStatusCode;
  const id = e.$metadata?.requestId;
  const ref = id && /^[A-Za-z0-9-]{1,64}$/.test(id) ? `, request id ${id}` : '';
  const where = `${call.action} on ${call.resource}`;
  const cause = { cause: err };
  const { code } = mapSecretsManagerError(err, { operation: 'GetSecretValue', secretId: call.resource });
  switch (code) {
    case 'ACCESS_DENIED':
      if (name === 'CredentialsProviderError' || /could not load credentials/i.test(e.message ?? '')) {
        return new KeyManagementError('ACCESS_DENIED', `no AWS credentials for ${where}; set AWS_PROFILE (or the AWS_* credential variables) to assume ${call.role}`, cause);
      }
      if (isExpiredCredentials(err)) {
        return new KeyManagementError('ACCESS_DENIED', `the AWS credentials have expired (${name}) for ${where}${ref}; refresh them (aws sso login, or assume ${call.role} again) and retry`, cause);
      }
      return new KeyManagementError('ACCESS_DENIED', `access denied to ${where} (${name}${ref}); run with ${call.role}, e.g. with AWS_PROFILE set to a profile that assumes it`, cause);
    case 'KMS_FAILURE':
      return new KeyManagementError('KMS_FAILURE', `KMS refused ${where} (${name}${ref}); check that the KMS key is enabled and that its key policy grants ${call.role}`, cause);
    case 'THROTTLED':
      return new KeyManagementError('THROTTLED', `${call.service} throttled ${where} and the SDK's retries with backoff were exhausted${ref ? ` (${ref.slice(2)})` : ''}; wait a minute and retry`, cause);
    case 'INVALID_INPUT':
      return new KeyManagementError('INVALID_INPUT', `no AWS region for ${where}; pass --region or set AWS_REGION`, cause);
    default:
      return new KeyManagementError(
        'STORE_UNAVAILABLE',
        `${where} failed (${name}${status ? `, HTTP ${status}` : ''}${ref}); check the network path, the region (--region) and any endpoint override (${call.endpointVariable}, AWS_ENDPOINT_URL), then retry`,
        cause,
      );
  }
}
