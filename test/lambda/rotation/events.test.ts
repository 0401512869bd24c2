import { errorCode } from '../../../lambda/keys/errors';
import { parseRotationEvent } from '../../../lambda/rotation/events';

const ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:alphapulse/encryption/master_key-AbCdEf';
const TOKEN = '7bf73129-1428-4cd3-a780-95db273d1602';

function refusal(event: unknown): { code: string; message: string } {
  try {
    parseRotationEvent(event);
  } catch (err) {
    return { code: errorCode(err), message: (err as Error).message };
  }
  throw new Error('accepted');
}

describe('parseRotationEvent', () => {
  it.each(['createSecret', 'setSecret', 'testSecret', 'finishSecret'])('reads the Secrets Manager rotation step %s', (step) => {
    expect(parseRotationEvent({ Step: step, SecretId: ARN, ClientRequestToken: TOKEN, RotationToken: 'opaque' })).toEqual({ kind: 'step', step, secretId: ARN, token: TOKEN });
  });

  it('reads the EventBridge scheduled event, and the monitor action an operator sends, as the monitor', () => {
    const scheduled = { version: '0', id: TOKEN, 'detail-type': 'Scheduled Event', source: 'aws.events', time: '2026-04-01T00:00:00Z', resources: ['arn:aws:events:us-east-1:1:rule/r'], detail: {} };
    expect(parseRotationEvent(scheduled)).toEqual({ kind: 'monitor' });
    expect(parseRotationEvent({ action: 'monitor' })).toEqual({ kind: 'monitor' });
  });

  it('reads CloudFormation custom-resource events', () => {
    expect(parseRotationEvent({ RequestType: 'Create', ResourceProperties: {} })).toEqual({ kind: 'custom-resource', requestType: 'Create' });
    expect(parseRotationEvent({ RequestType: 'Delete', PhysicalResourceId: 'arn:x' })).toEqual({ kind: 'custom-resource', requestType: 'Delete', physicalResourceId: 'arn:x' });
  });

  it('refuses a direct rotate action, emergency or not, and says how rotation is requested instead', () => {
    for (const event of [{ action: 'rotate', rotationId: 'manual-2026-11-26' }, { action: 'rotate', rotationId: 'x', emergency: true, reason: 'INC-1' }]) {
      const r = refusal(event);
      expect(r.code).toBe('ROTATION_REFUSED');
      expect(r.message).toMatch(/a direct rotate action is not accepted/);
      expect(r.message).toContain('aws secretsmanager rotate-secret');
    }
  });

  it.each([
    [null, /not a JSON object/],
    [{ action: 'init' }, /not one this function acts on/],
    [{ action: 'monitor', rotate: true }, /not one this function acts on/],
    [{ detail: { action: 'rotate' }, source: 'attacker' }, /not one this function acts on/],
    [{ Step: 'deleteSecret', SecretId: ARN, ClientRequestToken: TOKEN }, /Step must be one of/],
    [{ Step: 'createSecret', ClientRequestToken: TOKEN }, /SecretId must be/],
    [{ Step: 'createSecret', SecretId: ARN, ClientRequestToken: 'x'.repeat(65) }, /ClientRequestToken must be/],
    [{ RequestType: 'Explode' }, /RequestType must be/],
  ])('refuses %j with ROTATION_REFUSED', (event, message) => {
    const r = refusal(event);
    expect(r.code).toBe('ROTATION_REFUSED');
    expect(r.message).toMatch(message);
  });
});
