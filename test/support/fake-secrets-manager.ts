/**
 * An in-memory Secrets Manager with the real version and staging-label semantics, installed on top of
 * aws-sdk-client-mock so code under test talks to a real `SecretsManagerClient`.
 *
 * Modelled (from the Secrets Manager API reference):
 * - GetSecretValue by VersionStage (default AWSCURRENT) or VersionId; ResourceNotFoundException when the
 *   secret, the version or the label does not exist.
 * - PutSecretValue: VersionId = ClientRequestToken (32-64 chars); the same token with the same value is
 *   a no-op success, with another value ResourceExistsException. VersionStages omitted = [AWSCURRENT].
 *   The first version of a secret always gets AWSCURRENT. A label is unique: attaching it moves it.
 * - UpdateSecretVersionStage: moving a label that is attached to another version needs
 *   RemoveFromVersionId = that version, else InvalidParameterException; removing a label from a version
 *   that does not hold it is InvalidParameterException; AWSCURRENT cannot be removed without a move.
 *   Moving AWSCURRENT moves AWSPREVIOUS to the version it left.
 * - DescribeSecret: VersionIdsToStages for labelled versions.
 *
 * Faults: `failNext(command, fault)` makes the next matching call fail. `before` faults never reach the
 * service; `after` faults (a connection reset once the request was sent) apply the change and lose the
 * response, the nastiest case for a retrying client.
 */
