import { KeyManager } from '../../../lambda/key-manager';
import { MemoryStore } from '../../../lambda/stores/memory-store';
import { MemoryAuditSink } from '../../../lambda/telemetry/audit';
import { MemoryMetricsSink } from '../../../lambda/telemetry/metrics';
import { auditEvents, type Workspace, workspace } from '../../support/lifecycle';

let ws: Workspace;
beforeEach(async () => {
  ws = await workspace();
});
afterEach(() => ws.cleanup());

const json = (text: string) => JSON.parse(text) as Record<string, unknown>;

describe('rotate --emergency', () => {
  it('rotates and disables the previous primary in one write, audited as emergency_rotate', async () => {
    await ws.km(['init']);
    const enc = await ws.km(['encrypt', '--context', 'trading_data'], { stdin: 'old' });
    const r = await ws.km(['--json', 'rotate', '--emergency', '--reason', 'INC-42 key leaked']);
    expect(r.code).toBe(0);
    expect(json(r.stdout)).toMatchObject({ fromVersion: 1, toVersion: 2, disabledVersion: 1, emergency: true });
    const status = json((await ws.km(['--json', 'status'])).stdout) as { versions: { version: number; state: string; reason?: string }[] };
    expect(status.versions).toEqual([
      expect.objectContaining({ version: 1, state: 'disabled', reason: 'INC-42 key leaked' }),
      expect.objectContaining({ version: 2, state: 'enabled', primary: true }),
    ]);
    const dec = await ws.km(['decrypt'], { stdin: enc.stdout });
    expect(dec.code).toBe(1);
    expect(dec.stderr).toMatch(/VERSION_DISABLED/);
    expect((await auditEvents(ws.auditFile)).find((e) => e.action === 'emergency_rotate')).toMatchObject({ outcome: 'success', version: 2, actor: expect.any(String), detail: expect.stringContaining('INC-42 key leaked') });
    await ws.assertNoKeyMaterial([r, dec]);
  });

  it('counts EmergencyRotations and RotationSucceeded (the key manager behind the command)', async () => {
    const metrics = new MemoryMetricsSink();
    const audit = new MemoryAuditSink();
    const manager = new KeyManager({ store: new MemoryStore(), metrics, audit, actor: 'oncall' });
    await manager.init();
    await manager.rotate({ emergency: true, reason: 'leak' });
    await manager.rotate();
    expect(metrics.total('EmergencyRotations')).toBe(1);
    expect(metrics.total('RotationSucceeded')).toBe(2);
    expect(audit.events.map((e) => e.action)).toEqual(['init', 'emergency_rotate', 'rotate']);
    expect(audit.events[1]).toMatchObject({ actor: 'oncall', outcome: 'success' });
  });
});

describe('disable-version / enable-version', () => {
  it('disables a version (decrypt then fails with VERSION_DISABLED) and enables it again', async () => {
    await ws.km(['init']);
    const enc = await ws.km(['encrypt', '--context', 'user_pii'], { stdin: 'pii' });
    await ws.km(['rotate']);
    const d = await ws.km(['--json', 'disable-version', '--version', '1', '--reason', 'suspected leak']);
    expect(d.code).toBe(0);
    expect(json(d.stdout)).toEqual({ disabled: 1, reason: 'suspected leak' });
    expect((await ws.km(['decrypt'], { stdin: enc.stdout })).stderr).toMatch(/VERSION_DISABLED.*suspected leak.*enable-version --version 1/);
    const e = await ws.km(['--json', 'enable-version', '--version', '1']);
    expect(json(e.stdout)).toEqual({ enabled: 1 });
    expect((await ws.km(['decrypt'], { stdin: enc.stdout })).stdout).toBe('pii');
    const actions = (await auditEvents(ws.auditFile)).filter((x) => String(x.action).endsWith('_version'));
    expect(actions).toEqual([
      expect.objectContaining({ action: 'disable_version', version: 1, outcome: 'success', detail: 'suspected leak' }),
      expect.objectContaining({ action: 'enable_version', version: 1, outcome: 'success' }),
    ]);
  });

  it('refuses to disable the primary, pointing at rotate --emergency; the store is unchanged', async () => {
    await ws.km(['init']);
    const before = await ws.keysetBytes();
    const r = await ws.km(['disable-version', '--version', '1', '--reason', 'x']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/INVALID_TRANSITION.*primary.*rotate --emergency/);
    expect((await ws.keysetBytes())?.equals(before as Buffer)).toBe(true);
    expect((await auditEvents(ws.auditFile)).at(-1)).toMatchObject({ action: 'disable_version', outcome: 'failure', code: 'INVALID_TRANSITION' });
  });

  it('refuses an unknown version and a missing reason (usage, exit 2)', async () => {
    await ws.km(['init']);
    const before = await ws.keysetBytes();
    expect((await ws.km(['disable-version', '--version', '9', '--reason', 'x'])).stderr).toMatch(/UNKNOWN_VERSION/);
    expect((await ws.km(['disable-version', '--version', '1'])).code).toBe(2);
    expect((await ws.km(['disable-version', '--version', 'one', '--reason', 'x'])).code).toBe(2);
    expect((await ws.keysetBytes())?.equals(before as Buffer)).toBe(true);
  });
});

