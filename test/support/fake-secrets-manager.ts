/**
 * Secrets Manager in-process, for unit tests: the stand-in's Secrets Manager model (test/support/aws/
 * secrets-manager.ts, which says which documented behaviour it models) installed behind
 * aws-sdk-client-mock, so code under test talks to a real `SecretsManagerClient` with no HTTP. Process-
 * level tests use the same model over loopback HTTP (`startAwsStandIn`).
 *
 * Faults: `failNext(command, fault)` makes the next matching call fail. `before` faults never reach the
 * service; `after` faults (a connection reset once the request was sent) apply the change and lose the
 * response, the nastiest case for a retrying client.
 */
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
  RotateSecretCommand,
  SecretsManagerClient,
  SecretsManagerServiceException,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { AwsServiceError } from './aws/errors';
import { type RotationFunction, SecretsManagerModel } from './aws/secrets-manager';

export type SmCommandName = 'GetSecretValue' | 'PutSecretValue' | 'UpdateSecretVersionStage' | 'DescribeSecret' | 'ListSecretVersionIds' | 'RotateSecret';
export type FaultKind = 'throttling' | 'server-error' | 'network-reset' | 'access-denied' | 'kms-decrypt';

export const FAULT_KINDS: readonly FaultKind[] = ['throttling', 'server-error', 'network-reset', 'access-denied'];

export interface RecordedCall {
  readonly command: SmCommandName;
  readonly input: Record<string, unknown>;
  readonly outcome: 'ok' | string;
}

interface PendingFault {
  readonly command: SmCommandName;
  /** A fault, or a side effect (another writer) run just before the call is handled. */
  readonly kind: FaultKind | (() => void);
  readonly when: 'before' | 'after';
  readonly match?: (input: Record<string, unknown>) => boolean;
}

const meta = (status: number) => ({ httpStatusCode: status, requestId: 'fake-request-0001', attempts: 1, totalRetryDelay: 0 });

function serviceError(name: string, status: number, message: string): SecretsManagerServiceException {
  return new SecretsManagerServiceException({ name, $fault: status >= 500 ? 'server' : 'client', $metadata: meta(status), message });
}

export function makeFault(kind: FaultKind): Error {
  switch (kind) {
    case 'throttling':
      return Object.assign(serviceError('ThrottlingException', 400, 'Rate exceeded'), { $retryable: { throttling: true } });
    case 'server-error':
      return serviceError('InternalServiceError', 500, 'An error occurred on the server side.');
    case 'network-reset':
      return Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', errno: -104, syscall: 'read' });
    case 'access-denied':
      return serviceError('AccessDeniedException', 400, 'User: arn:aws:sts::123456789012:assumed-role/x/y is not authorized to perform this operation');
    case 'kms-decrypt':
      return serviceError('DecryptionFailure', 400, 'Secrets Manager can’t decrypt the protected secret text using the provided KMS key.');
  }
}

const COMMANDS = [
  ['GetSecretValue', GetSecretValueCommand],
  ['PutSecretValue', PutSecretValueCommand],
  ['UpdateSecretVersionStage', UpdateSecretVersionStageCommand],
  ['DescribeSecret', DescribeSecretCommand],
  ['ListSecretVersionIds', ListSecretVersionIdsCommand],
  ['RotateSecret', RotateSecretCommand],
] as const;

export class FakeSecretsManager {
  readonly calls: RecordedCall[] = [];
  readonly mock = mockClient(SecretsManagerClient);
  now = new Date('2026-01-01T00:00:00.000Z');
  readonly model = new SecretsManagerModel({ region: 'us-east-1', accountId: '123456789012', clock: () => this.now });
  private faults: PendingFault[] = [];
  private uuid = 0;

  constructor() {
    for (const [name, command] of COMMANDS) {
      this.mock.on(command as never).callsFake((input: Record<string, unknown>) => this.handle(name, input));
    }
  }

  /**
   * Creates a secret, empty (as the CDK stack does for the keyset) or with a first version under a predictable id;
   * a secret of that name is replaced.
   */
  createSecret(name: string, initialValue?: string): this {
    if (this.exists(name)) this.model.invoke('DeleteSecret', { SecretId: name, ForceDeleteWithoutRecovery: true });
    this.model.createSecret(name, initialValue === undefined ? {} : { secretString: initialValue, versionId: this.nextUuid() });
    return this;
  }

