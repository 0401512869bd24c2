/**
 * The events the rotation Lambda accepts, parsed into one command. Pure: no I/O, and nothing from the
 * event is trusted before it is checked (it may come from `aws lambda invoke` typed by hand).
 */
import { KeyManagementError } from '../keys/errors';
import { isPlainObject } from '../keys/json';
import { MAX_REASON_LENGTH } from '../keys/keyset';

export type RotationTrigger = 'schedule' | 'manual' | 'emergency';

export type RotationCommand =
  | { readonly kind: 'rotate'; readonly rotationId: string; readonly trigger: RotationTrigger; readonly reason?: string }
  | { readonly kind: 'monitor' }
  | { readonly kind: 'init' }
  | { readonly kind: 'custom-resource'; readonly requestType: 'Create' | 'Update' | 'Delete'; readonly physicalResourceId?: string };

/** Rotation ids end up in logs, audit events and (hashed or as is) in a VersionId: keep them plain. */
const ROTATION_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
/** EventBridge event ids are UUIDs. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const USAGE =
  'send {"action":"rotate","rotationId":"<id>"} (add "emergency":true and "reason":"..." for a compromised key), {"action":"monitor"}, {"action":"init"}, ' +
  'an EventBridge scheduled event with detail {"action":"rotate"}, or a CloudFormation custom-resource event';

function invalid(message: string): KeyManagementError {
  return new KeyManagementError('INVALID_INPUT', `${message}; ${USAGE}`);
}

export function parseRotationEvent(event: unknown): RotationCommand {
  if (!isPlainObject(event)) throw invalid('the event is not a JSON object');

  if ('RequestType' in event) {
    const requestType = event.RequestType;
    if (requestType !== 'Create' && requestType !== 'Update' && requestType !== 'Delete') {
      throw invalid(`RequestType must be Create, Update or Delete, got '${String(requestType).slice(0, 20)}'`);
    }
    const physical = typeof event.PhysicalResourceId === 'string' ? event.PhysicalResourceId : undefined;
    return { kind: 'custom-resource', requestType, ...(physical ? { physicalResourceId: physical } : {}) };
  }

  const fromEventBridge = event.source === 'aws.events' || event['detail-type'] === 'Scheduled Event';
  const body = fromEventBridge && isPlainObject(event.detail) && 'action' in event.detail ? event.detail : event;
  const action = body.action;
  if (action === 'monitor') return { kind: 'monitor' };
  if (action === 'init') return { kind: 'init' };
  if (action !== 'rotate') throw invalid(`unknown action '${String(action ?? '').slice(0, 20)}'`);

  const rotationId = body.rotationId ?? (fromEventBridge ? event.id : undefined);
  if (rotationId === undefined) {
    throw invalid('a rotate event needs a rotationId (a retried invocation with the same id resumes instead of rotating twice), e.g. "rotationId":"manual-2026-11-26"');
  }
  if (typeof rotationId !== 'string' || !ROTATION_ID.test(rotationId)) {
    throw invalid('rotationId must be 1-128 characters of letters, digits, ".", "_", ":" or "-", starting with a letter or digit');
  }
  if (body.emergency !== undefined && typeof body.emergency !== 'boolean') throw invalid('emergency must be true or false');
  if (body.reason !== undefined && (typeof body.reason !== 'string' || body.reason.length > MAX_REASON_LENGTH)) {
    throw invalid(`reason must be a string of at most ${MAX_REASON_LENGTH} characters`);
  }
  const trigger = rotationTrigger(body, fromEventBridge, rotationId);
  return { kind: 'rotate', rotationId, trigger, ...(typeof body.reason === 'string' ? { reason: body.reason } : {}) };
}

/**
 * Emergency when asked; otherwise an explicit `trigger`, else the schedule when the event came from
 * EventBridge or carries an EventBridge event id (a UUID, as the stack's schedule target sends
 * `{"action":"rotate","rotationId":<event id>}`), else manual. Only scheduled runs may be skipped by
 * the minimum interval.
 */
function rotationTrigger(body: Record<string, unknown>, fromEventBridge: boolean, rotationId: string): RotationTrigger {
  if (body.emergency === true) return 'emergency';
  if (body.trigger !== undefined) {
    if (body.trigger !== 'schedule' && body.trigger !== 'manual') throw invalid(`trigger must be "schedule" or "manual"`);
    return body.trigger;
  }
  return fromEventBridge || UUID.test(rotationId) ? 'schedule' : 'manual';
}
