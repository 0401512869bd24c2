import { randomBytes } from 'node:crypto';
import { createKeyset, type Keyset, parseKeyset, preservesVersions, rotateKeyset, serializeKeyset } from '../../../lambda/keys/keyset';
import { KeyManagementError } from '../../../lambda/keys/errors';
import { systemRandom } from '../../../lambda/keys/random';
import * as canary from '../../../lambda/rotation/canary';
import type { RotationConfig } from '../../../lambda/rotation/config';
import { createHandler, type HandlerResult } from '../../../lambda/rotation/handler';
import { rotationToken } from '../../../lambda/rotation/plan';
import { appendRotationLog, EMPTY_ROTATION_LOG, MAX_ROTATION_LOG_ENTRIES, parseRotationLog, type RotationLog, serializeRotationLog } from '../../../lambda/rotation/rotation-log';
import { SecretsManagerRotationLog } from '../../../lambda/rotation/rotation-log-store';
import { SecretsManagerSecret } from '../../../lambda/stores/secrets-manager-secret';
import { SecretsManagerStore } from '../../../lambda/stores/secrets-manager-store';
import { MemoryAuditSink } from '../../../lambda/telemetry/audit';
import { MemoryMetricsSink } from '../../../lambda/telemetry/metrics';
import { FAULT_KINDS, FakeSecretsManager, type SmCommandName } from '../../support/fake-secrets-manager';

const KEYSET = 'alphapulse/encryption/master_key';
const LOG = 'alphapulse/encryption/rotation_log';
const EVENT_ID = '7bf73129-1428-4cd3-a780-95db273d1602';
const T0 = '2026-01-01T00:00:00.000Z';

const config = (over: Partial<RotationConfig> = {}): RotationConfig => ({
  keysetSecretId: KEYSET,
  rotationLogSecretId: LOG,
  metricsNamespace: 'AlphaPulse/Encryption',
  rotationPeriodDays: 90,
  // The monitor's own rotation is off unless a test turns it on, so these tests see the schedule alone.
  warningWindowDays: null,
  stage: 'test',
  minRotationIntervalMinutes: 60,
  ...over,
});

interface World {
  sm: FakeSecretsManager;
  audit: MemoryAuditSink;
  metrics: MemoryMetricsSink;
  flushes: number;
  now: Date;
  initial: Keyset;
  handle: (event: unknown) => Promise<HandlerResult>;
}

let world: World;

function setup(options: { keyset?: Keyset | null; config?: Partial<RotationConfig>; log?: string } = {}): World {
  const sm = new FakeSecretsManager().createSecret(KEYSET).createSecret(LOG, options.log);
  const initial = options.keyset === undefined ? createKeyset({ material: randomBytes(32).toString('base64'), now: T0 }) : options.keyset;
  if (initial) sm.createSecret(KEYSET, serializeKeyset(initial));
  const audit = new MemoryAuditSink();
  const metrics = new MemoryMetricsSink();
  const w = { sm, audit, metrics, flushes: 0, now: new Date('2026-04-01T00:00:00.000Z'), initial: initial as Keyset } as World;
  const flush = metrics.flush.bind(metrics);
  metrics.flush = async () => {
    w.flushes++;
    await flush();
  };
  const store = new SecretsManagerStore({ secretId: KEYSET, region: 'us-east-1' });
  w.handle = createHandler({
    config: config(options.config),
    store,
    rotationLog: new SecretsManagerRotationLog(new SecretsManagerSecret(LOG, { client: store.secret.client })),
    clock: () => w.now,
    random: systemRandom,
    audit,
    metrics,
    actor: 'test',
  });
  return w;
}

afterEach(() => world?.sm.restore());

const current = (w = world): Keyset => parseKeyset(w.sm.valueAt(KEYSET, 'AWSCURRENT') as string);
const log = (w = world): RotationLog => parseRotationLog(w.sm.valueAt(LOG, 'AWSCURRENT'));
const keysetVersions = (w = world) => w.sm.versions(KEYSET);
const rotate = (rotationId = 'manual-2026-04-01', extra: object = {}) => world.handle({ action: 'rotate', rotationId, ...extra });
const codeOf = (p: Promise<unknown>) => p.then(() => 'ok', (e: { code?: string }) => e.code ?? 'INTERNAL');

