import { promises as fs, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { type AuditEvent, FileAuditSink, readAuditFile, StreamAuditSink } from '../../../lambda/telemetry/audit';

const event = (action: string): AuditEvent => ({ time: '2026-01-01T00:00:00.000Z', action, store: 'file', secret: '/k', outcome: 'success' });

describe('FileAuditSink', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'audit-'));
  });
  afterEach(() => fs.rm(dir, { recursive: true, force: true }));

  it('appends one JSON line per event, in order, to a 0600 file', async () => {
    const file = path.join(dir, 'nested', 'audit.jsonl');
    const sink = new FileAuditSink(file);
    await Promise.all(['a', 'b', 'c'].map((a) => sink.write(event(a))));
    await new FileAuditSink(file).write(event('d'));
    const lines = (await fs.readFile(file, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l).action);
    expect(lines).toEqual(['a', 'b', 'c', 'd']);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('keeps working after a failed write', async () => {
    const blocker = path.join(dir, 'file');
    await fs.writeFile(blocker, '');
    const bad = new FileAuditSink(path.join(blocker, 'audit.jsonl'));
    await expect(bad.write(event('x'))).rejects.toBeDefined();
    const good = new FileAuditSink(path.join(dir, 'audit.jsonl'));
    await good.write(event('y'));
    expect((await readAuditFile(path.join(dir, 'audit.jsonl'))).events.map((e) => e.action)).toEqual(['y']);
  });

  it('refuses an audit log that is a symlink and appends nothing through it', async () => {
    const ours = path.join(dir, 'ours.jsonl');
    await fs.writeFile(ours, 'mine\n', { mode: 0o600 });
    const link = path.join(dir, 'audit.jsonl');
    await fs.symlink(ours, link);
    await expect(new FileAuditSink(link).write(event('x'))).rejects.toMatchObject({ code: 'STORE_INSECURE', message: expect.stringMatching(/audit log .* is a symbolic link/) });
    await expect(readAuditFile(link)).rejects.toMatchObject({ code: 'STORE_INSECURE' });
    expect(await fs.readFile(ours, 'utf8')).toBe('mine\n');
  });

  it('refuses an audit log in a symlinked directory', async () => {
    const real = path.join(dir, 'real');
    await fs.mkdir(real, { mode: 0o700 });
    await fs.symlink(real, path.join(dir, 'logs'));
    await expect(new FileAuditSink(path.join(dir, 'logs', 'audit.jsonl')).write(event('x'))).rejects.toMatchObject({
      code: 'STORE_INSECURE',
      message: expect.stringMatching(/audit log directory .* is a symbolic link/),
    });
    expect(await fs.readdir(real)).toEqual([]);
  });

  it('refuses an audit log group or other can write (they could rewrite the trail), saying chmod 600', async () => {
    const file = path.join(dir, 'audit.jsonl');
    await fs.writeFile(file, '', { mode: 0o600 });
    await fs.chmod(file, 0o662);
    await expect(new FileAuditSink(file).write(event('x'))).rejects.toMatchObject({ code: 'STORE_INSECURE', message: expect.stringMatching(/mode 0662: group and other can write it .*chmod 600/) });
    expect(await fs.readFile(file, 'utf8')).toBe('');
  });

  it('refuses an audit log owned by another user', async () => {
    const file = path.join(dir, 'audit.jsonl');
    await new FileAuditSink(file).write(event('a'));
    // As root the file is handed to another uid; otherwise the sink acts as a uid that does not own it.
    const root = process.getuid?.() === 0;
    if (root) await fs.chown(file, 4242, 4242);
    const options = root ? {} : { uid: (process.getuid?.() ?? 0) + 1 };
    await expect(new FileAuditSink(file, options).write(event('x'))).rejects.toMatchObject({ code: 'STORE_INSECURE', message: expect.stringMatching(/belongs to uid \d+/) });
  });

  it('reads back events and reports malformed lines by number', async () => {
    const file = path.join(dir, 'audit.jsonl');
    await fs.writeFile(file, `${JSON.stringify(event('a'))}\nnot json\n{"x":1}\n${JSON.stringify(event('b'))}\n`);
    expect(await readAuditFile(file)).toEqual({ events: [event('a'), event('b')], badLines: [2, 3] });
    expect(await readAuditFile(path.join(dir, 'none.jsonl'))).toEqual({ events: [], badLines: [] });
  });
});

describe('StreamAuditSink', () => {
  it('writes JSON lines to its stream (stdout in Lambda)', async () => {
    const stream = new PassThrough();
    const chunks: string[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c.toString()));
    await new StreamAuditSink(stream).write(event('rotate'));
    expect(chunks.join('')).toBe(`${JSON.stringify(event('rotate'))}\n`);
  });
});
