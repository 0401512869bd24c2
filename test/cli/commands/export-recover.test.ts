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
  /** Backups and their keys in separate directories, as the operations guide asks. */
  let backups: string;
  let keys: string;
  beforeEach(async () => {
    backups = path.join(ws.dir, 'backups');
    keys = path.join(ws.dir, 'keys');
    await fs.mkdir(backups);
    await fs.mkdir(keys);
  });

  it('writes a Fernet token and a new 0600 backup key to --backup-key-out in another directory, and prints the key path', async () => {
    await ws.km(['init']);
    const out = path.join(backups, 'backup.fernet');
    const keyFile = path.join(keys, 'backup.key');
    const r = await ws.km(['--json', 'export', '--out', out, '--backup-key-out', keyFile]);
    expect(r.code).toBe(0);
    expect(json(r.stdout)).toMatchObject({ exported: true, output: out, backupKeyFile: keyFile, backupKeyGenerated: true, versions: 1 });
    expect(await fs.readFile(out, 'utf8')).toMatch(/^gAAAAA[A-Za-z0-9_-]+=*$/);
    expect(await fs.readFile(keyFile, 'utf8')).toMatch(/^[A-Za-z0-9_-]{43}=\n$/);
    expect((await fs.stat(keyFile)).mode & 0o777).toBe(0o600);
    expect((await fs.stat(out)).mode & 0o777).toBe(0o600);
    expect(await fs.readdir(backups)).toEqual(['backup.fernet']);
    // The token holds no plaintext keyset: no material, no JSON.
    const token = await fs.readFile(out, 'utf8');
    expect(token).not.toContain('material');
    await ws.assertNoKeyMaterial([r], [token]);
  });

  it('uses a given --backup-key-file kept in another directory', async () => {
    await ws.km(['init']);
    const keyFile = path.join(keys, 'backup.key');
    await fs.writeFile(keyFile, `${seed.backup_key}\n`, { mode: 0o600 });
    const out = path.join(backups, 'b1');
    expect((await ws.km(['export', '--out', out, '--backup-key-file', keyFile])).code).toBe(0);
    expect(await fs.readdir(backups)).toEqual(['b1']);
  });

  it.each<[string, (b: string, k: string) => string[]]>([
    ['neither a key to use nor one to write', (b) => ['--out', path.join(b, 'x')]],
    ['a new key beside the backup', (b) => ['--out', path.join(b, 'x'), '--backup-key-out', path.join(b, 'x.key')]],
    ['a new key below the backup\'s directory', (b) => ['--out', path.join(b, 'x'), '--backup-key-out', path.join(b, 'sub', 'x.key')]],
    ['a given key beside the backup', (b) => ['--out', path.join(b, 'x'), '--backup-key-file', path.join(b, 'given.key')]],
    ['both a given and a new key', (b, k) => ['--out', path.join(b, 'x'), '--backup-key-file', path.join(k, 'given.key'), '--backup-key-out', path.join(k, 'new.key')]],
    ['a new key over an existing file', (b, k) => ['--out', path.join(b, 'x'), '--backup-key-out', path.join(k, 'given.key')]],
  ])('refuses %s: exit 2 before anything is read or written', async (_name, args) => {
    await ws.km(['init']);
    await fs.mkdir(path.join(backups, 'sub'));
    await fs.writeFile(path.join(backups, 'given.key'), `${seed.backup_key}\n`, { mode: 0o600 });
    await fs.writeFile(path.join(keys, 'given.key'), `${seed.backup_key}\n`, { mode: 0o600 });
    const before = await auditEvents(ws.auditFile);
    const r = await ws.km(['export', ...args(backups, keys)]);
    expect(r).toMatchObject({ code: 2, stdout: '', stderr: expect.stringMatching(/^error \[(INVALID_INPUT|USAGE)\]: .*backup key/) });
    expect((await fs.readdir(backups)).sort()).toEqual(['given.key', 'sub']);
    expect(await fs.readdir(path.join(backups, 'sub'))).toEqual([]);
    expect(await fs.readdir(keys)).toEqual(['given.key']);
    expect(await auditEvents(ws.auditFile)).toEqual(before);
  });

  it('refuses to overwrite an existing backup (exit 2), and leaves no new key file behind', async () => {
    await ws.km(['init']);
    const out = path.join(backups, 'taken');
    await fs.writeFile(out, 'older backup');
    const r = await ws.km(['export', '--out', out, '--backup-key-out', path.join(keys, 'k')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/already exists/);
    expect(await fs.readFile(out, 'utf8')).toBe('older backup');
    expect(await fs.readdir(keys)).toEqual([]);
  });

  it('uploads to s3://bucket/key with PutObject (never replacing an object) and keeps the new key local', async () => {
    const s3 = mockClient(S3Client);
    s3.on(PutObjectCommand).resolves({});
    try {
      await ws.km(['init']);
      const keyFile = path.join(keys, '2026-01-01.key');
      const r = await ws.km(['--json', '--region', 'us-east-1', '--endpoint-url', 'http://127.0.0.1:4566', 'export', '--out', 's3://alphapulse-backups/keys/2026-01-01.fernet', '--backup-key-out', keyFile]);
      expect(r.code).toBe(0);
      expect(s3).toHaveReceivedCommandWith(PutObjectCommand, { Bucket: 'alphapulse-backups', Key: 'keys/2026-01-01.fernet', IfNoneMatch: '*' });
      // --endpoint-url names the Secrets Manager endpoint: the backup must not follow it.
      const client = s3.commandCalls(PutObjectCommand)[0].thisValue as S3Client;
      expect(client.config.isCustomEndpoint).toBe(false);
      expect(await requestHandlerOptions(client)).toMatchObject(AWS_REQUEST_HANDLER);
      const body = s3.commandCalls(PutObjectCommand)[0].args[0].input.Body as string;
      expect(body).toMatch(/^gAAAAA/);
      expect(json(r.stdout).backupKeyFile).toBe(keyFile);
      expect(await fs.readFile(keyFile, 'utf8')).toMatch(/^[A-Za-z0-9_-]{43}=\n$/);
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
      const keyFile = path.join(keys, 'backup.key');
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
      const r = await ws.km(['export', '--out', 's3://alphapulse-backups/x', '--backup-key-out', path.join(keys, 'x.key')]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/ACCESS_DENIED/);
      expect(await fs.readdir(keys)).toEqual([]);
      const events = await auditEvents(ws.auditFile);
      expect(events.at(-1)).toMatchObject({ action: 'export', outcome: 'failure' });
    } finally {
      s3.restore();
    }
  });
});