/** Every string the world produced that a reader could see: audit events, metric names and dimensions, the rotation log. */
function visibleText(w: World, results: unknown[] = []): string {
  return JSON.stringify([w.audit.events, w.metrics.data, w.sm.versions(LOG), results]);
}

describe('rotate', () => {
  it('does not count a rotation whose log entry failed as a failed rotation, and the retry writes the entry', async () => {
    world = setup();
    world.sm.failNext('PutSecretValue', 'server-error', { match: (input) => input.SecretId === LOG });
    expect(await codeOf(rotate('manual-log-fails'))).toBe('STORE_UNAVAILABLE');
    expect(current().primary).toBe(2);
    expect(world.metrics.total('RotationFailed')).toBe(0);
    expect(world.metrics.total('RotationSucceeded')).toBe(1);
    expect(world.audit.events.at(-1)).toMatchObject({ action: 'rotation_log', outcome: 'failure', version: 2 });
    expect(await rotate('manual-log-fails')).toMatchObject({ status: 'already-rotated', toVersion: 2 });
    expect(log().entries).toEqual([expect.objectContaining({ rotationId: 'manual-log-fails', outcome: 'success', toVersion: 2 })]);
    expect(keysetVersions()).toHaveLength(2);
  });

  it('removes AWSPENDING from a staged version that failed its test, so the next run does not resume it', async () => {
    world = setup();
    const spy = jest.spyOn(canary, 'testStagedKeyset').mockRejectedValueOnce(new KeyManagementError('ROTATION_FAILED', 'the staged keyset failed its test (simulated)'));
    try {
      expect(await codeOf(rotate('manual-bad-canary'))).toBe('ROTATION_FAILED');
    } finally {
      spy.mockRestore();
    }
    expect(world.sm.versionAt(KEYSET, 'AWSPENDING')).toBeUndefined();
    expect(current().primary).toBe(1);
    expect(await rotate('manual-next')).toMatchObject({ status: 'rotated', toVersion: 2 });
  });

  it('makes exactly this sequence of calls, with the stages and tokens asserted', async () => {
    world = setup();
    const v1Id = world.sm.versionAt(KEYSET, 'AWSCURRENT')?.id;
    const result = await world.handle({ action: 'rotate', rotationId: EVENT_ID });

    const calls = world.sm.calls.map((c): Record<string, unknown> => ({ command: c.command, ...c.input }));
    const token = EVENT_ID;
    expect(calls.slice(0, 8)).toEqual([
      { command: 'GetSecretValue', SecretId: KEYSET, VersionStage: 'AWSCURRENT' },
      { command: 'GetSecretValue', SecretId: KEYSET, VersionId: token },
      { command: 'GetSecretValue', SecretId: KEYSET, VersionStage: 'AWSPENDING' },
      // No version under this rotation's token: the log says whether an earlier attempt already promoted one.
      { command: 'GetSecretValue', SecretId: LOG, VersionStage: 'AWSCURRENT' },
      { command: 'PutSecretValue', SecretId: KEYSET, SecretString: expect.any(String), ClientRequestToken: token, VersionStages: ['AWSPENDING'] },
      { command: 'GetSecretValue', SecretId: KEYSET, VersionId: token },
      { command: 'UpdateSecretVersionStage', SecretId: KEYSET, VersionStage: 'AWSCURRENT', MoveToVersionId: token, RemoveFromVersionId: v1Id },
      { command: 'UpdateSecretVersionStage', SecretId: KEYSET, VersionStage: 'AWSPENDING', RemoveFromVersionId: token },
    ]);
    // The stack creates the log secret empty: its first version is labelled AWSCURRENT on creation, so no move is needed.
    expect(calls.slice(8).map((c) => [c.command, c.SecretId, c.VersionStage])).toEqual([
      ['GetSecretValue', LOG, 'AWSCURRENT'],
      ['PutSecretValue', LOG, undefined],
      ['UpdateSecretVersionStage', LOG, 'AWSPENDING'],
    ]);
    expect(calls[9]).toMatchObject({ VersionStages: ['AWSPENDING'], ClientRequestToken: expect.stringMatching(/^[0-9a-f]{64}$/) });

    expect(result).toEqual({ action: 'rotate', status: 'rotated', rotationId: EVENT_ID, trigger: 'schedule', fromVersion: 1, toVersion: 2, versionId: token });
    expect(world.sm.labels(KEYSET)).toEqual({ [v1Id as string]: ['AWSPREVIOUS'], [token]: ['AWSCURRENT'] });
    const ks = current();
    expect(ks.primary).toBe(2);
    expect(preservesVersions(world.initial, ks)).toBe(true);
    expect(ks.versions[1]).toMatchObject({ version: 2, kdf: 'hkdf-sha256', state: 'enabled', createdAt: '2026-04-01T00:00:00.000Z' });
  });

  it('appends the rotation to the log, counts RotationSucceeded, measures the new key and audits', async () => {
    world = setup();
    await rotate();
    expect(log().entries).toEqual([
      { rotationId: 'manual-2026-04-01', fromVersion: 1, toVersion: 2, startedAt: '2026-04-01T00:00:00.000Z', finishedAt: '2026-04-01T00:00:00.000Z', outcome: 'success', trigger: 'manual' },
    ]);
    expect(world.metrics.total('RotationSucceeded')).toBe(1);
    expect(world.metrics.total('RotationFailed')).toBe(0);
    expect(world.metrics.data.filter((d) => d.name === 'KeyAgeDays').map((d) => d.value)).toEqual([0]);
    expect(world.metrics.data.filter((d) => d.name === 'DaysUntilRotationDue').map((d) => d.value)).toEqual([90]);
    expect(world.metrics.data.filter((d) => d.name === 'EnabledKeyVersions').map((d) => d.value)).toEqual([2]);
    expect(world.audit.events.at(-1)).toMatchObject({ action: 'rotate', outcome: 'success', version: 2, store: 'aws', secret: KEYSET, actor: 'test' });
    expect(world.flushes).toBe(1);
  });

  it('an emergency rotation disables the previous primary in the same write', async () => {
    world = setup();
    const result = await rotate('incident-42', { emergency: true, reason: 'key leaked in a log' });
    expect(result).toMatchObject({ status: 'rotated', trigger: 'emergency', fromVersion: 1, toVersion: 2, disabledVersion: 1 });
    const ks = current();
    expect(ks.versions[0]).toMatchObject({ version: 1, state: 'disabled', reason: 'key leaked in a log', material: world.initial.versions[0].material });
    expect(keysetVersions()).toHaveLength(2);
    expect(world.metrics.total('EmergencyRotations')).toBe(1);
    expect(world.audit.events.at(-1)).toMatchObject({ action: 'emergency_rotate', outcome: 'success' });
  });

  it('a retried invocation with the same id never adds a second version', async () => {
    world = setup();
    const first = await world.handle({ action: 'rotate', rotationId: EVENT_ID });
    world.now = new Date('2026-04-01T00:03:00.000Z');
    const again = await world.handle({ action: 'rotate', rotationId: EVENT_ID });
    expect(again).toMatchObject({ status: 'already-rotated', fromVersion: 1, toVersion: 2, versionId: (first as { versionId: string }).versionId });
    expect(keysetVersions()).toHaveLength(2);
    expect(log().entries).toHaveLength(1);
    expect(world.metrics.total('RotationSucceeded')).toBe(1);
  });

  it('a scheduled run within the minimum interval records a skip instead of rotating again', async () => {
    world = setup();
    await world.handle({ action: 'rotate', rotationId: EVENT_ID });
    world.now = new Date('2026-04-01T00:30:00.000Z');
    const second = '11111111-2222-4333-8444-555555555555';
    const result = await world.handle({ action: 'rotate', rotationId: second });
    expect(result).toMatchObject({ status: 'skipped', fromVersion: 2, toVersion: 2 });
    expect(keysetVersions()).toHaveLength(2);
    expect(world.metrics.total('RotationSkipped')).toBe(1);
    expect(world.audit.events.at(-1)).toMatchObject({ action: 'rotate', outcome: 'skipped' });
    expect(log().entries.at(-1)).toMatchObject({ rotationId: second, outcome: 'skipped', trigger: 'schedule' });
  });

  it('manual and emergency runs are not skipped by the minimum interval', async () => {
    world = setup();
    await world.handle({ action: 'rotate', rotationId: EVENT_ID });
    world.now = new Date('2026-04-01T00:10:00.000Z');
    expect(await rotate('manual-again')).toMatchObject({ status: 'rotated', toVersion: 3 });
    expect(await rotate('incident-1', { emergency: true })).toMatchObject({ status: 'rotated', toVersion: 4, disabledVersion: 3 });
  });

  it('resumes a valid AWSPENDING left by a crashed run with another id, and the audit says so', async () => {
    world = setup();
    const crashed = rotateKeyset(world.initial, { material: randomBytes(32).toString('base64'), now: '2026-03-31T23:00:00.000Z' });
    await new SecretsManagerStore({ secretId: KEYSET }).stagePending(crashed, rotationToken('crashed-run'));
    const result = await rotate('manual-after-crash');
    expect(result).toMatchObject({ status: 'resumed-pending', toVersion: 2, versionId: rotationToken('crashed-run') });
    expect(current()).toEqual(crashed);
    expect(keysetVersions()).toHaveLength(2);
    expect(world.audit.events.map((e) => e.action)).toContain('resume_pending');
    // The crashed run's own retry then finds its work done and logs nothing twice.
    const retry = await rotate('crashed-run');
    expect(retry).toMatchObject({ status: 'already-rotated', toVersion: 2 });
    expect(log().entries.filter((e) => e.outcome === 'success')).toHaveLength(1);
  });

  it.each([
    ['an invalid value', () => '{"schema":1}'],
    ['a keyset built on an older keyset', (ks: Keyset) => serializeKeyset(rotateKeyset(rotateKeyset(ks, { material: randomBytes(32).toString('base64'), now: T0 }), { material: randomBytes(32).toString('base64'), now: T0 }))],
    ['a keyset that changed an earlier version', (ks: Keyset) => serializeKeyset(rotateKeyset({ ...ks, versions: [{ ...ks.versions[0], material: randomBytes(32).toString('base64') }] }, { material: randomBytes(32).toString('base64'), now: T0 }))],
  ])('removes a stale AWSPENDING holding %s, says so in the audit, and rotates', async (_what, value) => {
    world = setup();
    const staleToken = rotationToken('stale-run');
    await new SecretsManagerSecret(KEYSET).putPending(value(world.initial), staleToken);
    const result = await rotate();
    expect(result).toMatchObject({ status: 'rotated', toVersion: 2 });
    expect(world.sm.labels(KEYSET)[staleToken]).toBeUndefined();
    const cleared = world.audit.events.find((e) => e.action === 'clear_pending');
    expect(cleared?.detail).toContain(staleToken);
    expect(preservesVersions(world.initial, current())).toBe(true);
  });

  it('keeps the rotation log at its bound, newest last', async () => {
    let full = EMPTY_ROTATION_LOG;
    for (let i = 0; i < MAX_ROTATION_LOG_ENTRIES; i++) {
      full = appendRotationLog(full, { rotationId: `old-${i}`, fromVersion: 1, toVersion: 1, startedAt: T0, finishedAt: T0, outcome: 'skipped', trigger: 'schedule' });
    }
    world = setup({ log: serializeRotationLog(full) });
    await rotate();
    const entries = log().entries;
    expect(entries).toHaveLength(MAX_ROTATION_LOG_ENTRIES);
    expect(entries[0].rotationId).toBe('old-1');
    expect(entries.at(-1)?.rotationId).toBe('manual-2026-04-01');
  });

  it('fails when there is no keyset: throws, counts RotationFailed, writes nothing to the keyset', async () => {
    world = setup({ keyset: null });
    expect(await codeOf(rotate())).toBe('KEYSET_NOT_FOUND');
    expect(world.metrics.total('RotationFailed')).toBe(1);
    expect(keysetVersions()).toHaveLength(0);
    expect(log().entries).toEqual([expect.objectContaining({ outcome: 'failure', code: 'KEYSET_NOT_FOUND', fromVersion: null, toVersion: null })]);
    expect(world.flushes).toBe(1);
  });

  it('two rotations racing with different ids: one wins, the other ends in CONFLICT without loss', async () => {
    world = setup();
    const results = await Promise.allSettled([rotate('manual-a'), rotate('manual-b')]);
    const codes = results.map((r) => (r.status === 'fulfilled' ? 'ok' : (r.reason as { code: string }).code)).sort();
    expect(codes).toEqual(['CONFLICT', 'ok']);
    const ks = current();
    expect(ks.primary).toBe(2);
    expect(preservesVersions(world.initial, ks)).toBe(true);
    expect(Object.values(world.sm.labels(KEYSET)).flat().sort()).toEqual(['AWSCURRENT', 'AWSPREVIOUS']);
    expect(world.metrics.total('RotationSucceeded')).toBe(1);
    expect(world.metrics.total('RotationFailed')).toBe(1);
  });

  it('a run whose version was superseded by another rotation ends in CONFLICT and promotes nothing', async () => {
    world = setup();
    await rotate('manual-fast');
    // A slow run staged its version on top of version 1, which is no longer current.
    const mine = rotateKeyset(world.initial, { material: randomBytes(32).toString('base64'), now: '2026-03-01T00:00:00.000Z' });
    await new SecretsManagerStore({ secretId: KEYSET }).stagePending(mine, rotationToken('manual-slow'));
    const before = current();
    expect(await codeOf(rotate('manual-slow'))).toBe('CONFLICT');
    expect(current()).toEqual(before);
    expect(world.sm.labels(KEYSET)[rotationToken('manual-slow')]).toBeUndefined();
  });

  it('never puts key material in the audit, the metrics, the rotation log or the result', async () => {
    world = setup();
    const results = [await rotate(), await rotate('incident-9', { emergency: true }), await world.handle({ action: 'monitor' })];
    const text = visibleText(world, results);
    for (const v of current().versions) if (v.material) expect(text).not.toContain(v.material);
  });
});

