import { CloudWatchLogsServiceException } from '@aws-sdk/client-cloudwatch-logs';
import { S3ServiceException } from '@aws-sdk/client-s3';
import { type AwsCall, mapAwsError } from '../../cli/aws-errors';

const S3_PUT: AwsCall = { service: 'S3', action: 's3:PutObject', resource: 's3://backups/k', role: "the stack's Backup Service role", endpointVariable: 'AWS_ENDPOINT_URL_S3' };
const LOGS: AwsCall = { service: 'CloudWatch Logs', action: 'logs:FilterLogEvents', resource: 'log group g', role: "the stack's Audit Service role", endpointVariable: 'AWS_ENDPOINT_URL_CLOUDWATCH_LOGS' };

const s3 = (name: string, status: number, fault: 'client' | 'server' = 'client') =>
  new S3ServiceException({ name, $fault: fault, $metadata: { httpStatusCode: status, requestId: 'REQ1' }, message: 'the service says: secret-ish detail' });
const logs = (name: string, status: number) => new CloudWatchLogsServiceException({ name, $fault: 'client', $metadata: { httpStatusCode: status }, message: 'detail' });

describe('mapAwsError (S3, CloudWatch Logs)', () => {
  it.each<[string, unknown, AwsCall, string, RegExp]>([
    ['S3 access denied', s3('AccessDenied', 403), S3_PUT, 'ACCESS_DENIED', /^access denied to s3:PutObject on s3:\/\/backups\/k \(AccessDenied, request id REQ1\); run with the stack's Backup Service role/],
    ['expired credentials', logs('ExpiredTokenException', 400), LOGS, 'ACCESS_DENIED', /^the AWS credentials have expired \(ExpiredTokenException\) for logs:FilterLogEvents on log group g; refresh them \(aws sso login, or assume the stack's Audit Service role again\) and retry$/],
    ['S3 expired credentials', s3('ExpiredToken', 400), S3_PUT, 'ACCESS_DENIED', /^the AWS credentials have expired \(ExpiredToken\) for s3:PutObject on s3:\/\/backups\/k, request id REQ1; refresh them \(aws sso login, or assume the stack's Backup Service role again\) and retry$/],
    ['no credentials at all', Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }), S3_PUT, 'ACCESS_DENIED', /^no AWS credentials for s3:PutObject .*assume the stack's Backup Service role/],
    ['SSE-KMS refused', s3('KMS.DisabledException', 400), S3_PUT, 'KMS_FAILURE', /^KMS refused s3:PutObject/],
    ['throttling', logs('ThrottlingException', 400), LOGS, 'THROTTLED', /^CloudWatch Logs throttled logs:FilterLogEvents on log group g and the SDK's retries with backoff were exhausted; wait a minute and retry$/],
    ['S3 SlowDown', s3('SlowDown', 503, 'server'), S3_PUT, 'THROTTLED', /^S3 throttled/],
    ['a server error', s3('InternalError', 500, 'server'), S3_PUT, 'STORE_UNAVAILABLE', /^s3:PutObject on s3:\/\/backups\/k failed \(InternalError, HTTP 500, request id REQ1\); .*AWS_ENDPOINT_URL_S3/],
    ['a refused connection', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), LOGS, 'STORE_UNAVAILABLE', /failed \(ECONNREFUSED\); check the network path, the region \(--region\) and any endpoint override \(AWS_ENDPOINT_URL_CLOUDWATCH_LOGS/],
    ['no region', new Error('Region is missing'), S3_PUT, 'INVALID_INPUT', /^no AWS region for s3:PutObject on s3:\/\/backups\/k; pass --region or set AWS_REGION$/],
  ])('%s', (_name, err, call, code, message) => {
    const mapped = mapAwsError(err, call);
    expect(mapped.code).toBe(code);
    expect(mapped.message).toMatch(message);
    expect(mapped.message).not.toContain('secret-ish');
  });
});
