/**
 * The events the rotation function acts on, parsed into one command. Pure: no I/O, and nothing in an
 * event is trusted for what it claims to be — anyone allowed `lambda:InvokeFunction` can send any JSON.
 * What is accepted is what only the trusted callers send, and each command is safe whoever sends it:
 *
 * - a Secrets Manager rotation step: acted on only after `steps.ts` has checked, against the secret
 *   itself, that Secrets Manager staged the token for our secret;
 * - the monitor (the EventBridge schedule, or `{"action":"monitor"}`): measures, and asks Secrets Manager
 *   to rotate only when the key is past its deadline;
 * - a CloudFormation custom-resource event: init, which never overwrites a keyset.
 *
 * Everything else — in particular a direct `{"action":"rotate",...}`, which once let any invoker disable
 * the primary — is refused and changes nothing.
 */
import { KeyManagementError } from '../keys/errors';
import { isPlainObject } from '../keys/json';
import { ROTATION_STEPS, type RotationStep } from './steps';

export type RotationCommand =
  | { readonly kind: 'step'; readonly step: RotationStep; readonly secretId: string; readonly token: string }
  | { readonly kind: 'monitor' }
  | { readonly kind: 'custom-resource'; readonly requestType: 'Create' | 'Update' | 'Delete'; readonly physicalResourceId?: string };

const HOW_TO_ROTATE = "rotation goes through Secrets Manager: 'aws secretsmanager rotate-secret --secret-id <keyset secret>' or 'key-manager --store aws:<keyset secret> rotate [--emergency --reason ...]'";

function refused(message: string): KeyManagementError {
  return new KeyManagementError('ROTATION_REFUSED', `${message}; this function acts only on Secrets Manager rotation steps, its monitor schedule and deployment (init) — ${HOW_TO_ROTATE}`);
}

export function parseRotationEvent(event: unknown): RotationCommand {
  if (!isPlainObject(event)) throw refused('the event is not a JSON object');

  if ('Step' in event) {
    const { Step: step, SecretId: secretId, ClientRequestToken: token } = event;
    if (!(ROTATION_STEPS as readonly unknown[]).includes(step)) throw refused(`Step must be one of ${ROTATION_STEPS.join(', ')}`);
    if (typeof secretId !== 'string' || secretId === '' || secretId.length > 2048) throw refused('SecretId must be the secret ARN Secrets Manager sends');
    if (typeof token !== 'string' || token === '' || token.length > 64) throw refused('ClientRequestToken must be the version id Secrets Manager staged');
    return { kind: 'step', step: step as RotationStep, secretId, token };
  }

  if ('RequestType' in event) {
    const requestType = event.RequestType;
    if (requestType !== 'Create' && requestType !== 'Update' && requestType !== 'Delete') throw refused('RequestType must be Create, Update or Delete');
    const physical = typeof event.PhysicalResourceId === 'string' ? event.PhysicalResourceId : undefined;
    return { kind: 'custom-resource', requestType, ...(physical ? { physicalResourceId: physical } : {}) };
  }

  if ((event.source === 'aws.events' && event['detail-type'] === 'Scheduled Event') || (event.action === 'monitor' && Object.keys(event).length === 1)) return { kind: 'monitor' };
  if (event.action === 'rotate') throw refused('a direct rotate action is not accepted');
  throw refused('the event is not one this function acts on');
}