describe('rotate: fault matrix', () => {
  /** The Secrets Manager calls a clean rotation makes, as (command, occurrence) pairs. */
  const earlierLog = serializeRotationLog(
    appendRotationLog(EMPTY_ROTATION_LOG, { rotationId: 'earlier', fromVersion: 1, toVersion: 1, startedAt: T0, finishedAt: T0, outcome: 'skipped', trigger: 'schedule' }),
  );

  async function cleanCalls(): Promise<{ command: SmCommandName; nth: number; secret: string }[]> {
    world = setup({ log: earlierLog });
    await world.handle({ action: 'rotate', rotationId: EVENT_ID });
    const seen = new Map<string, number>();
    const out = world.sm.calls.map((c) => {
      const nth = (seen.get(c.command) ?? 0) + 1;
      seen.set(c.command, nth);
      return { command: c.command, nth, secret: String(c.input.SecretId) };
    });
    world.sm.restore();
    return out;
  }

  it('after any call fails with any fault the invariants hold and a rerun completes the rotation', async () => {
    const calls = await cleanCalls();
    expect(calls.length).toBeGreaterThanOrEqual(11);
    let cases = 0;
    for (const call of calls) {
      for (const fault of FAULT_KINDS) {
        world = setup({ log: earlierLog });
        let seen = 0;
        world.sm.failNext(call.command, fault, { when: fault === 'network-reset' ? 'after' : 'before', match: () => ++seen === call.nth });
        const label = `${call.command}#${call.nth} (${call.secret}) × ${fault}`;

        const first = await codeOf(world.handle({ action: 'rotate', rotationId: EVENT_ID }));
        // Invariants after the fault, whatever the first run reported.
        const afterFault = current();
        expect({ label, preserved: preservesVersions(world.initial, afterFault) }).toEqual({ label, preserved: true });
        expect({ label, versions: keysetVersions().length <= 2 }).toEqual({ label, versions: true });
        if (first !== 'ok') {
          // A fault after the promote only loses the log entry: that is audited as rotation_log, not a failed rotation.
          const logOnly = world.audit.events.some((e) => e.action === 'rotation_log' && e.outcome === 'failure');
          expect({ label, failed: world.metrics.total('RotationFailed'), logOnly }).toEqual({ label, failed: logOnly ? 0 : 1, logOnly });
        }

        world.sm.clearFaults();
        const rerun = await world.handle({ action: 'rotate', rotationId: EVENT_ID });
        expect({ label, status: ['rotated', 'resumed', 'already-rotated'].includes((rerun as { status: string }).status) }).toEqual({ label, status: true });
        const done = current();
        expect({ label, primary: done.primary, versions: keysetVersions().length }).toEqual({ label, primary: 2, versions: 2 });
        expect(preservesVersions(world.initial, done)).toBe(true);
        const entries = log().entries.filter((e) => e.rotationId === EVENT_ID);
        expect({ label, entries: entries.map((e) => e.outcome) }).toEqual({ label, entries: ['success'] });
        world.sm.restore();
        cases++;
      }
    }
    expect(cases).toBe(calls.length * FAULT_KINDS.length);
    console.log(`rotation fault matrix: ${cases} (call × fault) cases run (${calls.length} calls × ${FAULT_KINDS.length} faults)`);
  });
});

