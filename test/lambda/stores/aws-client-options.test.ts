/**
 * What the shared request-handler options do against a service that accepts a request and never answers
 * (the stand-in's `hang` fault): the attempt fails with a timeout instead of waiting for ever. The request
 * timeout is shortened here so the test does not wait 10 s; everything else is the production setting.
 * And the two settings: how many attempts the clients make (the SDK's AWS_MAX_ATTEMPTS when it is set, else their
 * own default) and how long each may take (KEY_MANAGER_AWS_REQUEST_TIMEOUT_MS, else 10 s).
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AWS_REQUEST_HANDLER, awsMaxAttempts, awsRequestHandler } from '../../../lambda/stores/aws-client-options';
import { openStore } from '../../../lambda/stores/open-store';
import { createSecretsManagerClient } from '../../../lambda/stores/secrets-manager-secret';
import { type AwsStandIn, startAwsStandIn } from '../../support/aws';

let aws: AwsStandIn;
beforeAll(async () => {
  aws = await startAwsStandIn();
  aws.secretsManager.createSecret('keyset', { secretString: '{}' });
});
afterAll(() => aws.close());

describe('AWS_REQUEST_HANDLER', () => {
  it('fails an attempt whose answer never comes, within the request timeout', async () => {
    aws.faults.add({ service: 'secretsmanager', operation: 'GetSecretValue', kind: 'hang' });
    const client = new SecretsManagerClient({ ...aws.clientConfig(), maxAttempts: 1, requestHandler: { ...AWS_REQUEST_HANDLER, requestTimeout: 300 } });
    const started = Date.now();
    await expect(client.send(new GetSecretValueCommand({ SecretId: 'keyset' }))).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(Date.now() - started).toBeLessThan(5_000);
    client.destroy();
  });
});

describe('the Secrets Manager endpoint an operator points at', () => {
  it.each(['http://10.0.0.7:4566', 'http://secretsmanager.internal.example.com'])('refuses plain http to %s (the keyset would travel in cleartext), before any request', (url) => {
    expect(() => createSecretsManagerClient({ endpointUrl: url, region: 'us-east-1' })).toThrow(/is http:\/\/ to .*, which would send the keyset in cleartext; use https:\/\//);
    expect(() => openStore('aws:keyset', { env: { AWS_ENDPOINT_URL: url, AWS_REGION: 'us-east-1' } })).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
  });

  it.each(['https://secretsmanager.eu-west-1.amazonaws.com', 'http://127.0.0.1:4566', 'http://localhost:4566', 'http://[::1]:4566'])('accepts %s', (url) => {
    expect(() => createSecretsManagerClient({ endpointUrl: url, region: 'us-east-1' }).destroy()).not.toThrow();
  });

  it('refuses credentials in the URL', () => {
    expect(() => createSecretsManagerClient({ endpointUrl: 'https://user:pass@secretsmanager.example.com' })).toThrow(/must not carry credentials/);
  });
});

describe('awsMaxAttempts', () => {
  it("is the client's default when AWS_MAX_ATTEMPTS is unset or empty", () => {
    expect(awsMaxAttempts(4, {})).toBe(4);
    expect(awsMaxAttempts(2, { AWS_MAX_ATTEMPTS: ' ' })).toBe(2);
  });

  it('is AWS_MAX_ATTEMPTS when it is set, fewer or more than the default', () => {
    expect(awsMaxAttempts(4, { AWS_MAX_ATTEMPTS: '1' })).toBe(1);
    expect(awsMaxAttempts(4, { AWS_MAX_ATTEMPTS: '10' })).toBe(10);
  });

  it.each(['0', '-1', '2.5', 'three', '1e3'])('refuses AWS_MAX_ATTEMPTS=%s, naming the variable', (raw) => {
    expect(() => awsMaxAttempts(4, { AWS_MAX_ATTEMPTS: raw })).toThrow(expect.objectContaining({ code: 'INVALID_INPUT', message: expect.stringContaining(`AWS_MAX_ATTEMPTS must be a whole number of attempts from 1`) }));
  });

  it('the Secrets Manager client makes the attempts AWS_MAX_ATTEMPTS asks for (an explicit maxAttempts would hide it from the SDK)', async () => {
    const saved = process.env.AWS_MAX_ATTEMPTS;
    process.env.AWS_MAX_ATTEMPTS = '2';
    try {
      const client = createSecretsManagerClient({ region: 'us-east-1' });
      expect(await client.config.maxAttempts()).toBe(2);
      client.destroy();
    } finally {
      if (saved === undefined) delete process.env.AWS_MAX_ATTEMPTS;
      else process.env.AWS_MAX_ATTEMPTS = saved;
    }
  });
});

describe('awsRequestHandler', () => {
  it('is AWS_REQUEST_HANDLER (connect 3 s, answer 10 s, timeouts thrown) when KEY_MANAGER_AWS_REQUEST_TIMEOUT_MS is unset', () => {
    expect(awsRequestHandler({})).toEqual({ connectionTimeout: 3_000, requestTimeout: 10_000, throwOnRequestTimeout: true });
  });

  it('takes the request timeout from KEY_MANAGER_AWS_REQUEST_TIMEOUT_MS, and nothing else', () => {
    expect(awsRequestHandler({ KEY_MANAGER_AWS_REQUEST_TIMEOUT_MS: '1500' })).toEqual({ ...AWS_REQUEST_HANDLER, requestTimeout: 1_500 });
  });

  it.each(['99', '300001', '1.5', 'ten', '-5'])('refuses KEY_MANAGER_AWS_REQUEST_TIMEOUT_MS=%s, naming the variable and the range', (raw) => {
    expect(() => awsRequestHandler({ KEY_MANAGER_AWS_REQUEST_TIMEOUT_MS: raw })).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT', message: expect.stringContaining('KEY_MANAGER_AWS_REQUEST_TIMEOUT_MS must be a whole number of milliseconds from 100 to 300000') }),
    );
  });

  it('a client built with it fails a silent attempt at the configured timeout', async () => {
    aws.faults.add({ service: 'secretsmanager', operation: 'GetSecretValue', kind: 'hang', times: 1 });
    const client = new SecretsManagerClient({ ...aws.clientConfig(), maxAttempts: 1, requestHandler: awsRequestHandler({ KEY_MANAGER_AWS_REQUEST_TIMEOUT_MS: '300' }) });
    const started = Date.now();
    await expect(client.send(new GetSecretValueCommand({ SecretId: 'keyset' }))).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(Date.now() - started).toBeLessThan(5_000);
    client.destroy();
  });
});
