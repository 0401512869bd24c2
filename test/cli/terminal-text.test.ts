/**
 * Text that comes from the keyset or the audit log (reasons, details, actors) reaches the terminal escaped:
 * a forged value cannot add a line, fake a row, or send escape sequences.
 */
import { promises as fs } from 'node:fs';
import { printable } from '../../cli/terminal-text';
import { type Workspace, workspace } from '../support/lifecycle';

let ws: Workspace;
beforeEach(async () => {
  ws = await workspace('km-tty-');
  await ws.km(['init']);
  await ws.km(['rotate']);
});
afterEach(() => ws.cleanup());

const FORGED = 'INC-1\n      7  *        enabled    hkdf-sha256    2026-01-01T00:00:00.000Z         0\u001b[2J\u202e';
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

describe('terminal output', () => {
  it('status refuses a keyset with a forged reason (KEYSET_INVALID naming the field), on one escaped error line, with no row printed', async () => {
    await ws.km(['disable-version', '--version', '1', '--reason', 'x']);
    const keyset = JSON.parse(await fs.readFile(ws.keysetFile, 'utf8'));
    keyset.versions[0].reason = FORGED;
    await fs.writeFile(ws.keysetFile, JSON.stringify(keyset));
    const r = await ws.km(['status']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(/^error \[KEYSET_INVALID\]: .*versions\[0\]\.reason/)]);
    expect(r.stderr).not.toMatch(CONTROL);
  });

  it('audit prints forged fields escaped, one line per event', async () => {
    const forged = { time: '2026-01-01T00:00:00.000Z', action: 'rotate', actor: 'mallory\u001b]0;owned\u0007', store: 'file', secret: 's\r', outcome: 'success', detail: 'ok\n2026-01-02T00:00:00.000Z: destroy_version - s version=1 outcome=success' };
    await fs.appendFile(ws.auditFile, `${JSON.stringify(forged)}\n`);
    const r = await ws.km(['audit']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.filter((l) => l.includes('destroy_version'))).toEqual([expect.stringContaining('(ok\\n2026-01-02T00:00:00.000Z: destroy_version')]);
    expect(r.stdout).not.toMatch(CONTROL);
  });

  it('an error naming a forged reason stays one line', async () => {
    const enc = await ws.km(['encrypt', '--context', 'trading_data'], { stdin: 'x' });
    await ws.km(['rotate', '--emergency', '--reason', 'x']);
    const keyset = JSON.parse(await fs.readFile(ws.keysetFile, 'utf8'));
    keyset.versions[1].reason = FORGED;
    await fs.writeFile(ws.keysetFile, JSON.stringify(keyset));
    const r = await ws.km(['decrypt'], { stdin: enc.stdout });
    expect(r.code).toBe(1);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toMatch(CONTROL);
  });

  it('printable escapes control, line-separator and bidirectional characters and nothing else', () => {
    expect(printable('a\tb\nc\r\u0000\u007f\u2028\u202e é ✓')).toBe('a\\tb\\nc\\r\\u0000\\u007f\\u2028\\u202e é ✓');
  });
});
