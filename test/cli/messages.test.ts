/** Error messages say what was wrong and what to do, and never send the operator the wrong way. */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { adviceFor } from '../../cli/advice';
import { MAX_ENVELOPE_CHARS } from '../../lambda/keys/envelope';
import { type Workspace, workspace } from '../support/lifecycle';

let ws: Workspace;
beforeEach(async () => {
  ws = await workspace('km-msg-');
  await ws.km(['init']);
});
afterEach(() => ws.cleanup());

describe('error messages', () => {
  it('an oversized ciphertext is larger than any envelope, not something to split', async () => {
    const big = path.join(ws.dir, 'big.json');
    await fs.writeFile(big, '');
    await fs.truncate(big, MAX_ENVELOPE_CHARS + 1);
    const r = await ws.km(['decrypt', '--in', big]);
    expect(r).toMatchObject({ code: 1, stdout: '' });
    expect(r.stderr).toMatch(/^error \[INVALID_ENVELOPE\]: the input \(.*big\.json\) is over \d+ bytes, larger than any envelope/);
    expect(r.stderr).not.toMatch(/split/);
  });

  it('empty input says it is empty', async () => {
    const dec = await ws.km(['decrypt'], { stdin: '' });
    expect(dec).toMatchObject({ code: 1, stderr: expect.stringMatching(/^error \[INVALID_ENVELOPE\]: the input \(stdin\) is empty: there is no envelope to decrypt/) });
    const blank = await ws.km(['decrypt'], { stdin: ' \n' });
    expect(blank.stderr).toMatch(/the input \(stdin\) is empty/);
    const enc = await ws.km(['encrypt', '--context', 'trading_data'], { stdin: '' });
    expect(enc).toMatchObject({ code: 1, stdout: '', stderr: expect.stringMatching(/^error \[INVALID_INPUT\]: the input \(stdin\) is empty: nothing to encrypt/) });
  });

  it('derive --version of a version the keyset lacks talks about the version, not about data', async () => {
    const r = await ws.km(['derive', '--context', 'trading_data', '--version', '99']);
    expect(r).toMatchObject({ code: 1, stderr: expect.stringMatching(/^error \[UNKNOWN_VERSION\]: version 99 is not in the keyset \(latest is 1\); check --version and --store\n$/) });
    expect(r.stderr).not.toMatch(/data|encrypted/);
  });

  it('a ciphertext under an unknown version still says where such data comes from', async () => {
    const enc = await ws.km(['encrypt', '--context', 'trading_data'], { stdin: 'x' });
    const r = await ws.km(['decrypt'], { stdin: JSON.stringify({ ...JSON.parse(enc.stdout), key_version: 7 }) });
    expect(r.stderr).toMatch(/^error \[UNKNOWN_VERSION\]: version 7 is not in the keyset \(latest is 1\); the data was encrypted under another keyset/);
  });

  it('VERSION_DISABLED points to reencrypt', async () => {
    const enc = await ws.km(['encrypt', '--context', 'trading_data'], { stdin: 'x' });
    await ws.km(['rotate', '--emergency', '--reason', 'INC-9']);
    const r = await ws.km(['decrypt'], { stdin: enc.stdout });
    expect(r).toMatchObject({ code: 1, stderr: expect.stringMatching(/^error \[VERSION_DISABLED\]: version 1 is disabled \(INC-9\).*key-manager reencrypt --in FILE --out NEW/) });
  });

  it('a rotation still running when rotate stops waiting points to status; one already in progress keeps its own clear command', () => {
    const failed = { command: 'rotate', storeKind: 'aws' };
    expect(adviceFor('ROTATION_IN_PROGRESS', "Secrets Manager's rotation t of secret s has not finished after 300 s; it is still AWSPENDING", failed)).toMatch(/^follow it with 'key-manager status' .*the rotation function's log/);
    expect(adviceFor('ROTATION_IN_PROGRESS', 'a rotation of secret s is already in progress (version v is AWSPENDING); wait for it, or if it is stuck clear it with: aws ...', failed)).toBeUndefined();
  });
});