import {
  DecryptionFailure,
  DescribeSecretCommand,
  GetSecretValueCommand,
  InternalServiceError,
  InvalidParameterException,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  SecretsManagerClient,
  SecretsManagerServiceException,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';

export type SmCommandName = 'GetSecretValue' | 'PutSecretValue' | 'UpdateSecretVersionStage' | 'DescribeSecret';
export type FaultKind = 'throttling' | 'server-error' | 'network-reset' | 'access-denied' | 'kms-decrypt';

export const FAULT_KINDS: readonly FaultKind[] = ['throttling', 'server-error', 'network-reset', 'access-denied'];

interface FakeVersion {
  readonly id: string;
  readonly value: string;
  readonly stages: Set<string>;
  readonly seq: number;
}

interface FakeSecret {
  readonly name: string;
  readonly versions: Map<string, FakeVersion>;
}

export interface RecordedCall {
  readonly command: SmCommandName;
  readonly input: Record<string, unknown>;
  readonly outcome: 'ok' | string;
}

interface PendingFault {
  readonly command: SmCommandName;
  readonly kind: FaultKind;
  readonly when: 'before' | 'after';
  readonly match?: (input: Record<string, unknown>) => boolean;
}

const meta = (status: number) => ({ httpStatusCode: status, requestId: 'fake-request-0001', attempts: 1, totalRetryDelay: 0 });

export function makeFault(kind: FaultKind): Error {
  switch (kind) {
    case 'throttling':
      return Object.assign(new SecretsManagerServiceException({ name: 'ThrottlingException', $fault: 'client', $metadata: meta(400), message: 'Rate exceeded' }), {
        $retryable: { throttling: true },
      });
    case 'server-error':
      return new InternalServiceError({ $metadata: meta(500), message: 'An error occurred on the server side.' });
    case 'network-reset':
      return Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', errno: -104, syscall: 'read' });
    case 'access-denied':
      return new SecretsManagerServiceException({
        name: 'AccessDeniedException',
        $fault: 'client',
        $metadata: meta(400),
        message: 'User: arn:aws:sts::123456789012:assumed-role/x/y is not authorized to perform this operation',
      });
    case 'kms-decrypt':
      return new DecryptionFailure({ $metadata: meta(400), message: 'Secrets Manager can’t decrypt the protected secret text using the provided KMS key.' });
  }
}

export class FakeSecretsManager {
  readonly calls: RecordedCall[] = [];
  readonly mock = mockClient(SecretsManagerClient);
  private readonly secrets = new Map<string, FakeSecret>();
  private faults: PendingFault[] = [];
  private seq = 0;
  private uuid = 0;

  constructor() {
    this.mock.on(GetSecretValueCommand).callsFake((input) => this.handle('GetSecretValue', input, () => this.getSecretValue(input)));
    this.mock.on(PutSecretValueCommand).callsFake((input) => this.handle('PutSecretValue', input, () => this.putSecretValue(input)));
    this.mock.on(UpdateSecretVersionStageCommand).callsFake((input) => this.handle('UpdateSecretVersionStage', input, () => this.updateSecretVersionStage(input)));
    this.mock.on(DescribeSecretCommand).callsFake((input) => this.handle('DescribeSecret', input, () => this.describeSecret(input)));
  }

  /** Creates a secret with no value (as the CDK stack does for the keyset). */
  createSecret(name: string, initialValue?: string): this {
    this.secrets.set(name, { name, versions: new Map() });
    if (initialValue !== undefined) this.putSecretValue({ SecretId: name, SecretString: initialValue, ClientRequestToken: this.nextUuid() });
    return this;
  }

  /** Makes the next call of `command` (optionally only one whose input matches) fail with `kind`. */
  failNext(command: SmCommandName, kind: FaultKind, options: { when?: 'before' | 'after'; match?: (input: Record<string, unknown>) => boolean } = {}): this {
    this.faults.push({ command, kind, when: options.when ?? 'before', ...(options.match ? { match: options.match } : {}) });
    return this;
  }

  clearFaults(): void {
    this.faults = [];
  }

  restore(): void {
    this.mock.restore();
  }

  // ---------------------------------------------------------------- inspection for assertions

  secret(name: string): FakeSecret {
    const s = this.secrets.get(name);
    if (!s) throw new Error(`fake: no secret ${name}`);
    return s;
  }

  /** The value labelled `stage`, or undefined. */
  valueAt(name: string, stage: string): string | undefined {
    return this.versionAt(name, stage)?.value;
  }

  versionAt(name: string, stage: string): { id: string; value: string; stages: string[] } | undefined {
    for (const v of this.secret(name).versions.values()) if (v.stages.has(stage)) return { id: v.id, value: v.value, stages: [...v.stages] };
    return undefined;
  }

  /** Every version, oldest first, labelled or not. */
  versions(name: string): { id: string; value: string; stages: string[] }[] {
    return [...this.secret(name).versions.values()].sort((a, b) => a.seq - b.seq).map((v) => ({ id: v.id, value: v.value, stages: [...v.stages] }));
  }

  /** Labels by version id, labelled versions only. */
  labels(name: string): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const v of this.secret(name).versions.values()) if (v.stages.size > 0) out[v.id] = [...v.stages].sort();
    return out;
  }

  callNames(): string[] {
    return this.calls.map((c) => c.command);
  }

  // ---------------------------------------------------------------- the service

  private async handle<T>(command: SmCommandName, input: object, run: () => T): Promise<T> {
    const record = input as Record<string, unknown>;
    const index = this.faults.findIndex((f) => f.command === command && (!f.match || f.match(record)));
    const fault = index >= 0 ? this.faults.splice(index, 1)[0] : undefined;
    if (fault && fault.when === 'before') {
      this.calls.push({ command, input: { ...record }, outcome: fault.kind });
      throw makeFault(fault.kind);
    }
    try {
      const out = run();
      this.calls.push({ command, input: { ...record }, outcome: fault ? `${fault.kind}-after-apply` : 'ok' });
      if (fault) throw makeFault(fault.kind);
      return out;
    } catch (err) {
      if (!fault) this.calls.push({ command, input: { ...record }, outcome: (err as Error).name });
      throw err;
    }
  }

  private find(secretId: unknown): FakeSecret {
    const s = this.secrets.get(String(secretId));
    if (!s) throw new ResourceNotFoundException({ $metadata: meta(400), message: 'Secrets Manager can’t find the specified secret.' });
    return s;
  }

  private holder(secret: FakeSecret, stage: string): FakeVersion | undefined {
    for (const v of secret.versions.values()) if (v.stages.has(stage)) return v;
    return undefined;
  }

  private getSecretValue(input: { SecretId?: string; VersionId?: string; VersionStage?: string }) {
    const secret = this.find(input.SecretId);
    let version: FakeVersion | undefined;
    if (input.VersionId !== undefined) {
      version = secret.versions.get(input.VersionId);
      if (version && input.VersionStage !== undefined && !version.stages.has(input.VersionStage)) version = undefined;
    } else {
      version = this.holder(secret, input.VersionStage ?? 'AWSCURRENT');
    }
    if (!version) {
      throw new ResourceNotFoundException({
        $metadata: meta(400),
        message: `Secrets Manager can't find the specified secret value for ${input.VersionId !== undefined ? `VersionId: ${input.VersionId}` : `staging label: ${input.VersionStage ?? 'AWSCURRENT'}`}`,
      });
    }
    return { ARN: `arn:aws:secretsmanager:us-east-1:123456789012:secret:${secret.name}-AbCdEf`, Name: secret.name, VersionId: version.id, SecretString: version.value, VersionStages: [...version.stages], CreatedDate: new Date(0) };
  }

  private putSecretValue(input: { SecretId?: string; SecretString?: string; ClientRequestToken?: string; VersionStages?: string[] }) {
    const secret = this.find(input.SecretId);
    const token = input.ClientRequestToken ?? this.nextUuid();
    if (token.length < 32 || token.length > 64) {
      throw new InvalidParameterException({ $metadata: meta(400), message: 'ClientRequestToken must be 32-64 characters' });
    }
    if (input.SecretString === undefined) throw new InvalidParameterException({ $metadata: meta(400), message: 'You must provide either SecretString or SecretBinary.' });
    const existing = secret.versions.get(token);
    if (existing) {
      if (existing.value === input.SecretString) return { ARN: secret.name, Name: secret.name, VersionId: existing.id, VersionStages: [...existing.stages] };
      throw new ResourceExistsException({ $metadata: meta(400), message: 'You can’t modify an existing version, you can only create a new version.' });
    }
    const first = secret.versions.size === 0;
    const version: FakeVersion = { id: token, value: input.SecretString, stages: new Set(), seq: ++this.seq };
    secret.versions.set(token, version);
    const stages = new Set(input.VersionStages ?? ['AWSCURRENT']);
    if (first) stages.add('AWSCURRENT');
    for (const stage of stages) this.attach(secret, stage, version);
    return { ARN: secret.name, Name: secret.name, VersionId: version.id, VersionStages: [...version.stages] };
  }

  private updateSecretVersionStage(input: { SecretId?: string; VersionStage?: string; MoveToVersionId?: string; RemoveFromVersionId?: string }) {
    const secret = this.find(input.SecretId);
    const stage = input.VersionStage;
    if (!stage) throw new InvalidParameterException({ $metadata: meta(400), message: 'VersionStage is required' });
    const holder = this.holder(secret, stage);
    if (input.MoveToVersionId !== undefined) {
      const target = secret.versions.get(input.MoveToVersionId);
      if (!target) throw new ResourceNotFoundException({ $metadata: meta(400), message: `Secrets Manager can't find the specified secret version: ${input.MoveToVersionId}` });
      if (holder && holder !== target) {
        if (input.RemoveFromVersionId === undefined) {
          throw new InvalidParameterException({
            $metadata: meta(400),
            message: `The parameter RemoveFromVersionId can't be empty. Staging label ${stage} is currently attached to version ${holder.id}, so you must explicitly reference that version in RemoveFromVersionId.`,
          });
        }
        if (input.RemoveFromVersionId !== holder.id) {
          throw new InvalidParameterException({
            $metadata: meta(400),
            message: `When you move staging label ${stage}, if you specify RemoveFromVersionId, it must be set to the version that currently has the staging label ${stage}.`,
          });
        }
      } else if (input.RemoveFromVersionId !== undefined && input.RemoveFromVersionId !== holder?.id) {
        throw new InvalidParameterException({ $metadata: meta(400), message: `The staging label ${stage} is not attached to version ${input.RemoveFromVersionId}.` });
      }
      this.attach(secret, stage, target);
    } else {
      if (input.RemoveFromVersionId === undefined) throw new InvalidParameterException({ $metadata: meta(400), message: 'Specify MoveToVersionId, RemoveFromVersionId or both.' });
      if (!holder || holder.id !== input.RemoveFromVersionId) {
        throw new InvalidParameterException({ $metadata: meta(400), message: `The staging label ${stage} is not attached to version ${input.RemoveFromVersionId}.` });
      }
      if (stage === 'AWSCURRENT') throw new InvalidParameterException({ $metadata: meta(400), message: 'You can’t remove the staging label AWSCURRENT without moving it to another version.' });
      holder.stages.delete(stage);
    }
    return { ARN: secret.name, Name: secret.name };
  }

  private describeSecret(input: { SecretId?: string }) {
    const secret = this.find(input.SecretId);
    return { ARN: secret.name, Name: secret.name, VersionIdsToStages: this.labels(secret.name) };
  }

  /** Attaches a label, moving it off whichever version held it; AWSCURRENT drags AWSPREVIOUS along. */
  private attach(secret: FakeSecret, stage: string, target: FakeVersion): void {
    const holder = this.holder(secret, stage);
    if (holder === target) return;
    holder?.stages.delete(stage);
    target.stages.add(stage);
    if (stage === 'AWSCURRENT' && holder) {
      this.holder(secret, 'AWSPREVIOUS')?.stages.delete('AWSPREVIOUS');
      holder.stages.add('AWSPREVIOUS');
    }
  }

  private nextUuid(): string {
    this.uuid++;
    return `00000000-0000-4000-8000-${String(this.uuid).padStart(12, '0')}`;
  }
}
