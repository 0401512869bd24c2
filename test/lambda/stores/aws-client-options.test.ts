/**
 * What the shared request-handler options do against a service that accepts a request and never answers
 * (the stand-in's `hang` fault): the attempt fails with a timeout instead of waiting for ever. The request
 * timeout is shortened here so the test does not wait 10 s; everything else is the production setting.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AWS_REQUEST_HANDLER } from '../../../lambda/stores/aws-client-options';
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