describe('monitor', () => {
  it('measures key age, days until rotation is due and enabled versions, and changes nothing', async () => {
    world = setup();
    world.now = new Date('2026-03-02T06:00:00.000Z');
    const result = await world.handle({ action: 'monitor' });
    expect(result).toEqual({ action: 'monitor', primary: 1, keyAgeDays: 60, daysUntilRotationDue: 30, rotationOverdue: false, enabledVersions: 1 });
    expect(world.metrics.data.map((d) => [d.name, d.value])).toEqual([
      ['KeyAgeDays', 60],
      ['EnabledKeyVersions', 1],
      ['DaysUntilRotationDue', 30],
    ]);
    expect(world.sm.calls.every((c) => c.command === 'GetSecretValue')).toBe(true);
    expect(world.flushes).toBe(1);
  });

  it('reports an overdue key with a negative DaysUntilRotationDue', async () => {
    world = setup();
    world.now = new Date('2026-05-01T00:00:00.000Z');
    expect(await world.handle({ action: 'monitor' })).toMatchObject({ keyAgeDays: 120, daysUntilRotationDue: -30, rotationOverdue: true });
  });

  it('with manual rotation only, still reports key age but emits no DaysUntilRotationDue', async () => {
    world = setup({ config: { rotationPeriodDays: null } });
    const result = await world.handle({ action: 'monitor' });
    expect(result).toMatchObject({ keyAgeDays: 90, daysUntilRotationDue: null, rotationOverdue: false });
    expect(world.metrics.data.map((d) => d.name)).toEqual(['KeyAgeDays', 'EnabledKeyVersions']);
  });

  describe('with a warning window', () => {
    const inWindow = new Date('2026-03-22T06:00:00.000Z'); // the primary (2026-01-01) is 80 days old: 10 days to the 90-day deadline

    it('rotates a primary that entered the window, then reports the new one, so the deadline alarm never sees a healthy stage', async () => {
      world = setup({ config: { warningWindowDays: 14 } });
      world.now = inWindow;
      const result = await world.handle({ action: 'monitor' });
      expect(result).toMatchObject({ action: 'monitor', primary: 2, keyAgeDays: 0, daysUntilRotationDue: 90 });
      expect(current().primary).toBe(2);
      expect(log().entries).toEqual([expect.objectContaining({ rotationId: 'due-v1-20260101', fromVersion: 1, toVersion: 2, outcome: 'success', trigger: 'schedule' })]);
      expect(world.metrics.data.filter((d) => d.name === 'DaysUntilRotationDue').map((d) => d.value)).toEqual([90, 90]);
    });

    it('does not rotate again when the monitor is retried', async () => {
      world = setup({ config: { warningWindowDays: 14 } });
      world.now = inWindow;
      await world.handle({ action: 'monitor' });
      await world.handle({ action: 'monitor' });
      expect(keysetVersions()).toHaveLength(2);
      expect(current().primary).toBe(2);
    });

    it('leaves a primary outside the window alone', async () => {
      world = setup({ config: { warningWindowDays: 14 } });
      world.now = new Date('2026-03-02T06:00:00.000Z');
      expect(await world.handle({ action: 'monitor' })).toMatchObject({ primary: 1, daysUntilRotationDue: 30 });
      expect(keysetVersions()).toHaveLength(1);
    });

    it('when its rotation fails, still reports the key inside the window (the alarm fires) and throws', async () => {
      world = setup({ config: { warningWindowDays: 14 } });
      world.now = inWindow;
      world.sm.failNext('PutSecretValue', 'access-denied', { match: (input) => input.SecretId === KEYSET });
      expect(await codeOf(world.handle({ action: 'monitor' }))).toBe('ACCESS_DENIED');
      expect(world.metrics.data.filter((d) => d.name === 'DaysUntilRotationDue').map((d) => d.value)).toEqual([10]);
      expect(world.metrics.total('RotationFailed')).toBe(1);
      expect(current().primary).toBe(1);
    });
  });

  it('throws when the keyset cannot be read, so the monitor-silent alarm and the DLQ see it', async () => {
    world = setup();
    world.sm.failNext('GetSecretValue', 'access-denied');
    expect(await codeOf(world.handle({ action: 'monitor' }))).toBe('ACCESS_DENIED');
    expect(world.metrics.total('KeyRetrievalFailures')).toBe(1);
    expect(world.audit.events.at(-1)).toMatchObject({ action: 'monitor', outcome: 'failure', code: 'ACCESS_DENIED' });
  });
});

