/**
 * The rotation function in-process, driven the way Secrets Manager drives it: the stand-in's Secrets
 * Manager model (behind aws-sdk-client-mock) stages AWSPENDING on RotateSecret and invokes the handler
 * with the four steps, one after the other. The same sequence runs against the bundled handler as a
 * process in test/process/rotation-protocol.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { errorCode } from '../../../lambda/keys/errors';
import { createKeyset, type Keyset, parseKeyset, preservesVersions, rotateKeyset, serializeKeyset } from '../../../lambda/keys/keyset';
import { KeyManager } from '../../../lambda/key-manager';
import { systemRandom } from '../../../lambda/keys/random';
import type { RotationConfig } from '../../../lambda/rotation/config';
import { createHandler, type HandlerResult } from '../../../lambda/rotation/handler';
import { parseRotationLog, type RotationLog } from '../../../lambda/rotation/rotation-log';
import { SecretsManagerRotationLog } from '../../../lambda/rotation/rotation-log-store';
import type { StorageKey, StorageKeyHealth } from '../../../lambda/rotation/storage-key';
import { SecretsManagerSecret } from '../../../lambda/stores/secrets-manager-secret';
import { SecretsManagerStore } from '../../../lambda/stores/secrets-manager-store';
import { MemoryAuditSink } from '../../../lambda/telemetry/audit';
import { MemoryMetricsSink } from '../../../lambda/telemetry/metrics';
import { FAULT_KINDS, FakeSecretsManager, type SmCommandName } from '../../support/fake-secrets-manager';

const KEYSET = 'alphapulse/encryption/master_key';
const LOG = 'alphapulse/encryption/rotation_log';
const T0 = '2026-01-01T00:00:00.000Z';
const DAY = 86_400_000;

interface World {
  readonly sm: FakeSecretsManager;
  readonly arn: string;
  readonly store: SecretsManagerStore;
  readonly audit: MemoryAuditSink;
  readonly metrics: MemoryMetricsSink;
  readonly initial: Keyset;
  flushes: number;
  storageKey: StorageKeyHealth;
  handle: (event: unknown) => Promise<HandlerResult>;
}

let world: World;

function setup(options: { keyset?: Keyset | null; config?: Partial<RotationConfig>; log?: string; rotation?: boolean } = {}): World {
  const sm = new FakeSecretsManager().createSecret(KEYSET).createSecret(LOG, options.log);
  const initial = options.keyset === undefined ? createKeyset({ material: randomBytes(32).toString('base64'), now: T0 }) : options.keyset;
  if (initial) sm.createSecret(KEYSET, serializeKeyset(initial));
  sm.now = new Date('2026-02-01T00:00:00.000Z');
  const arn = sm.model.arnOf(KEYSET);
  const store = new SecretsManagerStore({ secretId: arn, region: 'us-east-1', rotation: { pollMs: 1, sleep: () => new Promise((resolve) => setImmediate(resolve)) } });
  const audit = new MemoryAuditSink();
  const metrics = new MemoryMetricsSink();
  const w = { sm, arn, store, audit, metrics, initial: initial as Keyset, flushes: 0, storageKey: { keyId: 'k', state: 'Enabled', rotationEnabled: true, healthy: true } } as World;
  const flush = metrics.flush.bind(metrics);
  metrics.flush = async () => {
    w.flushes++;
    await flush();
  };
  const storageKey: StorageKey = { health: async () => w.storageKey };
  w.handle = createHandler({
    config: { keysetSecretId: arn, rotationLogSecretId: LOG, metricsNamespace: 'AlphaPulse/Encryption', rotationPeriodDays: 90, warningWindowDays: 14, stage: 'test', ...options.config },
    store,
    rotationLog: new SecretsManagerRotationLog(new SecretsManagerSecret(LOG, { client: store.secret.client })),
    storageKey,
    clock: () => sm.now,
    random: systemRandom,
    audit,
    metrics,
    actor: 'test',
  });
  if (options.rotation !== false) sm.configureRotation(KEYSET, (event) => w.handle(event));
  return w;
}

afterEach(() => world?.sm.restore());

const current = (w = world): Keyset => parseKeyset(w.sm.valueAt(KEYSET, 'AWSCURRENT') as string);
const rotationLog = (w = world): RotationLog => parseRotationLog(w.sm.valueAt(LOG, 'AWSCURRENT'));
const keysetVersions = (w = world) => w.sm.versions(KEYSET);
const codeOf = (p: Promise<unknown>) => p.then(() => 'ok', (e: unknown) => errorCode(e));
const auditActions = (w = world) => w.audit.events.map((e) => `${e.action}:${e.outcome}`);

/** What Secrets Manager's schedule does: RotateSecret (its own token), then the steps; resolves when they ran. */
async function scheduledRotation(w = world, token = `00000000-0000-4000-9000-${String(Math.floor(Math.random() * 1e12)).padStart(12, '0')}`): Promise<string> {
  try {
    w.sm.model.invoke('RotateSecret', { SecretId: KEYSET, ClientRequestToken: token });
  } catch (err) {
    // "A previous rotation isn't complete. That rotation will be reattempted.": the pending token runs again.
    if ((err as { code?: string }).code !== 'InvalidRequestException') throw err;
  }
  await w.sm.model.rotationsSettled();
  return token;
}

