/**
 * What the shared request-handler options do against a service that accepts a request and never answers
 * (the stand-in's `hang` fault): the attempt fails with a timeout instead of waiting for ever. The request
 * timeout is shortened here so the test does not wait 10 s; everything else is the production setting.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AWS_REQUEST_HANDLER } from '../../../lambda/stores/aws-client-options';
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
