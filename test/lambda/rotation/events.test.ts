import { parseRotationEvent } from '../../../lambda/rotation/events';

const EVENT_ID = '7bf73129-1428-4cd3-a780-95db273d1602';

describe('parseRotationEvent', () => {
  it('takes the rotation id of a scheduled EventBridge event from its id', () => {
    const event = { version: '0', id: EVENT_ID, 'detail-type': 'Scheduled Event', source: 'aws.events', time: '2026-04-01T00:00:00Z', resources: [], detail: { action: 'rotate' } };
    expect(parseRotationEvent(event)).toEqual({ kind: 'rotate', rotationId: EVENT_ID, trigger: 'schedule' });
  });

  it("reads the stack's schedule input {action, rotationId: <event id>} as a scheduled rotation", () => {
    expect(parseRotationEvent({ action: 'rotate', rotationId: EVENT_ID })).toEqual({ kind: 'rotate', rotationId: EVENT_ID, trigger: 'schedule' });
  });

  it('reads manual and emergency runs', () => {
    expect(parseRotationEvent({ action: 'rotate', rotationId: 'manual-2026-11-26' })).toEqual({ kind: 'rotate', rotationId: 'manual-2026-11-26', trigger: 'manual' });
    expect(parseRotationEvent({ action: 'rotate', rotationId: 'manual-2026-11-26', emergency: true, reason: 'leaked' })).toEqual({
      kind: 'rotate',
      rotationId: 'manual-2026-11-26',
      trigger: 'emergency',
      reason: 'leaked',
    });
    expect(parseRotationEvent({ action: 'rotate', rotationId: EVENT_ID, trigger: 'manual' })).toMatchObject({ trigger: 'manual' });
  });

  it('reads monitor and init', () => {
    expect(parseRotationEvent({ action: 'monitor' })).toEqual({ kind: 'monitor' });
    expect(parseRotationEvent({ action: 'init' })).toEqual({ kind: 'init' });
  });

  it('reads CloudFormation custom-resource events', () => {
    expect(parseRotationEvent({ RequestType: 'Create', ResourceProperties: {} })).toEqual({ kind: 'custom-resource', requestType: 'Create' });
    expect(parseRotationEvent({ RequestType: 'Delete', PhysicalResourceId: 'arn:x' })).toEqual({ kind: 'custom-resource', requestType: 'Delete', physicalResourceId: 'arn:x' });
  });

  it.each([
    [null, /not a JSON object/],
    [{ action: 'explode' }, /unknown action/],
    [{ action: 'rotate' }, /needs a rotationId/],
    [{ action: 'rotate', rotationId: 'bad id with spaces' }, /rotationId must be/],
    [{ action: 'rotate', rotationId: 'x', emergency: 'yes' }, /emergency must be true or false/],
    [{ action: 'rotate', rotationId: 'x', reason: 'r'.repeat(300) }, /reason must be/],
    [{ RequestType: 'Explode' }, /RequestType must be/],
  ])('refuses %j with INVALID_INPUT', (event, message) => {
    expect(() => parseRotationEvent(event)).toThrow(message);
  });
});
