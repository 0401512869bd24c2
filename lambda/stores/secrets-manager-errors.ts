/**
 * AWS SDK errors from Secrets Manager, turned into the project's typed errors with a hint that says
 * what to do. Only the error's name, HTTP status and request id are used: AWS messages are not echoed,
 * so nothing a caller sent (and nothing the service returned) can leak into a log line.
 */
import { KeyManagementError } from '../keys/errors';

/** The stack's role for reading the keyset (services). */
export const APPLICATION_SERVICE_ROLE = 'Application Service role';
/** The stack's role for changing the keyset (operators, the rotation Lambda). */
export const KEY_ADMINISTRATOR_ROLE = 'Key Administrator role';

export type SecretsManagerOperation = 'GetSecretValue' | 'PutSecretValue' | 'UpdateSecretVersionStage' | 'DescribeSecret' | 'ListSecretVersionIds' | 'RotateSecret';

export interface AwsErrorContext {
  readonly operation: SecretsManagerOperation;
  readonly secretId: string;
}

/** The bits of an SDK error this module looks at. */
interface SdkErrorShape {
  readonly name?: string;
  readonly code?: string;
  readonly message?: string;
  readonly $fault?: 'client' | 'server';
  readonly $metadata?: { readonly httpStatusCode?: number; readonly requestId?: string };
  readonly $retryable?: { readonly throttling?: boolean };
}

const THROTTLING = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'ThrottledException',
  'RequestThrottled',
  'RequestThrottledException',
  'ProvisionedThroughputExceededException',
  'SlowDown',
]);

const ACCESS_DENIED = new Set(['AccessDeniedException', 'AccessDenied', 'UnauthorizedOperation', 'UnrecognizedClientException', 'InvalidSignatureException', 'ExpiredTokenException', 'ExpiredToken']);

/** Denials that are not about permissions: the caller's session credentials ran out (STS, SSO, an assumed role). */
const EXPIRED = new Set(['ExpiredTokenException', 'ExpiredToken']);

const KMS = new Set(['DecryptionFailure', 'EncryptionFailure']);

const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
const NETWORK_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException', 'NetworkingError']);
/** Network failures before anything was sent: a write that failed so did not happen. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

export function awsErrorName(err: unknown): string {
  const e = (err ?? {}) as SdkErrorShape;
  return typeof e.name === 'string' && e.name !== 'Error' ? e.name : typeof e.code === 'string' ? e.code : 'Error';
}

/** The request was refused because the caller's credentials have expired (not for lack of a permission). */
export function isExpiredCredentials(err: unknown): boolean {
  return EXPIRED.has(awsErrorName(err));
}

/** Throttled, as any AWS service says it (names, the SDK's retry classification, HTTP 429). */
export function isThrottling(err: unknown): boolean {
  const e = (err ?? {}) as SdkErrorShape;
  return THROTTLING.has(awsErrorName(err)) || e.$retryable?.throttling === true || e.$metadata?.httpStatusCode === 429;
}

/** No answer came: the connection was refused or reset, the name did not resolve, the attempt timed out. */
export function isUnreachable(err: unknown): boolean {
  const e = (err ?? {}) as SdkErrorShape;
  const name = awsErrorName(err);
  return NETWORK_CODES.has(name) || NETWORK_NAMES.has(name) || (typeof e.code === 'string' && NETWORK_CODES.has(e.code));
}

/**
 * No answer came to a request that may have been received (the attempt timed out, the connection was reset): a write
 * may have been applied. Not so for one that never connected (refused, unresolved, the connect timeout).
 */
export function isAnswerLost(err: unknown): boolean {
  const e = (err ?? {}) as SdkErrorShape;
  return isUnreachable(err) && !NOT_SENT.has(awsErrorName(err)) && !NOT_SENT.has(e.code ?? '') && !/did not establish a connection|without establishing a connection/i.test(e.message ?? '');
}

/** The SDK had no region to send the call to. */
export function isMissingRegion(err: unknown): boolean {
  return /region is missing/i.test(((err ?? {}) as SdkErrorShape).message ?? '');
}

export function isResourceNotFound(err: unknown): boolean {
  return awsErrorName(err) === 'ResourceNotFoundException';
}

function isWrite(operation: SecretsManagerOperation): boolean {
  return operation === 'PutSecretValue' || operation === 'UpdateSecretVersionStage' || operation === 'RotateSecret';
}

function requestRef(e: SdkErrorShape): string {
  const id = e.$metadata?.requestId;
  return id && /^[A-Za-z0-9-]{1,64}$/.test(id) ? ` (request id ${id})` : '';
}

/**
 * Maps any error thrown by a Secrets Manager call. ResourceNotFoundException is mapped to
 * KEYSET_NOT_FOUND; callers that expect "not found" as a normal answer check `isResourceNotFound` first.
 */
