import { DecryptionFailure, InternalServiceError, InvalidRequestException, SecretsManagerServiceException } from '@aws-sdk/client-secrets-manager';
import { KeyManagementError } from '../../../lambda/keys/errors';
import { mapSecretsManagerError } from '../../../lambda/stores/secrets-manager-errors';

const meta = (httpStatusCode: number) => ({ httpStatusCode, requestId: 'req-1' });
const service = (name: string, status = 400, message = 'x') => new SecretsManagerServiceException({ name, $fault: status >= 500 ? 'server' : 'client', $metadata: meta(status), message });
const read = { operation: 'GetSecretValue', secretId: 'ks' } as const;
const write = { operation: 'PutSecretValue', secretId: 'ks' } as const;

describe('mapSecretsManagerError', () => {
  it.each([
    ['ResourceNotFoundException', service('ResourceNotFoundException'), read, 'KEYSET_NOT_FOUND', /^Secrets Manager has no such secret or version for GetSecretValue on secret ks \(request id \S+\); the stack creates the secret and its first keyset$/],
    ['AccessDeniedException on a read', service('AccessDeniedException'), read, 'ACCESS_DENIED', /Application Service role/],
    ['AccessDeniedException on a write', service('AccessDeniedException'), write, 'ACCESS_DENIED', /Key Administrator role/],
    ['ExpiredTokenException on a read', service('ExpiredTokenException'), read, 'ACCESS_DENIED', /^the AWS credentials have expired \(ExpiredTokenException\) for secretsmanager:GetSecretValue on secret ks \(request id req-1\); refresh them \(aws sso login, or assume the stack's Application Service role \(or the Key Administrator role\) again\) and retry$/],
    ['ExpiredTokenException on a write', service('ExpiredTokenException'), write, 'ACCESS_DENIED', /credentials have expired .* assume the stack's Key Administrator role again/],
    ['AccessDenied about KMS', service('AccessDeniedException', 400, 'Access to KMS is not allowed'), read, 'KMS_FAILURE', /kms:Decrypt/],
    ['DecryptionFailure', new DecryptionFailure({ $metadata: meta(400), message: 'x' }), read, 'KMS_FAILURE', /KMS key is enabled/],
    ['a KMS* error on a write', service('KMSInvalidStateException'), write, 'KMS_FAILURE', /kms:GenerateDataKey/],
    ['ThrottlingException', service('ThrottlingException'), read, 'THROTTLED', /retries with backoff were exhausted/],
    ['HTTP 429', service('SlowDownPlease', 429), read, 'THROTTLED', /retries/],
    ['InternalServiceError', new InternalServiceError({ $metadata: meta(500), message: 'x' }), read, 'STORE_UNAVAILABLE', /HTTP 500/],
    ['HTTP 503', service('ServiceUnavailable', 503), read, 'STORE_UNAVAILABLE', /HTTP 503/],
    ['ECONNRESET', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }), read, 'STORE_UNAVAILABLE', /cannot reach Secrets Manager/],
    ['TimeoutError', Object.assign(new Error('timed out'), { name: 'TimeoutError' }), read, 'STORE_UNAVAILABLE', /^cannot reach Secrets Manager for GetSecretValue on secret ks \(TimeoutError\) after the SDK's retries; check the network path, the region and any endpoint override/],
    ['TimeoutError on a write', Object.assign(new Error('timed out'), { name: 'TimeoutError' }), write, 'STORE_UNAVAILABLE', /^Secrets Manager did not answer PutSecretValue on secret ks \(TimeoutError\) after the SDK's retries, so whether it was applied is unknown; check the network path, the region and any endpoint override \(AWS_ENDPOINT_URL\), then check the keyset's status before retrying$/],
    ['ECONNRESET on a write', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), write, 'STORE_UNAVAILABLE', /whether it was applied is unknown/],
    ['ECONNREFUSED on a write: it never left', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), write, 'STORE_UNAVAILABLE', /^cannot reach Secrets Manager for PutSecretValue on secret ks \(ECONNREFUSED\)/],
    ['a connect timeout on a write: it never left', Object.assign(new Error('@smithy/node-http-handler - the request socket did not establish a connection with the server within the configured timeout of 3000 ms.'), { name: 'TimeoutError' }), write, 'STORE_UNAVAILABLE', /^cannot reach Secrets Manager for PutSecretValue/],
    ['a missing region', new Error('Region is missing'), read, 'INVALID_INPUT', /^no AWS region for GetSecretValue on secret ks: the client has none configured and AWS_REGION is unset$/],
    ['missing credentials', Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }), read, 'ACCESS_DENIED', /AWS_PROFILE/],
    ['InvalidRequestException', new InvalidRequestException({ $metadata: meta(400), message: 'x' }), read, 'STORE_UNAVAILABLE', /scheduled for deletion/],
  ])('%s', (_name, err, context, code, hint) => {
    const mapped = mapSecretsManagerError(err, context);
    expect(mapped).toBeInstanceOf(KeyManagementError);
    expect(mapped.code).toBe(code);
    expect(mapped.message).toMatch(hint);
    expect(mapped.cause).toBe(err);
  });

  it('never echoes the AWS message, which may quote request data', () => {
    const mapped = mapSecretsManagerError(service('AccessDeniedException', 400, 'SecretString=c2VjcmV0LW1hdGVyaWFs'), write);
    expect(mapped.message).not.toContain('c2VjcmV0LW1hdGVyaWFs');
  });

  it('passes typed errors through', () => {
    const typed = new KeyManagementError('CONFLICT', 'x');
    expect(mapSecretsManagerError(typed, read)).toBe(typed);
  });
});
