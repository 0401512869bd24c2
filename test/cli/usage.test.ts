/**
 * The command line itself: --version, --help, and usage errors (exit 2, found before anything is read or
 * written, one line and a pointer to --help, or one JSON object with --json).
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { version } from '../../package.json';
import { runCli } from '../support/cli';

let dir: string;
let auditFile: string;
/** A store that holds no keyset: a command that reads it fails with KEYSET_NOT_FOUND (exit 1), not 2. */
let missing: string;

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'km-usage-'));
  auditFile = path.join(dir, 'audit.jsonl');
  missing = `file:${path.join(dir, 'keyset.json')}`;
});
afterEach(() => fs.rm(dir, { recursive: true, force: true }));

const km = (args: string[]) => runCli(['--store', missing, '--audit-log', auditFile, ...args]);

describe('--version', () => {
  it.each([['--version'], ['-V'], ['--json', '--version']])('%s prints the package version', async (...args) => {
    const r = await runCli(args);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toBe(args.includes('--json') ? `${JSON.stringify({ version })}\n` : `${version}\n`);
  });

  it('is still the version option of the commands that take one', async () => {
    const r = await km(['derive', '--context', 'trading_data', '--version', '3']);
    expect(r).toMatchObject({ code: 1, stderr: expect.stringMatching(/^error \[KEYSET_NOT_FOUND\]/) });
  });
});

describe('usage errors', () => {
  it('print one line and where to find help, not the whole help', async () => {
    const r = await km(['encrypt']);
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toBe("error [USAGE]: required option '--context <name>' not specified\nsee 'key-manager encrypt --help'\n");
  });

  it('point to the top-level help for an unknown command', async () => {
    const r = await km(['no-such-command']);
    expect(r).toMatchObject({ code: 2, stderr: "error [USAGE]: unknown command 'no-such-command'\nsee 'key-manager --help'\n" });
  });

  it('are one JSON object on stderr with --json', async () => {
    const r = await km(['--json', 'encrypt']);
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr.endsWith('\n')).toBe(true);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(r.stderr)).toEqual({ error: { code: 'USAGE', message: "required option '--context <name>' not specified" } });
  });

  it.each<[string, string[], string]>([
    ['encrypt with a context that is not a context name', ['encrypt', '--context', 'bad name'], 'INVALID_CONTEXT'],
    ['derive with a context that is not a context name', ['derive', '--context', 'bad/name'], 'INVALID_CONTEXT'],
    ['audit --since that is not a date', ['audit', '--since', 'yesterday'], 'INVALID_INPUT'],
    ['audit --action that is not an action name', ['audit', '--action', 'Rotate!'], 'INVALID_INPUT'],
    ['recover --max-age-days that is not a number', ['recover', '--in', 'b', '--backup-key-file', 'k', '--max-age-days', 'ten'], 'INVALID_INPUT'],
    ['reencrypt --max-line-bytes 0', ['reencrypt', '--in', 'a', '--out', 'b', '--max-line-bytes', '0'], 'INVALID_INPUT'],
    ['reencrypt --field that is not a path', ['reencrypt', '--in', 'a', '--out', 'b', '--field', '$.a[0]'], 'INVALID_INPUT'],
    ['export --out to a malformed S3 location', ['export', '--out', 's3://Bad_Bucket/x', '--backup-key-out', '/tmp/k'], 'INVALID_INPUT'],
    ['disable-version with an empty reason', ['disable-version', '--version', '1', '--reason', ' '], 'INVALID_INPUT'],
    ['destroy-version without a reason', ['destroy-version', '--version', '1', '--confirm'], 'USAGE'],
    ['a bad --rotation-days', ['--rotation-days', '0', 'status'], 'INVALID_INPUT'],
  ])('%s exits 2 before the store is read or the audit log written', async (_name, args, code) => {
    const r = await km(args);
    expect(r).toMatchObject({ code: 2, stdout: '' });
    const command = args.find((a) => /^[a-z]+(-[a-z]+)*$/.test(a));
    expect(r.stderr).toMatch(new RegExp(`^error \\[${code}\\]: .*\\nsee 'key-manager ${command} --help'\\n$`));
    await expect(fs.stat(auditFile)).rejects.toThrow();
  });

  it('reencrypt --out that is --in, or that exists, exits 2 before anything is read or written', async () => {
    const input = path.join(dir, 'in.jsonl');
    const taken = path.join(dir, 'taken.jsonl');
    await fs.writeFile(input, '{}\n');
    await fs.writeFile(taken, 'keep me\n');
    const same = await km(['reencrypt', '--in', input, '--out', input]);
    expect(same).toMatchObject({ code: 2, stderr: expect.stringMatching(/^error \[INVALID_INPUT\]: reencrypt never writes in place/) });
    const exists = await km(['reencrypt', '--in', input, '--out', taken]);
    expect(exists).toMatchObject({ code: 2, stderr: expect.stringMatching(/^error \[INVALID_INPUT\]: .*taken\.jsonl already exists/) });
    expect(await fs.readFile(taken, 'utf8')).toBe('keep me\n');
    await expect(fs.stat(auditFile)).rejects.toThrow();
  });

  it('a bad KEY_MANAGER_STORE names the variable', async () => {
    const r = await runCli(['status'], { env: { KEY_MANAGER_STORE: 's3://bucket/keyset' } });
    expect(r).toMatchObject({ code: 2, stderr: expect.stringMatching(/^error \[INVALID_INPUT\]: KEY_MANAGER_STORE='s3:\/\/bucket\/keyset' is not a store: store 's3:\/\/bucket\/keyset' is not recognised; .*fix or unset KEY_MANAGER_STORE, or pass --store$/m) });
  });
});

describe('--help', () => {
  it('marks required options and shows the global options in a command\'s help', async () => {
    const r = await runCli(['disable-version', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--version <n>\s+the version to disable \(required\)/);
    expect(r.stdout).toMatch(/--reason <text>\s+why [^-]*\(required\)/);
    expect(r.stdout).toMatch(/Global Options:[\s\S]*--store <uri>[\s\S]*--json/);
  });

  it('lists --version in the top-level help', async () => {
    expect((await runCli(['--help'])).stdout).toMatch(/-V, --version\s+print the version/);
  });

  it('speaks one vocabulary: --in and --out, the old spellings hidden', async () => {
    const exp = (await runCli(['export', '--help'])).stdout;
    expect(exp).toMatch(/--out <file\|s3:\/\/bucket\/key>/);
    expect(exp).not.toMatch(/--output/);
    const rec = (await runCli(['recover', '--help'])).stdout;
    expect(rec).toMatch(/--in <file>/);
    expect(rec).not.toMatch(/--backup-file/);
  });
});