  /** Configures Secrets Manager rotation on the secret (the stack's RotationSchedule), with the rotation function's steps as `run`. */
  configureRotation(name: string, run: RotationFunction, rules = { ScheduleExpression: 'rate(90 days)' }): this {
    this.model.rotationFunction = run;
    this.model.configureRotation(name, { lambdaArn: 'arn:aws:lambda:us-east-1:123456789012:function:rotation', rules, rotateImmediately: false });
    return this;
  }

  /** Makes the next call of `command` (optionally only one whose input matches) fail with `kind`. */
  failNext(command: SmCommandName, kind: FaultKind, options: { when?: 'before' | 'after'; match?: (input: Record<string, unknown>) => boolean } = {}): this {
    this.faults.push({ command, kind, when: options.when ?? 'before', ...(options.match ? { match: options.match } : {}) });
    return this;
  }

  /** Runs `effect` (e.g. another writer's change) just before the next matching call of `command` is handled. */
  beforeNext(command: SmCommandName, effect: () => void, match?: (input: Record<string, unknown>) => boolean): this {
    this.faults.push({ command, kind: effect, when: 'before', ...(match ? { match } : {}) });
    return this;
  }

  clearFaults(): void {
    this.faults = [];
  }

  restore(): void {
    this.mock.restore();
  }

  // ---------------------------------------------------------------- inspection for assertions

  /** The value labelled `stage`, or undefined. */
  valueAt(name: string, stage: string): string | undefined {
    return this.model.value(name, { stage });
  }

  versionAt(name: string, stage: string): { id: string; value: string; stages: string[] } | undefined {
    const id = this.model.versionWithStage(name, stage);
    return id === undefined ? undefined : { id, value: this.model.value(name, id) as string, stages: this.model.stagesOf(name, id) };
  }

  /** Every version with a value, oldest first, labelled or not. */
  versions(name: string): { id: string; value: string; stages: string[] }[] {
    return this.model
      .versions(name)
      .filter((v) => v.hasValue)
      .map((v) => ({ id: v.versionId, value: v.secretString as string, stages: [...v.stages] }));
  }

  /** Labels by version id, labelled versions only. */
  labels(name: string): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const v of this.model.versions(name)) if (v.stages.length > 0) out[v.versionId] = [...v.stages].sort();
    return out;
  }

  private exists(name: string): boolean {
    try {
      this.model.arnOf(name);
      return true;
    } catch {
      return false;
    }
  }

  callNames(): string[] {
    return this.calls.map((c) => c.command);
  }

  // ---------------------------------------------------------------- the service

  private async handle(command: SmCommandName, record: Record<string, unknown>): Promise<unknown> {
    const index = this.faults.findIndex((f) => f.command === command && (!f.match || f.match(record)));
    const found = index >= 0 ? this.faults.splice(index, 1)[0] : undefined;
    if (typeof found?.kind === 'function') found.kind();
    const fault = found && typeof found.kind !== 'function' ? { ...found, kind: found.kind } : undefined;
    if (fault && fault.when === 'before') {
      this.calls.push({ command, input: { ...record }, outcome: fault.kind });
      throw makeFault(fault.kind);
    }
    try {
      // The SDK fills an idempotency token the caller left out; aws-sdk-client-mock sees the input before it does.
      const input = (command === 'PutSecretValue' || command === 'RotateSecret') && record.ClientRequestToken === undefined ? { ...record, ClientRequestToken: this.nextUuid() } : record;
      const out = this.model.invoke(command, input);
      this.calls.push({ command, input: { ...record }, outcome: fault ? `${fault.kind}-after-apply` : 'ok' });
      if (fault) throw makeFault(fault.kind);
      return out;
    } catch (err) {
      if (err instanceof AwsServiceError) {
        this.calls.push({ command, input: { ...record }, outcome: err.code });
        throw serviceError(err.code, err.status, err.message);
      }
      throw err;
    }
  }

  private nextUuid(): string {
    this.uuid++;
    return `00000000-0000-4000-8000-${String(this.uuid).padStart(12, '0')}`;
  }
}
