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