describe('init', () => {
  it('creates version 1 in the empty secret the stack created', async () => {
    world = setup({ keyset: null });
    expect(await world.handle({ action: 'init' })).toEqual({ action: 'init', created: true, primary: 1 });
    expect(current().versions).toHaveLength(1);
    // A fresh stack reports its key age at once, not a day later with the first monitor run.
    expect(world.metrics.data.find((d) => d.name === 'KeyAgeDays')).toMatchObject({ value: 0 });
    expect(world.sm.labels(KEYSET)).toEqual({ [world.sm.versionAt(KEYSET, 'AWSCURRENT')?.id as string]: ['AWSCURRENT'] });
  });

  it('leaves an existing keyset untouched', async () => {
    world = setup();
    expect(await world.handle({ action: 'init' })).toEqual({ action: 'init', created: false, primary: 1 });
    expect(world.metrics.data.some((d) => d.name === 'KeyAgeDays')).toBe(true);
    expect(world.sm.calls.map((c) => c.command)).toEqual(['GetSecretValue']);
    expect(world.audit.events.at(-1)).toMatchObject({ action: 'init', outcome: 'skipped' });
  });

  it('never overwrites a value that is not a keyset', async () => {
    world = setup({ keyset: null });
    world.sm.createSecret(KEYSET, '{"schema":1,"primary":1,"versions":[]}');
    expect(await codeOf(world.handle({ action: 'init' }))).toBe('KEYSET_INVALID');
    expect(world.sm.versions(KEYSET)).toHaveLength(1);
  });
});

