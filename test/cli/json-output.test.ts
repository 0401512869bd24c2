/**
 * --json: every command prints exactly one JSON object, on one line, on stdout; every failure is one
 * `{"error":{"code","message"}}` object on stderr.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { type CliResult } from '../support/cli';
import { type Workspace, workspace } from '../support/lifecycle';

let ws: Workspace;
beforeEach(async () => {
  ws = await workspace('km-json-');
});
afterEach(() => ws.cleanup());

function oneObject(r: CliResult): Record<string, unknown> {
  expect(r.stdout.endsWith('\n')).toBe(true);
  expect(r.stdout.slice(0, -1)).not.toContain('\n');
  const value = JSON.parse(r.stdout) as unknown;
  expect(value).toEqual(expect.any(Object));
  expect(Array.isArray(value)).toBe(false);
  return value as Record<string, unknown>;
}

describe('--json output', () => {
  it('is one JSON object on one line for every command', async () => {
    const j = async (args: string[], stdin?: string) => {
      const r = await ws.km(['--json', ...args], { stdin });
      expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: '' });
      return oneObject(r);
    };
    expect(await j(['generate'])).toMatchObject({ bits: 256 });
    expect(await j(['init'])).toMatchObject({ created: true });
    expect(await j(['status'])).toMatchObject({ primary: 1 });
    const record = await j(['encrypt', '--context', 'trading_data'], 'BTC');
    expect(record).toEqual({ version: 1, context: 'trading_data', format: 'record', envelope: expect.objectContaining({ format: 'AP2', key_version: 1 }) });
    const compact = await j(['encrypt', '--context', 'trading_data', '--format', 'compact'], 'ETH');
    expect(compact).toEqual({ version: 1, context: 'trading_data', format: 'compact', envelope: expect.stringMatching(/^AP2:1:trading_data:/) });
    expect(await j(['decrypt'], compact.envelope as string)).toMatchObject({ version: 1, plaintextBase64: Buffer.from('ETH').toString('base64') });
    expect(await j(['derive', '--context', 'user_pii'])).toMatchObject({ version: 1 });
    expect(await j(['rotate'])).toMatchObject({ toVersion: 2 });
    expect(await j(['health'])).toMatchObject({ ok: true });
    expect(await j(['disable-version', '--version', '1', '--reason', 'retired'])).toMatchObject({ disabled: 1 });
    expect(await j(['enable-version', '--version', '1'])).toMatchObject({ enabled: 1 });
    const input = path.join(ws.dir, 'in.jsonl');
    await fs.writeFile(input, `${JSON.stringify(record.envelope)}\n`);
    expect(await j(['reencrypt', '--in', input, '--out', path.join(ws.dir, 'out.jsonl')])).toMatchObject({ rewrapped: 1 });
    expect(await j(['audit'])).toMatchObject({ count: expect.any(Number) });
  });

  it('prints a failure as one error object on stderr and nothing on stdout', async () => {
    await ws.km(['init']);
    const r = await ws.km(['--json', 'decrypt'], { stdin: '{"ciphertext":"AAAA","key_version":9,"context":"trading_data","algorithm":"AES-256-GCM","format":"AP2"}' });
    expect(r).toMatchObject({ code: 1, stdout: '' });
    expect(r.stderr.slice(0, -1)).not.toContain('\n');
    expect(JSON.parse(r.stderr)).toEqual({ error: { code: 'UNKNOWN_VERSION', message: expect.stringMatching(/^version 9 is not in the keyset/) } });
  });
});
