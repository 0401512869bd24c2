import { execFileSync, spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import legacyVectors from '../fixtures/legacy-vectors.json';
import { runCli } from '../support/cli';

let dir: string;
let store: string;
let keysetFile: string;

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'km-cli-'));
  keysetFile = path.join(dir, 'keyset.json');
  store = `file:${keysetFile}`;
});
afterEach(() => fs.rm(dir, { recursive: true, force: true }));

const km = (args: string[], stdin?: string | Buffer) => runCli(['--store', store, ...args], { stdin });

describe('key-manager core commands', () => {
  it('init, encrypt, rotate, decrypt: data encrypted before a rotation still decrypts', async () => {
    expect((await km(['init'])).code).toBe(0);
    const enc = await km(['encrypt', '--context', 'trading_data'], 'hi\n');
    expect(enc.code).toBe(0);
    expect(JSON.parse(enc.stdout)).toMatchObject({ key_version: 1, context: 'trading_data', algorithm: 'AES-256-GCM', format: 'AP2' });
    const rot = await km(['rotate']);
    expect(rot.stdout).toMatch(/version 1 -> 2/);
    const dec = await km(['decrypt'], enc.stdout);
    expect(dec).toMatchObject({ code: 0, stdout: 'hi\n' });
  });

  it('encrypts to the compact form and decrypts it', async () => {
    await km(['init']);
    const enc = await km(['encrypt', '--context', 'user_pii', '--format', 'compact'], 'pii');
    expect(enc.stdout).toMatch(/^AP2:1:user_pii:[A-Za-z0-9_-]+\n$/);
    expect((await km(['decrypt'], enc.stdout)).stdout).toBe('pii');
  });

  it('status shows versions, primary and the rotation deadline, as a table and as JSON', async () => {
    await km(['init']);
    await km(['rotate']);
    const table = await km(['status']);
    expect(table.stdout).toMatch(/primary:\s+version 2/);
    expect(table.stdout).toMatch(/due in 90 days/);
    const json = JSON.parse((await km(['--json', '--rotation-days', '30', 'status'])).stdout);
    expect(json).toMatchObject({ primary: 2, rotationPeriodDays: 30, daysUntilRotationDue: 30, versions: [{ version: 1 }, { version: 2, primary: true }] });
  });

  it('derive prints a fingerprint, never the key', async () => {
    await km(['init']);
    const out = JSON.parse((await km(['--json', 'derive', '--context', 'api_credentials'])).stdout);
    expect(out).toEqual({ context: 'api_credentials', version: 1, fingerprint: expect.stringMatching(/^[0-9a-f]{16}$/) });
  });

  it('health prints check marks and exits 0; with no keyset it fails as any command does, with the read error', async () => {
    await km(['init']);
    const ok = await km(['health']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/✓ can derive keys/);
    const bad = await runCli(['--store', `file:${path.join(dir, 'none.json')}`, 'health']);
    expect(bad).toMatchObject({ code: 1, stdout: '', stderr: expect.stringMatching(/^error \[KEYSET_NOT_FOUND\]: no keyset at /) });
  });

  it('health with a failing check prints every check, then the failure as its error, and exits 1', async () => {
    await km(['init']);
    const keyset = JSON.parse(await fs.readFile(keysetFile, 'utf8'));
    keyset.versions[0].createdAt = '2020-01-01T00:00:00.000Z';
    await fs.writeFile(keysetFile, JSON.stringify(keyset));
    const overdue = await km(['--rotation-days', '30', 'health']);
    expect(overdue.code).toBe(1);
    expect(overdue.stdout).toMatch(/^✓ keyset readable: .*\n✗ rotation not overdue: \[ROTATION_FAILED\] primary version 1 is \d+ days old/);
    expect(overdue.stderr).toMatch(/^error \[ROTATION_FAILED\]: health check 'rotation not overdue' failed: /);
  });

  it('generate prints a base64 256-bit key', async () => {
    const out = await runCli(['generate']);
    expect(Buffer.from(out.stdout.trim(), 'base64')).toHaveLength(32);
  });

  it('decrypts a record written by the AlphaPulse Python system through --store env:', async () => {
    const { record, plaintext_base64 } = legacyVectors.records[0];
    const out = await runCli(['--store', 'env:', '--audit-log', path.join(dir, 'audit.jsonl'), 'decrypt'], {
      stdin: JSON.stringify(record),
      env: { ALPHAPULSE_ENCRYPTION_MASTER_KEY: legacyVectors.master_key_base64, ALPHAPULSE_ENCRYPTION_KEY_VERSION: '3' },
    });
    expect(out.code).toBe(0);
    expect(out.stdoutBytes.toString('base64')).toBe(plaintext_base64);
  });

  it('writes one audit line per operation beside the keyset, with no key material', async () => {
    await km(['init']);
    await km(['encrypt', '--context', 'trading_data'], 'x');
    await km(['rotate']);
    const lines = (await fs.readFile(path.join(dir, 'audit.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.action)).toEqual(['init', 'derive_key', 'encrypt', 'rotate']);
    const keyset = await fs.readFile(keysetFile, 'utf8');
    for (const v of JSON.parse(keyset).versions) expect(JSON.stringify(lines)).not.toContain(v.material);
  });

  describe('failures: typed error, exit 1, keyset file unchanged', () => {
    let before: string;
    let envelope: Record<string, unknown>;

    beforeEach(async () => {
      await km(['init']);
      envelope = JSON.parse((await km(['encrypt', '--context', 'trading_data'], 'secret')).stdout);
      before = await fs.readFile(keysetFile, 'utf8');
    });

    const tampered = () => {
      const b = Buffer.from(envelope.ciphertext as string, 'base64');
      b[20] ^= 0x40;
      return JSON.stringify({ ...envelope, ciphertext: b.toString('base64') });
    };

    it.each([
      ['tampered ciphertext', () => ['decrypt'], () => tampered(), 'DECRYPT_FAILED'],
      ['a swapped context', () => ['decrypt'], () => JSON.stringify({ ...envelope, context: 'user_pii' }), 'DECRYPT_FAILED'],
      ['an unknown version', () => ['decrypt'], () => JSON.stringify({ ...envelope, key_version: 7 }), 'UNKNOWN_VERSION'],
      ['malformed JSON', () => ['decrypt'], () => '{"ciphertext": ', 'INVALID_ENVELOPE'],
      ['a second init', () => ['init'], () => '', 'KEYSET_EXISTS'],
    ])('%s', async (_name, args, stdin, code) => {
      const out = await km(args(), stdin());
      expect(out.code).toBe(1);
      expect(out.stderr).toMatch(new RegExp(`^error \\[${code}\\]: `));
      expect(out.stderr).not.toMatch(/\n\s+at /);
      expect(await fs.readFile(keysetFile, 'utf8')).toBe(before);
    });

    it('a disabled version', async () => {
      await km(['rotate', '--emergency', '--reason', 'test']);
      const after = await fs.readFile(keysetFile, 'utf8');
      const out = await km(['decrypt'], JSON.stringify(envelope));
      expect(out).toMatchObject({ code: 1, stderr: expect.stringMatching(/^error \[VERSION_DISABLED\]/) });
      expect(await fs.readFile(keysetFile, 'utf8')).toBe(after);
    });

    it('a corrupt keyset file', async () => {
      await fs.writeFile(keysetFile, before.replace('"primary":1', '"primary":"one"'));
      const out = await km(['status']);
      expect(out).toMatchObject({ code: 1, stderr: expect.stringMatching(/KEYSET_INVALID.*primary must be a positive integer/) });
      expect(await fs.readFile(keysetFile, 'utf8')).toBe(before.replace('"primary":1', '"primary":"one"'));
    });

    it('a missing store', async () => {
      const out = await runCli(['--store', `file:${path.join(dir, 'missing.json')}`, 'status']);
      expect(out).toMatchObject({ code: 1, stderr: expect.stringMatching(/KEYSET_NOT_FOUND.*key-manager init/) });
    });
  });

  it('usage errors exit 2', async () => {
    expect((await runCli(['encrypt'])).code).toBe(2);
    expect((await runCli(['no-such-command'])).code).toBe(2);
    expect((await runCli(['derive', '--context', 'x', '--version', 'abc'])).code).toBe(2);
    const badStore = await runCli(['--store', 's3:bucket', 'status']);
    expect(badStore).toMatchObject({ code: 2, stderr: expect.stringMatching(/^error \[INVALID_INPUT\]: store 's3:bucket' is not recognised/) });
    expect((await runCli(['--store', store, '--rotation-days', '400', 'status'])).code).toBe(2);
  });
});

describe('the built CLI binary', () => {
  const bin = path.resolve(__dirname, '../../dist/bin/key-manager.js');

  it('runs the quick start as a user would: init, encrypt, rotate, decrypt', () => {
    const run = (args: string[], input?: string) => execFileSync(process.execPath, [bin, '--store', store, ...args], { input, cwd: dir, encoding: 'utf8' });
    run(['init']);
    const envelope = run(['encrypt', '--context', 'trading_data'], 'hi\n');
    run(['rotate']);
    expect(run(['decrypt'], envelope)).toBe('hi\n');
  });

  it('does not load the AWS SDK for a file-store command (start-up stays fast)', () => {
    const program = path.resolve(__dirname, '../../dist/cli/program.js');
    const script = `
      const { main } = require(${JSON.stringify(program)});
      main(['node', 'key-manager', '--store', ${JSON.stringify(store)}, 'init']).then((code) => {
        const sdk = Object.keys(require.cache).filter((k) => k.includes('@aws-sdk') || k.includes('@smithy'));
        process.stdout.write(String.fromCharCode(10) + JSON.stringify({ code, sdk: sdk.length }));
      });`;
    const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: dir, encoding: 'utf8' }).trim().split('\n').pop() as string);
    expect(out).toEqual({ code: 0, sdk: 0 });
  });

  it('exits 1 with a one-line message and no stack trace on failure', () => {
    const r = spawnSync(process.execPath, [bin, '--store', `file:${path.join(dir, 'none.json')}`, 'status'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
