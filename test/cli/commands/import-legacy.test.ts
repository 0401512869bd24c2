import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import legacy from '../../fixtures/legacy-vectors.json';
import { auditEvents, type Workspace, workspace } from '../../support/lifecycle';

let ws: Workspace;
beforeEach(async () => {
  ws = await workspace();
});
afterEach(() => ws.cleanup());

const record = (version: number) => legacy.records.find((r) => r.record.key_version === version)!;

describe('import-legacy', () => {
  it('--from-env turns the Python master key and counter into legacy versions 1..N; old records decrypt', async () => {
    const env = { ALPHAPULSE_ENCRYPTION_MASTER_KEY: legacy.master_key_base64, ALPHAPULSE_ENCRYPTION_KEY_VERSION: '3' };
    const r = await ws.km(['--json', 'import-legacy', '--from-env'], { env });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ imported: true, versions: [1, 2, 3], primary: 3, kdf: 'legacy-pbkdf2' });
    const rec = record(2);
    const dec = await ws.km(['--json', 'decrypt'], { stdin: JSON.stringify(rec.record) });
    expect(JSON.parse(dec.stdout).plaintextBase64).toBe(rec.plaintext_base64);
    expect((await auditEvents(ws.auditFile)).find((e) => e.action === 'import_legacy')).toMatchObject({ outcome: 'success', version: 3, detail: 'legacy versions 1..3 from environment' });
    await ws.assertNoKeyMaterial([r]);
    const audit = await fs.readFile(ws.auditFile, 'utf8');
    expect(audit).not.toContain(legacy.master_key_base64);
  });

  it('--master-key-file F --version N imports from a file', async () => {
    const file = path.join(ws.dir, 'master.key');
    await fs.writeFile(file, `${legacy.master_key_base64}\n`);
    const r = await ws.km(['import-legacy', '--master-key-file', file, '--version', '1']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/imported legacy versions 1..1/);
    const rec = record(1);
    const dec = await ws.km(['--json', 'decrypt'], { stdin: JSON.stringify(rec.record) });
    expect(JSON.parse(dec.stdout).plaintextBase64).toBe(rec.plaintext_base64);
  });

  it('refuses with KEYSET_EXISTS when the store already has a keyset; the store is unchanged', async () => {
    await ws.km(['init']);
    const before = await ws.keysetBytes();
    const env = { ALPHAPULSE_ENCRYPTION_MASTER_KEY: legacy.master_key_base64, ALPHAPULSE_ENCRYPTION_KEY_VERSION: '2' };
    const r = await ws.km(['import-legacy', '--from-env'], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/KEYSET_EXISTS/);
    expect((await ws.keysetBytes())?.equals(before as Buffer)).toBe(true);
    expect((await auditEvents(ws.auditFile)).at(-1)).toMatchObject({ action: 'import_legacy', outcome: 'failure', code: 'KEYSET_EXISTS' });
  });

  it('refuses a bad master key without echoing it, and the read-only env store as a target', async () => {
    const bad = await ws.km(['import-legacy', '--from-env'], { env: { ALPHAPULSE_ENCRYPTION_MASTER_KEY: 'not-a-key-but-secret-ish' } });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/INVALID_INPUT/);
    expect(bad.stderr).not.toContain('not-a-key-but-secret-ish');
    expect(await ws.keysetBytes()).toBeUndefined();
    const env = { ALPHAPULSE_ENCRYPTION_MASTER_KEY: legacy.master_key_base64 };
    const ro = await ws.km(['--store', 'env:', 'import-legacy', '--from-env'], { env });
    expect(ro.stderr).toMatch(/STORE_READ_ONLY/);
  });

  it('dates the imported versions: --created-at, else now', async () => {
    const env = { ALPHAPULSE_ENCRYPTION_MASTER_KEY: legacy.master_key_base64, ALPHAPULSE_ENCRYPTION_KEY_VERSION: '2' };
    expect((await ws.km(['import-legacy', '--from-env', '--created-at', '2024-05-01'], { env })).code).toBe(0);
    const dates = async () => (JSON.parse((await ws.keysetBytes())!.toString()) as { versions: { createdAt: string }[] }).versions.map((v) => v.createdAt);
    expect(await dates()).toEqual(['2024-05-01T00:00:00.000Z', '2024-05-01T00:00:00.000Z']);
    await fs.rm(ws.keysetFile);
    const file = path.join(ws.dir, 'master.key');
    await fs.writeFile(file, `${legacy.master_key_base64}\n`);
    const before = Date.now();
    expect((await ws.km(['import-legacy', '--master-key-file', file, '--version', '1'])).code).toBe(0);
    const [created] = await dates();
    expect(Date.parse(created)).toBeGreaterThanOrEqual(before - 1_000);
    expect(Date.parse(created)).toBeLessThanOrEqual(Date.now());
    const status = JSON.parse((await ws.km(['--json', 'status'])).stdout) as { primaryAgeDays: number; rotationOverdue: boolean };
    expect(status).toMatchObject({ primaryAgeDays: 0, rotationOverdue: false });
    expect((await ws.km(['import-legacy', '--from-env', '--created-at', 'last spring'], { env })).code).toBe(2);
  });

  it('needs exactly one source (usage errors, exit 2)', async () => {
    expect((await ws.km(['import-legacy'])).code).toBe(2);
    expect((await ws.km(['import-legacy', '--master-key-file', 'f'])).code).toBe(2);
    expect((await ws.km(['import-legacy', '--from-env', '--master-key-file', 'f', '--version', '1'])).code).toBe(2);
  });
});

describe('the read-only env store', () => {
  const env = { ALPHAPULSE_ENCRYPTION_MASTER_KEY: legacy.master_key_base64, ALPHAPULSE_ENCRYPTION_KEY_VERSION: '3' };

  it('health passes: rotation is not something a read-only store can be overdue on, and it says so', async () => {
    const r = await ws.km(['--store', 'env:', 'health'], { env });
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/✓ rotation not overdue: not applicable: the env store is read-only/);
    expect(r.stdout).not.toMatch(/key-manager rotate/);
  });

  it('status says what applies instead of a deadline, and shows the unknown creation dates as unknown', async () => {
    const r = await ws.km(['--store', 'env:', 'status'], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/rotation:\s+not applicable: the env store is read-only.*import-legacy/);
    expect(r.stdout).not.toMatch(/OVERDUE|1970/);
    expect(r.stdout).toMatch(/^\s+3\s+\*\s+enabled\s+legacy-pbkdf2\s+unknown/m);
    const json = JSON.parse((await ws.km(['--json', '--store', 'env:', 'status'], { env })).stdout) as Record<string, unknown>;
    expect(json).toMatchObject({ store: 'env', readOnly: true, rotationOverdue: false });
  });
});
