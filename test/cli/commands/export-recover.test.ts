import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { AWS_REQUEST_HANDLER } from '../../../lambda/stores/aws-client-options';
import seed from '../../fixtures/seed-backup.json';
import { auditEvents, type Workspace, workspace } from '../../support/lifecycle';
import { requestHandlerOptions } from '../../support/request-handler';

let ws: Workspace;
beforeEach(async () => {
  ws = await workspace();
});
afterEach(() => ws.cleanup());

const json = (text: string) => JSON.parse(text) as Record<string, unknown>;

describe('export', () => {
  it('writes a Fernet token and a new 0600 backup key beside it, never the same file, and prints the key path', async () => {
    await ws.km(['init']);
    const out = path.join(ws.dir, 'backup.fernet');
    const r = await ws.km(['--json', 'export', '--output', out]);
    expect(r.code).toBe(0);
    const result = json(r.stdout);
    expect(result).toMatchObject({ exported: true, output: out, backupKeyFile: `${out}.key`, backupKeyGenerated: true, versions: 1 });
    expect((await fs.readFile(out, 'utf8'))).toMatch(/^gAAAAA[A-Za-z0-9_-]+=*$/);
    expect((await fs.readFile(`${out}.key`, 'utf8'))).toMatch(/^[A-Za-z0-9_-]{43}=\n$/);
    expect((await fs.stat(`${out}.key`)).mode & 0o777).toBe(0o600);
    expect((await fs.stat(out)).mode & 0o777).toBe(0o600);
    // The token holds no plaintext keyset: no material, no JSON.
    const token = await fs.readFile(out, 'utf8');
    expect(token).not.toContain('material');
    await ws.assertNoKeyMaterial([r], [token]);
  });

  it('uses a given backup key, and refuses a key file that is the output itself', async () => {
    await ws.km(['init']);
    const keyFile = path.join(ws.dir, 'backup.key');
    await fs.writeFile(keyFile, `${seed.backup_key}\n`, { mode: 0o600 });
    const out = path.join(ws.dir, 'b1');
    expect((await ws.km(['export', '--output', out, '--backup-key-file', keyFile])).code).toBe(0);
    await expect(fs.stat(`${out}.key`)).rejects.toThrow();
    const same = await ws.km(['export', '--output', keyFile, '--backup-key-file', keyFile]);
    expect(same.code).toBe(1);
    expect(same.stderr).toMatch(/same file/);
  });

  it('refuses to overwrite an existing backup, and leaves no new key file behind', async () => {
    await ws.km(['init']);
    const out = path.join(ws.dir, 'taken');
    await fs.writeFile(out, 'older backup');
    const r = await ws.km(['export', '--output', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/already exists/);
    expect(await fs.readFile(out, 'utf8')).toBe('older backup');
    await expect(fs.stat(`${out}.key`)).rejects.toThrow();
  });

  it('uploads to s3://bucket/key with PutObject (never replacing an object) and keeps the generated key local', async () => {
    const s3 = mockClient(S3Client);
    s3.on(PutObjectCommand).resolves({});
    try {
      await ws.km(['init']);
      const cwd = process.cwd();
      process.chdir(ws.dir);
      let r;
      try {
        r = await ws.km(['--json', '--region', 'us-east-1', '--endpoint-url', 'http://127.0.0.1:4566', 'export', '--output', 's3://alphapulse-backups/keys/2026-01-01.fernet']);
      } finally {
        process.chdir(cwd);
      }
      expect(r.code).toBe(0);
      expect(s3).toHaveReceivedCommandWith(PutObjectCommand, { Bucket: 'alphapulse-backups', Key: 'keys/2026-01-01.fernet', IfNoneMatch: '*' });
      // --endpoint-url names the Secrets Manager endpoint: the backup must not follow it.
      const client = s3.commandCalls(PutObjectCommand)[0].thisValue as S3Client;
      expect(client.config.isCustomEndpoint).toBe(false);
      expect(await requestHandlerOptions(client)).toMatchObject(AWS_REQUEST_HANDLER);
      const body = s3.commandCalls(PutObjectCommand)[0].args[0].input.Body as string;
      expect(body).toMatch(/^gAAAAA/);
      const keyFile = json(r.stdout).backupKeyFile as string;
      expect(await fs.realpath(path.dirname(keyFile))).toBe(await fs.realpath(ws.dir));
      expect(path.basename(keyFile)).toBe('2026-01-01.fernet.key');
      await ws.assertNoKeyMaterial([r], [body]);
    } finally {
      s3.restore();
    }
  });

  it('maps S3 failures like Secrets Manager ones: THROTTLED after the retries, ACCESS_DENIED naming the Backup Service role', async () => {
    const s3 = mockClient(S3Client);
    s3.on(PutObjectCommand)
      .rejectsOnce(Object.assign(new Error('slow'), { name: 'SlowDown', $fault: 'server', $metadata: { httpStatusCode: 503 } }))
      .rejectsOnce(Object.assign(new Error('denied'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } }));
    try {
      await ws.km(['init']);
      const keyFile = path.join(ws.dir, 'backup.key');
      await fs.writeFile(keyFile, `${seed.backup_key}\n`, { mode: 0o600 });
      const slow = await ws.km(['--region', 'us-east-1', 'export', '--out', 's3://alphapulse-backups/a', '--backup-key-file', keyFile]);
      expect(slow).toMatchObject({ code: 1, stderr: expect.stringMatching(/^error \[THROTTLED\]: S3 throttled s3:PutObject on s3:\/\/alphapulse-backups\/a/) });
      const denied = await ws.km(['--region', 'us-east-1', 'export', '--out', 's3://alphapulse-backups/b', '--backup-key-file', keyFile]);
      expect(denied.stderr).toMatch(/^error \[ACCESS_DENIED\]: access denied to s3:PutObject on s3:\/\/alphapulse-backups\/b \(AccessDenied\); run with the stack's Backup Service role \(output BackupServiceRoleArn\)/);
    } finally {
      s3.restore();
    }
  });

  it('fails with ACCESS_DENIED when S3 refuses, removing the key it generated', async () => {
    const s3 = mockClient(S3Client);
    s3.on(PutObjectCommand).rejects(Object.assign(new Error('denied'), { name: 'AccessDenied' }));
    try {
      await ws.km(['init']);
      const cwd = process.cwd();
      process.chdir(ws.dir);
      let r;
      try {
        r = await ws.km(['export', '--output', 's3://alphapulse-backups/x']);
      } finally {
        process.chdir(cwd);
      }
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/ACCESS_DENIED/);
      await expect(fs.stat(path.join(ws.dir, 'x.key'))).rejects.toThrow();
      const events = await auditEvents(ws.auditFile);
      expect(events.at(-1)).toMatchObject({ action: 'export', outcome: 'failure' });
    } finally {
      s3.restore();
    }
  });
});