describe('destroy-version', () => {
  it('removes a disabled version\'s material for good, keeps its metadata and records the destruction', async () => {
    await ws.km(['init']);
    const enc = await ws.km(['encrypt', '--context', 'trading_data'], { stdin: 'gone' });
    await ws.km(['rotate']);
    await ws.km(['disable-version', '--version', '1', '--reason', 'retired']);
    const r = await ws.km(['--json', 'destroy-version', '--version', '1', '--reason', 'retired', '--confirm']);
    expect(r.code).toBe(0);
    expect(json(r.stdout)).toEqual({ destroyed: 1, destroyedAt: expect.stringMatching(/^\d{4}-/), complete: true });
    const stored = JSON.parse((await ws.keysetBytes())!.toString()) as { versions: Record<string, unknown>[] };
    expect(stored.versions[0]).toEqual({ version: 1, kdf: 'hkdf-sha256', state: 'destroyed', createdAt: expect.any(String), disabledAt: expect.any(String), destroyedAt: expect.any(String), reason: 'retired' });
    const dec = await ws.km(['decrypt'], { stdin: enc.stdout });
    expect(dec.stderr).toMatch(/VERSION_DESTROYED/);
    expect((await auditEvents(ws.auditFile)).find((e) => e.action === 'destroy_version')).toMatchObject({ version: 1, outcome: 'success', detail: 'material destroyed: retired', actor: expect.any(String) });
    expect((await ws.km(['enable-version', '--version', '1'])).stderr).toMatch(/destroyed; its material is gone/);
    await ws.assertNoKeyMaterial([r, dec]);
  });

  it('refuses an enabled version; the store is byte-for-byte unchanged and the audit log does not claim a destruction', async () => {
    await ws.km(['init']);
    await ws.km(['rotate']);
    const before = await ws.keysetBytes();
    const r = await ws.km(['destroy-version', '--version', '1', '--reason', 'INC-7', '--confirm']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/only a disabled version can be destroyed/);
    expect((await ws.keysetBytes())?.equals(before as Buffer)).toBe(true);
    const attempt = (await auditEvents(ws.auditFile)).find((e) => e.action === 'destroy_version');
    expect(attempt).toMatchObject({ version: 1, outcome: 'failure', code: 'INVALID_TRANSITION', detail: 'INC-7' });
    expect(JSON.stringify(attempt)).not.toMatch(/destroyed/);
  });

  it('without --confirm is a usage error (exit 2) that reads and writes nothing', async () => {
    await ws.km(['init']);
    await ws.km(['rotate']);
    await ws.km(['disable-version', '--version', '1', '--reason', 'r']);
    const before = await ws.keysetBytes();
    const r = await ws.km(['destroy-version', '--version', '1', '--reason', 'retired']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/rerun with --confirm/);
    expect((await ws.keysetBytes())?.equals(before as Buffer)).toBe(true);
  });
});