const step = (Step: string, token: string, SecretId: string = world.arn) => world.handle({ Step, SecretId, ClientRequestToken: token });

describe('a rotation through Secrets Manager (RotateSecret, then createSecret, setSecret, testSecret, finishSecret)', () => {
  it('adds one version as the new primary, moves AWSCURRENT to it, leaves no AWSPENDING, and records it once', async () => {
    world = setup();
    const token = await scheduledRotation();
    expect(world.sm.model.eventNames(KEYSET)).toEqual(['RotationStarted', 'RotationSucceeded']);
    expect(world.sm.model.invocations.map((i) => `${i.step}:${i.outcome}`)).toEqual(['createSecret:succeeded', 'setSecret:succeeded', 'testSecret:succeeded', 'finishSecret:succeeded']);
    const after = current();
    expect(after.primary).toBe(2);
    expect(preservesVersions(world.initial, after)).toBe(true);
    expect(world.sm.labels(KEYSET)).toEqual({ [world.sm.versions(KEYSET)[0].id]: ['AWSPREVIOUS'], [token]: ['AWSCURRENT'] });
    expect(rotationLog().entries).toEqual([expect.objectContaining({ rotationId: token, fromVersion: 1, toVersion: 2, outcome: 'success', trigger: 'schedule' })]);
    expect(world.metrics.total('RotationSucceeded')).toBe(1);
    expect(world.metrics.total('RotationFailed')).toBe(0);
    expect(auditActions()).toEqual(['rotation_create:success', 'rotate:success']);
  });

  it('changes nothing when any step is delivered again, before or after the rotation finished', async () => {
    world = setup();
    const token = await scheduledRotation();
    const labels = world.sm.labels(KEYSET);
    for (const s of ['createSecret', 'setSecret', 'testSecret', 'finishSecret']) {
      expect(await step(s, token)).toEqual({ step: s, token, status: 'done' });
    }
    expect(world.sm.labels(KEYSET)).toEqual(labels);
    expect(keysetVersions()).toHaveLength(2);
    expect(world.metrics.total('RotationSucceeded')).toBe(1);
    expect(rotationLog().entries).toHaveLength(1);

    // Mid-rotation: createSecret and testSecret twice stage one value, test it twice, and one finish promotes it.
    const second = `${token.slice(0, -4)}beef`;
    world.sm.model.rotationFunction = async () => undefined; // Secrets Manager stages the version; the test delivers the steps.
    world.sm.model.invoke('RotateSecret', { SecretId: KEYSET, ClientRequestToken: second });
    await world.sm.model.rotationsSettled();
    for (const s of ['createSecret', 'createSecret', 'setSecret', 'testSecret', 'testSecret', 'finishSecret']) await step(s, second);
    expect(await step('finishSecret', second)).toMatchObject({ status: 'done' });
    expect(current().primary).toBe(3);
    expect(keysetVersions()).toHaveLength(3);
    expect(world.metrics.total('RotationSucceeded')).toBe(2);
  });

  it('an emergency rotation staged under the token (key-manager rotate --emergency) disables the old primary through the same steps', async () => {
    world = setup();
    const km = new KeyManager({ store: world.store, clock: () => world.sm.now, audit: new MemoryAuditSink() });
    const result = await km.rotate({ emergency: true, reason: 'INC-7 key exposed', timeoutMs: 10_000 });
    expect(result).toEqual({ fromVersion: 1, toVersion: 2, disabledVersion: 1, rotationId: expect.stringMatching(/^emergency-/), via: 'backend' });
    const after = current();
    expect(after.versions.map((v) => [v.version, v.state, v.reason])).toEqual([
      [1, 'disabled', 'INC-7 key exposed'],
      [2, 'enabled', undefined],
    ]);
    expect(world.sm.model.invocations.map((i) => i.step)).toEqual(['createSecret', 'setSecret', 'testSecret', 'finishSecret']);
    expect(world.metrics.total('EmergencyRotations')).toBe(1);
    expect(rotationLog().entries).toEqual([expect.objectContaining({ rotationId: result.rotationId, trigger: 'emergency', outcome: 'success' })]);
  });

  it('a manual rotation (key-manager rotate) waits for Secrets Manager and reports the new AWSCURRENT', async () => {
    world = setup();
    const progress: string[] = [];
    const km = new KeyManager({ store: world.store, clock: () => world.sm.now });
    const result = await km.rotate({ timeoutMs: 10_000, onProgress: (m) => progress.push(m) });
    expect(result).toMatchObject({ fromVersion: 1, toVersion: 2, via: 'backend' });
    expect(world.sm.versionAt(KEYSET, 'AWSCURRENT')?.id).toBe(result.rotationId);
    expect(rotationLog().entries[0]).toMatchObject({ rotationId: result.rotationId, trigger: 'manual' });
  });

  it('refuses a new rotation while one is in progress, and says how to clear a stuck one', async () => {
    world = setup();
    world.sm.model.rotationFunction = async () => {
      throw new Error('the function is down');
    };
    const stuck = await scheduledRotation();
    expect(world.sm.model.eventNames(KEYSET)).toEqual(['RotationStarted', 'RotationFailed']);
    const km = new KeyManager({ store: world.store, clock: () => world.sm.now });
    const refused = await km.rotate({ timeoutMs: 1_000 }).catch((e: Error & { code: string }) => e);
    expect(refused).toMatchObject({ code: 'ROTATION_IN_PROGRESS' });
    expect((refused as Error).message).toContain(`--version-stage AWSPENDING --remove-from-version-id ${stuck}`);
    expect(keysetVersions()).toHaveLength(1);
    const emergency = await codeOf(km.rotate({ emergency: true, reason: 'INC-8', timeoutMs: 1_000 }));
    expect(emergency).toBe('ROTATION_IN_PROGRESS');
    expect(world.sm.labels(KEYSET)[stuck]).toEqual(['AWSPENDING']);
  });
});