describe('CloudFormation custom resource', () => {
  it('Create runs init and returns the secret id and the primary', async () => {
    world = setup({ keyset: null });
    expect(await world.handle({ RequestType: 'Create', ResourceProperties: {} })).toEqual({ PhysicalResourceId: KEYSET, Data: { Primary: '1' } });
    expect(current().primary).toBe(1);
  });

  it('Update is idempotent: an existing keyset is left as it is', async () => {
    world = setup();
    await rotate();
    expect(await world.handle({ RequestType: 'Update', PhysicalResourceId: KEYSET })).toEqual({ PhysicalResourceId: KEYSET, Data: { Primary: '2' } });
    expect(keysetVersions()).toHaveLength(2);
  });

  it('Delete never touches the secret', async () => {
    world = setup();
    expect(await world.handle({ RequestType: 'Delete', PhysicalResourceId: KEYSET })).toEqual({ PhysicalResourceId: KEYSET });
    expect(world.sm.calls).toEqual([]);
  });
});

describe('events the handler refuses', () => {
  it('throws INVALID_INPUT for an unknown event and still flushes metrics', async () => {
    world = setup();
    expect(await codeOf(world.handle({ action: 'rotate' }))).toBe('INVALID_INPUT');
    expect(world.sm.calls).toEqual([]);
    expect(world.flushes).toBe(1);
  });
});