export function mapSecretsManagerError(err: unknown, context: AwsErrorContext): KeyManagementError {
  if (err instanceof KeyManagementError) return err;
  const e = (err ?? {}) as SdkErrorShape;
  const name = awsErrorName(err);
  const status = e.$metadata?.httpStatusCode;
  const where = `${context.operation} on secret ${context.secretId}`;
  const ref = requestRef(e);
  const cause = { cause: err };

  if (name === 'ResourceNotFoundException') {
    return new KeyManagementError(
      'KEYSET_NOT_FOUND',
      `Secrets Manager has no such secret or version for ${where}${ref}; the stack creates the secret and its first keyset`,
      cause,
    );
  }
  if (EXPIRED.has(name)) {
    const role = isWrite(context.operation) ? `the stack's ${KEY_ADMINISTRATOR_ROLE}` : `the stack's ${APPLICATION_SERVICE_ROLE} (or the ${KEY_ADMINISTRATOR_ROLE})`;
    return new KeyManagementError('ACCESS_DENIED', `the AWS credentials have expired (${name}) for secretsmanager:${where}${ref}; refresh them (aws sso login, or assume ${role} again) and retry`, cause);
  }
  if (KMS.has(name) || name.startsWith('KMS') || (ACCESS_DENIED.has(name) && /\bkms\b/i.test(e.message ?? ''))) {
    return new KeyManagementError(
      'KMS_FAILURE',
      `KMS refused to ${context.operation === 'PutSecretValue' ? 'encrypt' : 'decrypt'} for ${where}: ${name}${ref}; check that the stack's KMS key is enabled and that the key policy grants your role kms:${context.operation === 'PutSecretValue' ? 'GenerateDataKey' : 'Decrypt'}`,
      cause,
    );
  }
  if (ACCESS_DENIED.has(name) || status === 403) {
    const role = isWrite(context.operation)
      ? `the stack's ${KEY_ADMINISTRATOR_ROLE} (writes and rotation need it)`
      : `the stack's ${APPLICATION_SERVICE_ROLE} (or the ${KEY_ADMINISTRATOR_ROLE})`;
    return new KeyManagementError('ACCESS_DENIED', `access denied to secretsmanager:${where}${ref}; run with ${role}, e.g. with AWS_PROFILE set to a profile that assumes it`, cause);
  }
  if (isThrottling(err)) {
    return new KeyManagementError(
      'THROTTLED',
      `Secrets Manager throttled ${where} and the SDK's retries with backoff were exhausted${ref}; wait a minute and retry, and look for a caller reading the keyset in a loop (the key manager caches it)`,
      cause,
    );
  }
  if (e.$fault === 'server' || (status !== undefined && status >= 500) || name === 'InternalServiceError') {
    return new KeyManagementError('STORE_UNAVAILABLE', `Secrets Manager failed ${where} with ${name}${status ? ` (HTTP ${status})` : ''} after the SDK's retries${ref}; retry shortly and check the AWS Health Dashboard`, cause);
  }
  if (isUnreachable(err)) {
    const checks = `check the network path, the region and any endpoint override (AWS_ENDPOINT_URL)`;
    // A write whose answer never came may have been applied all the same.
    if (isWrite(context.operation) && isAnswerLost(err)) {
      return new KeyManagementError(
        'STORE_UNAVAILABLE',
        `Secrets Manager did not answer ${where} (${name}) after the SDK's retries, so whether it was applied is unknown; ${checks}, then check the keyset's status before retrying`,
        cause,
      );
    }
    return new KeyManagementError('STORE_UNAVAILABLE', `cannot reach Secrets Manager for ${where} (${name}) after the SDK's retries; ${checks}`, cause);
  }
  if (isMissingRegion(err)) {
    return new KeyManagementError('INVALID_INPUT', `no AWS region for ${where}: the client has none configured and AWS_REGION is unset`, cause);
  }
  if (name === 'CredentialsProviderError' || /could not load credentials/i.test(e.message ?? '')) {
    return new KeyManagementError('ACCESS_DENIED', `no AWS credentials for ${where}; set AWS_PROFILE (or the AWS_* credential variables) to assume the stack's ${isWrite(context.operation) ? KEY_ADMINISTRATOR_ROLE : APPLICATION_SERVICE_ROLE}`, cause);
  }
  if (name === 'InvalidRequestException') {
    return new KeyManagementError('STORE_UNAVAILABLE', `Secrets Manager refused ${where} (InvalidRequestException)${ref}; the secret may be scheduled for deletion (aws secretsmanager restore-secret --secret-id ${context.secretId}) or its KMS key disabled`, cause);
  }
  if (name === 'LimitExceededException') {
    return new KeyManagementError('STORE_UNAVAILABLE', `Secrets Manager refused ${where}: a quota was reached (LimitExceededException)${ref}; too many versions were written recently — wait for unlabelled versions to expire and retry`, cause);
  }
  return new KeyManagementError('STORE_UNAVAILABLE', `Secrets Manager failed ${where} with ${name}${ref}; the error's cause is the SDK error`, cause);
}