describe('recover', () => {
  async function exportTo(name: string): Promise<{ out: string; key: string }> {
    const out = path.join(ws.dir, 'backups', name);
    const key = path.join(ws.dir, 'keys', `${name}.key`);
    await fs.mkdir(path.dirname(out), { recursive: true });
    await fs.mkdir(path.dirname(key), { recursive: true });
    const r = await ws.km(['export', '--out', out, '--backup-key-out', key]);
    expect(r.code).toBe(0);
    return { out, key };
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

  it('dates the seed backup\'s legacy versions by the backup\'s timestamp (UTC, as the seed wrote it), not 1970', async () => {
    const file = path.join(ws.dir, 'seed.backup');
    const keyFile = path.join(ws.dir, 'seed.key');
    await fs.writeFile(file, seed.token);
    await fs.writeFile(keyFile, seed.backup_key);
    expect((await ws.km(['recover', '--in', file, '--backup-key-file', keyFile])).code).toBe(0);
    const stored = JSON.parse((await ws.keysetBytes())!.toString()) as { versions: { createdAt: string }[] };
    expect(stored.versions.map((v) => v.createdAt)).toEqual(Array(3).fill('2026-01-02T03:04:05.678Z'));
    const status = JSON.parse((await ws.km(['--json', 'status'])).stdout) as { versions: { createdAt: string }[] };
    expect(status.versions[0].createdAt).toBe('2026-01-02T03:04:05.678Z');
    // The same backup again: the versions it holds are the store's, dates included, so nothing differs.
    const again = await ws.km(['--json', 'recover', '--in', file, '--backup-key-file', keyFile]);
    expect(again).toMatchObject({ code: 0 });
    expect(json(again.stdout)).toMatchObject({ unchanged: true });
  });

  it('replaces an unreadable keyset with --force, keeping the broken file aside, as the KEYSET_INVALID advice says', async () => {
    await ws.km(['init']);
    await ws.km(['rotate']);
    const good = await ws.keysetBytes();
    const { out, key } = await exportTo('before-corruption.fernet');
    const broken = good!.toString().replace('"primary":2', '"primary":"two"');
    await fs.writeFile(ws.keysetFile, broken);
    const status = await ws.km(['status']);
    expect(status.stderr).toMatch(/KEYSET_INVALID.*'key-manager --store file:\S+ recover --in BACKUP --backup-key-file KEY'/);

    const refused = await ws.km(['recover', '--in', out, '--backup-key-file', key]);
    expect(refused).toMatchObject({ code: 1, stderr: expect.stringMatching(/^error \[KEYSET_INVALID\]: .*unreadable.*rerun with --force to keep it aside as keyset\.json\.corrupt-<time>/) });
    expect(await fs.readFile(ws.keysetFile, 'utf8')).toBe(broken);

    const r = await ws.km(['--json', 'recover', '--in', out, '--backup-key-file', key, '--force']);
    expect(r.code).toBe(0);
    const aside = (await fs.readdir(ws.dir)).filter((f) => /^keyset\.json\.corrupt-\d{8}T\d{6}Z$/.test(f));
    expect(aside).toHaveLength(1);
    expect(json(r.stdout)).toMatchObject({ recovered: true, unreadableKeptAt: path.join(ws.dir, aside[0]) });
    expect(await fs.readFile(path.join(ws.dir, aside[0]), 'utf8')).toBe(broken);
    expect((await fs.stat(path.join(ws.dir, aside[0]))).mode & 0o777).toBe(0o600);
    expect((await ws.keysetBytes())?.equals(good as Buffer)).toBe(true);
    expect((await ws.km(['status'])).code).toBe(0);
    expect((await auditEvents(ws.auditFile)).filter((e) => e.action === 'recover').at(-1)).toMatchObject({ outcome: 'success', detail: expect.stringMatching(/unreadable keyset kept at .*corrupt-/) });
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