describe('recover', () => {
  async function exportTo(name: string): Promise<{ out: string; key: string }> {
    const out = path.join(ws.dir, name);
    const r = await ws.km(['export', '--output', out]);
    expect(r.code).toBe(0);
    return { out, key: `${out}.key` };
  }

  it('round-trips: export, lose the keyset, recover it exactly; data encrypted before decrypts after', async () => {
    await ws.km(['init']);
    await ws.km(['rotate']);
    await ws.km(['disable-version', '--version', '1', '--reason', 'retired']);
    const enc = await ws.km(['encrypt', '--context', 'trading_data'], { stdin: 'BTC 42000' });
    const before = await ws.keysetBytes();
    const { out, key } = await exportTo('full.fernet');
    await fs.rm(ws.keysetFile);
    const r = await ws.km(['--json', 'recover', '--backup-file', out, '--backup-key-file', key]);
    expect(r.code).toBe(0);
    expect(json(r.stdout)).toMatchObject({ recovered: true, unchanged: false, format: 'alphapulse', primary: 2, versions: [1, 2] });
    expect((await ws.keysetBytes())?.equals(before as Buffer)).toBe(true);
    expect((await ws.km(['decrypt'], { stdin: enc.stdout })).stdout).toBe('BTC 42000');
    const events = await auditEvents(ws.auditFile);
    expect(events.find((e) => e.action === 'recover')).toMatchObject({ outcome: 'success', version: 2 });
    expect(events.every((e) => typeof e.actor === 'string' && e.actor !== '')).toBe(true);
    await ws.assertNoKeyMaterial([r]);
  });

  it('recovers a backup written by the seed\'s Python procedure; its legacy data decrypts', async () => {
    const file = path.join(ws.dir, 'seed.backup');
    const keyFile = path.join(ws.dir, 'seed.key');
    await fs.writeFile(file, seed.token);
    await fs.writeFile(keyFile, seed.backup_key);
    const r = await ws.km(['recover', '--backup-file', file, '--backup-key-file', keyFile]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/recovered 3 versions \(primary 3\) from a seed-format \(Python\) backup dated 2026-01-02T03:04:05.678901/);
    const dec = await ws.km(['decrypt'], { stdin: JSON.stringify(seed.legacy_record) });
    expect(dec).toMatchObject({ code: 0, stdout: seed.legacy_plaintext });
  });

  it('refuses when the store has versions the backup lacks, naming them; the store is byte-for-byte unchanged', async () => {
    await ws.km(['init']);
    const { out, key } = await exportTo('old.fernet');
    await ws.km(['rotate']);
    await ws.km(['rotate']);
    const before = await ws.keysetBytes();
    const r = await ws.km(['recover', '--backup-file', out, '--backup-key-file', key]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/version\(s\) 2, 3 that the backup lacks/);
    expect((await ws.keysetBytes())?.equals(before as Buffer)).toBe(true);
    expect((await auditEvents(ws.auditFile)).at(-1)).toMatchObject({ action: 'recover', outcome: 'failure', code: 'INVALID_TRANSITION' });
  });

  it('--force writes the older keyset anyway and says what it overrode', async () => {
    await ws.km(['init']);
    const { out, key } = await exportTo('old.fernet');
    await ws.km(['rotate']);
    const r = await ws.km(['--json', 'recover', '--backup-file', out, '--backup-key-file', key, '--force']);
    expect(r.code).toBe(0);
    expect(json(r.stdout)).toMatchObject({ forced: true, primary: 1, overridden: { missing: [2] } });
    expect((await auditEvents(ws.auditFile)).at(-1)).toMatchObject({ action: 'recover', outcome: 'success', detail: expect.stringMatching(/forced over/) });
  });

  it('refuses to bring back a destroyed version\'s material', async () => {
    await ws.km(['init']);
    await ws.km(['rotate']);
    const { out, key } = await exportTo('pre-destroy.fernet');
    await ws.km(['disable-version', '--version', '1', '--reason', 'compromised']);
    await ws.km(['destroy-version', '--version', '1', '--reason', 'retired', '--confirm']);
    const before = await ws.keysetBytes();
    const r = await ws.km(['recover', '--backup-file', out, '--backup-key-file', key]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/version\(s\) 1 were destroyed/);
    expect((await ws.keysetBytes())?.equals(before as Buffer)).toBe(true);
  });

  it.each([
    ['a wrong backup key', async (b: { out: string; key: string }) => fs.writeFile(b.key, Buffer.alloc(32, 3).toString('base64url')), /BACKUP_INVALID.*does not verify/],
    ['a tampered backup', async (b: { out: string; key: string }) => {
      const t = await fs.readFile(b.out, 'utf8');
      await fs.writeFile(b.out, t.slice(0, 80) + (t[80] === 'A' ? 'B' : 'A') + t.slice(81));
    }, /BACKUP_INVALID/],
    ['a truncated backup', async (b: { out: string; key: string }) => fs.writeFile(b.out, (await fs.readFile(b.out, 'utf8')).slice(0, 60)), /BACKUP_INVALID.*not (canonical )?base64url|BACKUP_INVALID.*truncated/],
    ['a file that is not a token', async (b: { out: string; key: string }) => fs.writeFile(b.out, '{"master_key":"plaintext?"}'), /BACKUP_INVALID.*not base64url/],
  ])('refuses %s, leaving the store byte-for-byte unchanged', async (_name, spoil, message) => {
    await ws.km(['init']);
    const backup = await exportTo('b.fernet');
    await ws.km(['rotate']);
    await fs.rm(ws.keysetFile);
    await ws.km(['init']);
    const before = await ws.keysetBytes();
    await spoil(backup);
    const r = await ws.km(['recover', '--backup-file', backup.out, '--backup-key-file', backup.key]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(message);
    expect((await ws.keysetBytes())?.equals(before as Buffer)).toBe(true);
  });

  it('refuses a backup older than --max-age-days (an expired token)', async () => {
    const file = path.join(ws.dir, 'seed.backup');
    const keyFile = path.join(ws.dir, 'seed.key');
    await fs.writeFile(file, seed.token);
    await fs.writeFile(keyFile, seed.backup_key);
    const r = await ws.km(['recover', '--backup-file', file, '--backup-key-file', keyFile, '--max-age-days', '1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/BACKUP_INVALID.*more than 86400 s ago/);
    expect(await ws.keysetBytes()).toBeUndefined();
  });

  it('refuses the read-only env store', async () => {
    const file = path.join(ws.dir, 'seed.backup');
    const keyFile = path.join(ws.dir, 'seed.key');
    await fs.writeFile(file, seed.token);
    await fs.writeFile(keyFile, seed.backup_key);
    const r = await ws.km(['--store', 'env:', 'recover', '--backup-file', file, '--backup-key-file', keyFile]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/STORE_READ_ONLY/);
  });

  it('reports "unchanged" when the store already holds the backup\'s keyset', async () => {
    await ws.km(['init']);
    const { out, key } = await exportTo('same.fernet');
    const r = await ws.km(['--json', 'recover', '--backup-file', out, '--backup-key-file', key]);
    expect(json(r.stdout)).toMatchObject({ unchanged: true });
    expect((await auditEvents(ws.auditFile)).at(-1)).toMatchObject({ action: 'recover', outcome: 'skipped' });
  });
});