describe('resuming: a rotation that failed at any point completes on the next attempt, with one version', () => {
  /** The Secrets Manager calls our code makes in a clean rotation, as (command, occurrence) pairs. */
  async function cleanCalls(): Promise<{ command: SmCommandName; nth: number; secret: string }[]> {
    world = setup();
    await scheduledRotation();
    const seen = new Map<string, number>();
    const out = world.sm.calls.map((c) => {
      const nth = (seen.get(c.command) ?? 0) + 1;
      seen.set(c.command, nth);
      return { command: c.command, nth, secret: String(c.input.SecretId) };
    });
    world.sm.restore();
    return out;
  }

  it('after any call fails with any fault the keyset is intact, and a reattempt finishes the same rotation', async () => {
    const calls = await cleanCalls();
    expect(calls.length).toBeGreaterThanOrEqual(12);
    let cases = 0;
    for (const call of calls) {
      for (const fault of FAULT_KINDS) {
        world = setup();
        let seen = 0;
        world.sm.failNext(call.command, fault, { when: fault === 'network-reset' ? 'after' : 'before', match: () => ++seen === call.nth });
        const label = `${call.command}#${call.nth} (${call.secret}) × ${fault}`;
        const token = await scheduledRotation();
        expect({ label, preserved: preservesVersions(world.initial, current()) }).toEqual({ label, preserved: true });

        world.sm.clearFaults();
        for (let attempt = 0; attempt < 3 && world.sm.versionAt(KEYSET, 'AWSCURRENT')?.id !== token; attempt++) await scheduledRotation();
        const done = current();
        expect({ label, current: world.sm.versionAt(KEYSET, 'AWSCURRENT')?.id, primary: done.primary, versions: keysetVersions().length }).toEqual({ label, current: token, primary: 2, versions: 2 });
        expect(preservesVersions(world.initial, done)).toBe(true);
        // The log is advisory: a lost append leaves a rotation without its entry, never a second rotation.
        expect({ label, entries: rotationLog().entries.filter((e) => e.rotationId === token && e.outcome === 'success').length <= 1 }).toEqual({ label, entries: true });
        world.sm.restore();
        cases++;
      }
    }
    expect(cases).toBe(calls.length * FAULT_KINDS.length);
    console.log(`rotation fault matrix: ${cases} (call × fault) cases (${calls.length} calls × ${FAULT_KINDS.length} faults)`);
  });

  it.each(['createSecret', 'setSecret', 'testSecret', 'finishSecret'])('a run that crashed just after %s finished its work ends with that one rotation done', async (crashAfter) => {
    world = setup();
    let crashed = false;
    world.sm.model.rotationFunction = async (event) => {
      await world.handle(event);
      if (event.Step === crashAfter && !crashed) {
        crashed = true;
        throw new Error('Runtime.ExitError: the environment died after the step');
      }
    };
    const token = await scheduledRotation();
    expect(world.sm.model.eventNames(KEYSET)).toContain('RotationFailed');
    // After finishSecret the work was complete and nothing is pending; otherwise Secrets Manager's reattempt resumes it.
    if (world.sm.versionAt(KEYSET, 'AWSCURRENT')?.id !== token) await scheduledRotation();
    expect(world.sm.versionAt(KEYSET, 'AWSCURRENT')?.id).toBe(token);
    expect(keysetVersions()).toHaveLength(2);
    expect(rotationLog().entries.filter((e) => e.outcome === 'success')).toEqual([expect.objectContaining({ rotationId: token })]);
  });
});

