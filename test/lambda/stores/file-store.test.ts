import { execFileSync } from 'node:child_process';
import { promises as fs, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { KeyManager } from '../../../lambda/key-manager';
import { createKeyset, rotateKeyset, serializeKeyset } from '../../../lambda/keys/keyset';
import { FileStore, type FileStoreOptions } from '../../../lambda/stores/file-store';
import { FileAuditSink } from '../../../lambda/telemetry/audit';
import { material, SeededRandom } from '../../support/fixed';

const T = '2026-01-01T00:00:00.000Z';
let dir: string;
let file: string;

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fstore-'));
  file = path.join(dir, 'sub', 'keyset.json');
});
afterEach(() => fs.rm(dir, { recursive: true, force: true }));

describe('FileStore', () => {
  it('says there is no keyset, in a message for any caller (the CLI adds how to create one: test/cli/core-commands.test.ts)', async () => {
    await expect(new FileStore(file).read()).rejects.toMatchObject({ code: 'KEYSET_NOT_FOUND', message: `no keyset at ${file}` });
  });

  it('creates the keyset with mode 0600 in a 0700 directory and reads it back', async () => {
    const store = new FileStore(file);
    const ks = createKeyset({ material: material(1), now: T });
    const written = await store.write(ks, null);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    const read = await store.read();
    expect(read).toEqual(written);
  });

  it('refuses to create over an existing keyset', async () => {
    const store = new FileStore(file);
    await store.write(createKeyset({ material: material(1), now: T }), null);
    await expect(store.write(createKeyset({ material: material(2), now: T }), null)).rejects.toMatchObject({ code: 'KEYSET_EXISTS' });
    expect((await store.read()).keyset.versions[0].material).toBe(material(1));
  });

  it('refuses a write based on a stale read (compare-and-set) and keeps the winner', async () => {
    const a = new FileStore(file);
    const b = new FileStore(file);
    await a.write(createKeyset({ material: material(1), now: T }), null);
    const readA = await a.read();
    const readB = await b.read();
    await a.write(rotateKeyset(readA.keyset, { material: material(2), now: T }), readA.handle);
    await expect(b.write(rotateKeyset(readB.keyset, { material: material(3), now: T }), readB.handle)).rejects.toMatchObject({ code: 'CONFLICT' });
    expect((await a.read()).keyset.versions.map((v) => v.material)).toEqual([material(1), material(2)]);
  });

  it('serialises concurrent writers in one process: exactly one wins per read', async () => {
    const store = new FileStore(file);
    await store.write(createKeyset({ material: material(1), now: T }), null);
    const snap = await store.read();
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => store.write(rotateKeyset(snap.keyset, { material: material(10 + i), now: T }), snap.handle)),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'rejected').every((r) => (r as PromiseRejectedResult).reason.code === 'CONFLICT')).toBe(true);
  });

  it('reports a corrupt keyset file as KEYSET_INVALID and leaves it untouched', async () => {
    await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    await fs.writeFile(file, '{"schema":1,"primary":1,"versions":[{"version":1}]}', { mode: 0o600 });
    await expect(new FileStore(file).read()).rejects.toMatchObject({ code: 'KEYSET_INVALID', field: 'versions[0].kdf' });
    expect(await fs.readFile(file, 'utf8')).toBe('{"schema":1,"primary":1,"versions":[{"version":1}]}');
  });

  it('takes over a lock left by a dead process', async () => {
    const store = new FileStore(file, { lockTimeoutMs: 2_000 });
    await store.write(createKeyset({ material: material(1), now: T }), null);
    await fs.writeFile(`${file}.lock`, JSON.stringify({ pid: 2 ** 22 + 12345, host: os.hostname(), token: 'dead' }));
    const snap = await store.read();
    await store.write(rotateKeyset(snap.keyset, { material: material(2), now: T }), snap.handle);
    expect((await store.read()).keyset.primary).toBe(2);
    await expect(fs.stat(`${file}.lock`)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('on release, leaves a lock another writer took over (ours went stale) in place', async () => {
    const store = new FileStore(file);
    await store.write(createKeyset({ material: material(1), now: T }), null);
    const snap = await store.read();
    const text = await fs.readFile(file, 'utf8');
    // The keyset becomes a FIFO (private, like the file it replaces), so the writer blocks reading it under
    // the lock until the test feeds it.
    await fs.rm(file);
    execFileSync('mkfifo', ['-m', '600', file]);
    const writing = store.write(rotateKeyset(snap.keyset, { material: material(2), now: T }), snap.handle);
    const lock = `${file}.lock`;
    while (!(await fs.stat(lock).then(() => true, () => false))) await new Promise((r) => setTimeout(r, 5));
    const theirs = JSON.stringify({ pid: process.pid, host: os.hostname(), token: 'took-over-as-stale' });
    await fs.writeFile(lock, theirs);
    await fs.writeFile(file, text);
    await writing;
    expect(await fs.readFile(lock, 'utf8')).toBe(theirs);
  });

  it('gives up with STORE_BUSY while a live process holds the lock', async () => {
    const store = new FileStore(file, { lockTimeoutMs: 200 });
    await store.write(createKeyset({ material: material(1), now: T }), null);
    await fs.writeFile(`${file}.lock`, JSON.stringify({ pid: process.pid, host: os.hostname(), token: 'live' }));
    const snap = await store.read();
    await expect(store.write(rotateKeyset(snap.keyset, { material: material(2), now: T }), snap.handle)).rejects.toMatchObject({
      code: 'STORE_BUSY',
      message: expect.stringContaining('.lock'),
    });
    expect((await store.read()).keyset.primary).toBe(1);
  });

  it('ignores a temp file left by a crash mid-write: readers see the last complete keyset', async () => {
    const store = new FileStore(file);
    await store.write(createKeyset({ material: material(1), now: T }), null);
    await fs.writeFile(`${file}.tmp-999-deadbeef`, '{"schema":1,"prim');
    expect((await store.read()).keyset.primary).toBe(1);
  });
});

/**
 * Makes `target` look owned by another user. As root it really is handed to another uid; otherwise the store
 * is told to act as a uid that does not own it, so the case runs without root either way.
 */
async function ownedByAnotherUser(...targets: string[]): Promise<FileStoreOptions> {
  if (process.getuid?.() === 0) {
    for (const target of targets) await fs.lchown(target, 4242, 4242);
    return {};
  }
  return { uid: (process.getuid?.() ?? 0) + 1 };
}

describe('FileStore: files another user could have planted, read or changed', () => {
  const keyset = () => createKeyset({ material: material(1), now: T });
  const plant = async (mode: number, dirMode = 0o700): Promise<void> => {
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.chmod(path.dirname(file), dirMode);
    await fs.writeFile(file, serializeKeyset(keyset()));
    await fs.chmod(file, mode);
  };

  it('refuses a keyset group or other can read (0644), saying to chmod 600 and rotate', async () => {
    await plant(0o644);
    await expect(new FileStore(file).read()).rejects.toMatchObject({
      code: 'STORE_INSECURE',
      message: expect.stringMatching(new RegExp(`mode 0644: group and other can read it; run chmod 600 ${file}, then rotate`)),
    });
  });

  it('refuses a keyset anyone can write (0666) in a directory anyone can write (0777): the planted-keyset attack', async () => {
    await plant(0o666, 0o777);
    await expect(new FileStore(file).read()).rejects.toMatchObject({
      code: 'STORE_INSECURE',
      message: expect.stringMatching(new RegExp(`directory ${path.dirname(file)} is mode 0777: group and other can write to it .*run chmod 700`)),
    });
    await fs.chmod(path.dirname(file), 0o700);
    await expect(new FileStore(file).read()).rejects.toMatchObject({ code: 'STORE_INSECURE', message: expect.stringMatching(/can read and write it; run chmod 600 .*may have changed them/) });
  });

  it('refuses a store directory group can write (0770), for reads and for writes', async () => {
    await fs.mkdir(path.dirname(file), { mode: 0o700 });
    await fs.chmod(path.dirname(file), 0o770);
    const store = new FileStore(file);
    await expect(store.write(keyset(), null)).rejects.toMatchObject({ code: 'STORE_INSECURE', message: expect.stringMatching(/group can write to it.*chmod 700/) });
    await expect(store.read()).rejects.toMatchObject({ code: 'STORE_INSECURE' });
    await expect(fs.stat(file)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses a keyset that is a symlink, even to a private keyset, and writes nothing through it', async () => {
    const real = path.join(dir, 'real.json');
    await fs.writeFile(real, serializeKeyset(keyset()), { mode: 0o600 });
    await fs.mkdir(path.dirname(file), { mode: 0o700 });
    await fs.symlink(real, file);
    const store = new FileStore(file);
    await expect(store.read()).rejects.toMatchObject({ code: 'STORE_INSECURE', message: expect.stringMatching(/keyset .* is a symbolic link/) });
    const before = await fs.readFile(real, 'utf8');
    await expect(store.write(rotateKeyset(keyset(), { material: material(2), now: T }), 'any')).rejects.toMatchObject({ code: 'STORE_INSECURE' });
    expect(await fs.readFile(real, 'utf8')).toBe(before);
  });

  it('refuses a store directory that is a symlink (a planted .alphapulse pointing elsewhere)', async () => {
    const elsewhere = path.join(dir, 'elsewhere');
    await fs.mkdir(elsewhere, { mode: 0o700 });
    await fs.writeFile(path.join(elsewhere, 'keyset.json'), serializeKeyset(keyset()), { mode: 0o600 });
    await fs.symlink(elsewhere, path.dirname(file));
    const store = new FileStore(file);
    await expect(store.read()).rejects.toMatchObject({ code: 'STORE_INSECURE', message: expect.stringMatching(/keyset directory .* is a symbolic link.*mkdir -m 700/) });
    await expect(store.write(keyset(), null)).rejects.toMatchObject({ code: 'STORE_INSECURE' });
  });

  it('refuses a keyset owned by another user, saying whose it is and how to hand it over', async () => {
    await plant(0o600);
    const options = await ownedByAnotherUser(file);
    await expect(new FileStore(file, options).read()).rejects.toMatchObject({ code: 'STORE_INSECURE', message: expect.stringMatching(/keyset .* belongs to uid \d+, not to this user .*chown/) });
  });

  it('refuses a store directory owned by another user', async () => {
    await plant(0o600);
    const options = await ownedByAnotherUser(path.dirname(file));
    await expect(new FileStore(file, options).read()).rejects.toMatchObject({ code: 'STORE_INSECURE', message: expect.stringMatching(/keyset directory .* belongs to uid \d+.*chown/) });
  });

  it('on its own write, replaces a keyset that became readable by others with a 0600 file and says so in warnings', async () => {
    const store = new FileStore(file);
    await store.write(keyset(), null);
    const snap = await store.read();
    await fs.chmod(file, 0o640);
    const written = await store.write(rotateKeyset(snap.keyset, { material: material(2), now: T }), snap.handle);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(written.warnings).toEqual([expect.stringMatching(/mode 0640: group can read it; run chmod 600 .*then rotate.*it is 0600 now: this write replaced it/)]);
    expect((await store.read()).warnings).toBeUndefined();
  });

  it('an encrypt in a planted .alphapulse (their 0666 keyset, audit.jsonl a symlink to our file) uses neither', async () => {
    const planted = path.dirname(file);
    await plant(0o666, 0o777);
    const ours = path.join(dir, 'ours.txt');
    await fs.writeFile(ours, 'mine\n', { mode: 0o600 });
    await fs.symlink(ours, path.join(planted, 'audit.jsonl'));
    const km = new KeyManager({ store: new FileStore(file), audit: new FileAuditSink(path.join(planted, 'audit.jsonl')), random: new SeededRandom(), auditDataOperations: true });
    await expect(km.encrypt('order 42', 'trading_data')).rejects.toMatchObject({ code: 'STORE_INSECURE' });
    await fs.chmod(planted, 0o700);
    await fs.chmod(file, 0o600); // even with their keyset private, the audit symlink is refused
    await expect(new FileAuditSink(path.join(planted, 'audit.jsonl')).write({ time: T, action: 'x', store: 'file', secret: file, outcome: 'success' })).rejects.toMatchObject({
      code: 'STORE_INSECURE',
      message: expect.stringMatching(/audit log .* is a symbolic link/),
    });
    expect(await fs.readFile(ours, 'utf8')).toBe('mine\n');
  });

  it('health reports a keyset others can read as a failed check with the chmod to run; status refuses it', async () => {
    await plant(0o644);
    const km = new KeyManager({ store: new FileStore(file), random: new SeededRandom() });
    const report = await km.health();
    expect(report.ok).toBe(false);
    expect(report.checks[0]).toMatchObject({ name: 'keyset readable', ok: false, code: 'STORE_INSECURE', detail: expect.stringMatching(/chmod 600/) });
    await expect(km.status()).rejects.toMatchObject({ code: 'STORE_INSECURE' });
  });
});

describe('FileStore: paths it cannot use', () => {
  it('a directory at a temp-file name of a killed writer does not fail the write (it is left alone)', async () => {
    const store = new FileStore(file);
    await store.write(createKeyset({ material: material(1), now: T }), null);
    const squatter = `${file}.tmp-${2 ** 22 + 12345}-deadbeef`;
    await fs.mkdir(squatter);
    const snap = await store.read();
    const written = await store.write(rotateKeyset(snap.keyset, { material: material(2), now: T }), snap.handle);
    expect(written.keyset.primary).toBe(2);
    expect(written.warnings).toBeUndefined();
    expect(statSync(squatter).isDirectory()).toBe(true);
  });

  it('a directory at the lock file name is a STORE_UNAVAILABLE naming it, not a lock waited on forever', async () => {
    const store = new FileStore(file, { lockTimeoutMs: 60_000 });
    await store.write(createKeyset({ material: material(1), now: T }), null);
    await fs.mkdir(`${file}.lock`);
    const snap = await store.read();
    await expect(store.write(rotateKeyset(snap.keyset, { material: material(2), now: T }), snap.handle)).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
      message: expect.stringMatching(/keyset\.json\.lock: EISDIR; it is not a lock this store made/),
    });
  });
});
