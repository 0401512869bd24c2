import { execFileSync } from 'node:child_process';
import { promises as fs, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createKeyset, rotateKeyset } from '../../../lambda/keys/keyset';
import { FileStore } from '../../../lambda/stores/file-store';
import { material } from '../../support/fixed';

const T = '2026-01-01T00:00:00.000Z';
let dir: string;
let file: string;

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fstore-'));
  file = path.join(dir, 'sub', 'keyset.json');
});
afterEach(() => fs.rm(dir, { recursive: true, force: true }));

describe('FileStore', () => {
  it('says how to init when there is no keyset', async () => {
    await expect(new FileStore(file).read()).rejects.toMatchObject({ code: 'KEYSET_NOT_FOUND', message: expect.stringMatching(/key-manager init/) });
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
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, '{"schema":1,"primary":1,"versions":[{"version":1}]}');
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
    // The keyset becomes a FIFO, so the writer blocks reading it under the lock until the test feeds it.
    await fs.rm(file);
    execFileSync('mkfifo', [file]);
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