describe('what the steps refuse or clear', () => {
  it.each([
    ['a direct rotate action', { action: 'rotate', rotationId: 'manual-2026-11-26' }],
    ['a direct emergency rotate action', { action: 'rotate', rotationId: 'x', emergency: true, reason: 'INC' }],
    ['a step with a token Secrets Manager did not stage', { Step: 'createSecret', SecretId: 'ARN', ClientRequestToken: '11111111-2222-4333-8444-555555555555' }],
    ['a step for another secret', { Step: 'createSecret', SecretId: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:other-AbCdEf', ClientRequestToken: 'PENDING' }],
  ])('refuses %s: ROTATION_REFUSED, audited, nothing changed', async (_name, event) => {
    world = setup();
    world.sm.model.rotationFunction = async () => undefined;
    world.sm.model.invoke('RotateSecret', { SecretId: KEYSET, ClientRequestToken: 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee' });
    await world.sm.model.rotationsSettled();
    const before = JSON.stringify([world.sm.model.versions(KEYSET), world.sm.model.versions(LOG)]);
    const resolved = JSON.parse(JSON.stringify(event).replace('"ARN"', JSON.stringify(world.arn)).replace('PENDING', 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee'));
    expect(await codeOf(world.handle(resolved))).toBe('ROTATION_REFUSED');
    expect(JSON.stringify([world.sm.model.versions(KEYSET), world.sm.model.versions(LOG)])).toBe(before);
    expect(world.audit.events.at(-1)).toMatchObject({ outcome: 'failure', code: 'ROTATION_REFUSED' });
    expect(world.metrics.total('RotationFailed')).toBe(0);
    expect(world.flushes).toBe(1);
  });

  it('refuses every step while rotation is not enabled on the secret (CancelRotateSecret)', async () => {
    world = setup();
    world.sm.model.rotationFunction = async () => undefined;
    world.sm.model.invoke('RotateSecret', { SecretId: KEYSET, ClientRequestToken: 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee' });
    await world.sm.model.rotationsSettled();
    world.sm.model.invoke('CancelRotateSecret', { SecretId: KEYSET });
    expect(await codeOf(step('createSecret', 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee'))).toBe('ROTATION_REFUSED');
    expect(keysetVersions()).toHaveLength(1);
  });

  it('clears a value staged under the token that is not exactly one rotation of the current keyset, and fails the rotation', async () => {
    world = setup();
    const token = 'cccccccc-bbbb-4ccc-8ddd-eeeeeeeeeeee';
    // Built on a keyset that is not the current one: it lacks version 1.
    const foreign = createKeyset({ material: randomBytes(32).toString('base64'), now: T0 });
    const bad = rotateKeyset(rotateKeyset(foreign, { material: randomBytes(32).toString('base64'), now: T0 }), { material: randomBytes(32).toString('base64'), now: T0 });
    world.sm.model.invoke('PutSecretValue', { SecretId: KEYSET, ClientRequestToken: token, SecretString: serializeKeyset(bad), VersionStages: ['AWSPENDING'] });
    world.sm.model.invoke('RotateSecret', { SecretId: KEYSET, ClientRequestToken: token });
    await world.sm.model.rotationsSettled();
    expect(world.sm.model.invocations.map((i) => `${i.step}:${i.outcome}`)).toEqual(['createSecret:failed']);
    expect(world.sm.model.stagesOf(KEYSET, token)).toEqual([]);
    expect(current()).toEqual(world.initial);
    expect(world.metrics.total('RotationFailed')).toBe(1);
    // Nothing is left in progress: the next rotation starts afresh.
    await scheduledRotation();
    expect(current().primary).toBe(2);
  });

  it('an operator write during a rotation abandons it (Secrets Manager drops AWSPENDING): finishSecret refuses and the write stands', async () => {
    world = setup();
    const token = 'dddddddd-bbbb-4ccc-8ddd-eeeeeeeeeeee';
    world.sm.model.rotationFunction = async () => undefined;
    world.sm.model.invoke('RotateSecret', { SecretId: KEYSET, ClientRequestToken: token });
    await world.sm.model.rotationsSettled();
    for (const s of ['createSecret', 'setSecret', 'testSecret']) await step(s, token);
    const snap = await world.store.read();
    const withExtra = rotateKeyset(snap.keyset, { material: randomBytes(32).toString('base64'), now: T0 });
    await world.store.write(withExtra, snap.handle);
    expect(world.sm.model.eventNames(KEYSET)).toContain('RotationAbandoned');
    expect(await codeOf(step('finishSecret', token))).toBe('ROTATION_REFUSED');
    expect(current()).toEqual(withExtra);
  });

  it('a write that lands between finishSecret\'s check and its move wins: the move is refused, the candidate re-checked and cleared', async () => {
    world = setup();
    const token = 'ffffffff-bbbb-4ccc-8ddd-eeeeeeeeeeee';
    world.sm.model.rotationFunction = async () => undefined;
    world.sm.model.invoke('RotateSecret', { SecretId: KEYSET, ClientRequestToken: token });
    await world.sm.model.rotationsSettled();
    for (const s of ['createSecret', 'setSecret', 'testSecret']) await step(s, token);
    const snap = await world.store.read();
    const other = rotateKeyset(snap.keyset, { material: randomBytes(32).toString('base64'), now: T0 });
    world.sm.beforeNext(
      'UpdateSecretVersionStage',
      () => {
        world.sm.model.invoke('PutSecretValue', { SecretId: KEYSET, ClientRequestToken: '99999999-bbbb-4ccc-8ddd-eeeeeeeeeeee', SecretString: serializeKeyset(other), VersionStages: ['AWSCURRENT'] });
      },
      (input) => input.VersionStage === 'AWSCURRENT' && input.MoveToVersionId === token,
    );
    expect(await codeOf(step('finishSecret', token))).toBe('ROTATION_FAILED');
    expect(current()).toEqual(other);
    expect(world.sm.model.stagesOf(KEYSET, token)).toEqual([]);
    expect(world.metrics.total('RotationFailed')).toBe(1);
  });
});

describe('the rotation log is advisory, never a gate', () => {
  it('a malformed log does not stop a rotation: it is set aside, a fresh log started, and the audit says so', async () => {
    world = setup({ log: 'not a rotation log' });
    const token = await scheduledRotation();
    expect(current().primary).toBe(2);
    expect(rotationLog().entries.map((e) => e.rotationId)).toEqual([token]);
    expect(world.sm.versionAt(LOG, 'AWSPREVIOUS')?.value).toBe('not a rotation log');
    expect(world.audit.events).toContainEqual(expect.objectContaining({ action: 'rotation_log', outcome: 'failure', code: 'INVALID_INPUT' }));
  });

  it('a forged entry claiming the rotation already happened neither stops nor skips it', async () => {
    const token = 'eeeeeeee-bbbb-4ccc-8ddd-eeeeeeeeeeee';
    const forged = JSON.stringify({ schema: 1, entries: [{ rotationId: token, fromVersion: 1, toVersion: 2, startedAt: T0, finishedAt: T0, outcome: 'success', trigger: 'schedule' }] });
    world = setup({ log: forged });
    await scheduledRotation(world, token);
    expect(current().primary).toBe(2);
    expect(world.metrics.total('RotationSucceeded')).toBe(1);
  });

  it('a rotation-log write that fails is audited and the rotation still succeeds', async () => {
    world = setup();
    const logArn = world.sm.model.arnOf(LOG);
    for (let i = 0; i < 4; i++) world.sm.failNext('PutSecretValue', 'server-error', { match: (input) => input.SecretId === LOG || input.SecretId === logArn });
    await scheduledRotation();
    expect(world.sm.model.eventNames(KEYSET)).toEqual(['RotationStarted', 'RotationSucceeded']);
    expect(current().primary).toBe(2);
    expect(world.metrics.total('RotationSucceeded')).toBe(1);
    expect(world.audit.events).toContainEqual(expect.objectContaining({ action: 'rotation_log', outcome: 'failure', code: 'STORE_UNAVAILABLE' }));
  });
});

describe('monitor', () => {
  const monitor = () => world.handle({ version: '0', id: 'e', 'detail-type': 'Scheduled Event', source: 'aws.events', time: T0, resources: [], detail: {} });

  it('measures key age, the deadline, enabled versions, the rotation schedule and the storage key, and changes nothing', async () => {
    world = setup();
    const result = await monitor();
    expect(result).toMatchObject({
      action: 'monitor',
      primary: 1,
      keyAgeDays: 31,
      daysUntilRotationDue: 59,
      rotationOverdue: false,
      enabledVersions: 1,
      deadlineAtRisk: false,
      rotation: { enabled: true, schedule: 'rate(90 days)', nextRotation: expect.any(String) },
      storageKey: { state: 'Enabled', healthy: true },
    });
    expect(world.sm.calls.every((c) => ['GetSecretValue', 'DescribeSecret', 'ListSecretVersionIds'].includes(c.command))).toBe(true);
    for (const [name, value] of [['KeyAgeDays', 31], ['DaysUntilRotationDue', 59], ['EnabledKeyVersions', 1], ['RotationStuck', 0], ['RotationDeadlineAtRisk', 0], ['StorageKeyHealthy', 1]] as const) {
      expect({ name, value: world.metrics.total(name) }).toEqual({ name, value });
    }
  });

  it('never rotates a key Secrets Manager will rotate on schedule, even inside the warning window', async () => {
    world = setup();
    world.sm.now = new Date(Date.parse(T0) + 80 * DAY);
    expect(await monitor()).toMatchObject({ daysUntilRotationDue: 10, deadlineAtRisk: false });
    expect(world.sm.model.invocations).toHaveLength(0);
  });

  it('reports the deadline at risk inside the window when Secrets Manager has no rotation scheduled', async () => {
    world = setup({ rotation: false });
    world.sm.now = new Date(Date.parse(T0) + 80 * DAY);
    expect(await monitor()).toMatchObject({ deadlineAtRisk: true, rotation: { enabled: false } });
    expect(world.metrics.total('RotationDeadlineAtRisk')).toBe(1);
  });

  it('reports a rotation stuck past its window, and the deadline at risk when that is inside the warning window', async () => {
    world = setup();
    world.sm.model.rotationFunction = async () => {
      throw new Error('down');
    };
    world.sm.now = new Date(Date.parse(T0) + 78 * DAY);
    const stuck = await scheduledRotation();
    world.sm.now = new Date(Date.parse(T0) + 80 * DAY);
    const result = await monitor();
    expect(result).toMatchObject({ deadlineAtRisk: true, rotation: { pending: { versionId: stuck, stuck: true } } });
    expect(world.metrics.total('RotationStuck')).toBe(1);
  });

  it('asks Secrets Manager to rotate a key past its deadline (the backstop), without waiting for it', async () => {
    world = setup();
    world.sm.model.invoke('CancelRotateSecret', { SecretId: KEYSET });
    world.sm.now = new Date(Date.parse(T0) + 92 * DAY);
    const result = (await monitor()) as { requestedRotation?: string; rotationOverdue: boolean };
    expect(result.rotationOverdue).toBe(true);
    expect(result.requestedRotation).toMatch(/^overdue-/);
    await world.sm.model.rotationsSettled();
    expect(world.sm.versionAt(KEYSET, 'AWSCURRENT')?.id).toBe(result.requestedRotation);
    expect(rotationLog().entries[0]).toMatchObject({ trigger: 'overdue', outcome: 'success' });
    expect(world.audit.events).toContainEqual(expect.objectContaining({ action: 'rotation_requested', outcome: 'success' }));
  });

  it('does not ask for a rotation while one is in progress', async () => {
    world = setup();
    world.sm.model.rotationFunction = async () => {
      throw new Error('down');
    };
    world.sm.now = new Date(Date.parse(T0) + 92 * DAY);
    await scheduledRotation();
    const calls = world.sm.calls.length;
    const result = (await monitor()) as { requestedRotation?: string };
    expect(result.requestedRotation).toBeUndefined();
    expect(world.sm.calls.slice(calls).some((c) => c.command === 'RotateSecret')).toBe(false);
  });

  it('reports an unhealthy storage key (disabled or its rotation off) before reading the keyset', async () => {
    world = setup();
    world.storageKey = { keyId: 'k', state: 'PendingDeletion', deletionDate: '2026-03-01T00:00:00.000Z', rotationEnabled: null, healthy: false };
    expect(await monitor()).toMatchObject({ storageKey: { state: 'PendingDeletion', healthy: false } });
    expect(world.metrics.total('StorageKeyHealthy')).toBe(0);
  });

  it('throws when the keyset cannot be read, so the monitor-silent alarm and the DLQ see it', async () => {
    world = setup();
    world.sm.failNext('GetSecretValue', 'access-denied');
    expect(await codeOf(monitor())).toBe('ACCESS_DENIED');
    expect(world.metrics.total('KeyRetrievalFailures')).toBe(1);
    expect(world.audit.events.at(-1)).toMatchObject({ action: 'monitor', outcome: 'failure', code: 'ACCESS_DENIED' });
  });

  it('refuses a keyset whose primary is stamped in the future (it would never come due), naming the field, and a rotation on it fails', async () => {
    world = setup({ keyset: createKeyset({ material: randomBytes(32).toString('base64'), now: '2030-01-01T00:00:00.000Z' }) });
    const err = await monitor().catch((e: Error & { code: string }) => e);
    expect(err).toMatchObject({ code: 'KEYSET_INVALID' });
    expect((err as Error).message).toMatch(/versions\[0\]\.createdAt/);
    await scheduledRotation();
    expect(world.sm.model.eventNames(KEYSET)).toEqual(['RotationStarted', 'RotationFailed']);
    expect(keysetVersions()).toHaveLength(1);
  });

  it('takes the {"action":"monitor"} an operator sends', async () => {
    world = setup();
    expect(await world.handle({ action: 'monitor' })).toMatchObject({ action: 'monitor', primary: 1 });
  });
});

describe('CloudFormation custom resource (deploy-time init)', () => {
  it('Create writes version 1 into the empty secret the stack created, and reports key age at once', async () => {
    world = setup({ keyset: null, rotation: false });
    expect(await world.handle({ RequestType: 'Create', ResourceProperties: {} })).toEqual({ PhysicalResourceId: world.arn, Data: { Primary: '1' } });
    expect(current().versions).toHaveLength(1);
    expect(world.metrics.data.find((d) => d.name === 'KeyAgeDays')).toMatchObject({ value: 0 });
  });

  it('Update leaves an existing keyset as it is', async () => {
    world = setup();
    await scheduledRotation();
    expect(await world.handle({ RequestType: 'Update', PhysicalResourceId: world.arn })).toEqual({ PhysicalResourceId: world.arn, Data: { Primary: '2' } });
    expect(keysetVersions()).toHaveLength(2);
    expect(world.audit.events.at(-1)).toMatchObject({ action: 'init', outcome: 'skipped' });
  });

  it('never overwrites a value that is not a keyset', async () => {
    world = setup({ keyset: null, rotation: false });
    world.sm.model.invoke('PutSecretValue', { SecretId: KEYSET, ClientRequestToken: '12121212-bbbb-4ccc-8ddd-eeeeeeeeeeee', SecretString: '{"schema":1,"primary":1,"versions":[]}' });
    expect(await codeOf(world.handle({ RequestType: 'Create', ResourceProperties: {} }))).toBe('KEYSET_INVALID');
    expect(world.sm.versions(KEYSET)).toHaveLength(1);
  });

  it('Delete never touches the secret', async () => {
    world = setup();
    const calls = world.sm.calls.length;
    expect(await world.handle({ RequestType: 'Delete', PhysicalResourceId: world.arn })).toEqual({ PhysicalResourceId: world.arn });
    expect(world.sm.calls.length).toBe(calls);
  });
});

describe('what the function lets out', () => {
  it('never puts key material in the audit, the metrics, the rotation log or the results', async () => {
    world = setup();
    await scheduledRotation();
    const km = new KeyManager({ store: world.store, clock: () => world.sm.now });
    const results = [await km.rotate({ emergency: true, reason: 'INC-9', timeoutMs: 10_000 }), await world.handle({ action: 'monitor' })];
    const text = JSON.stringify([world.audit.events, world.metrics.data, world.sm.versions(LOG), results]);
    for (const v of current().versions) if (v.material) expect(text).not.toContain(v.material);
  });
});
