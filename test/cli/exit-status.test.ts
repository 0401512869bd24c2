/**
 * The built `key-manager` binary as an operator's shell sees it: a command that did not do its job exits 1
 * with its `error [CODE]` line, whatever the AWS side does, and within a bounded time. Spawned as a child
 * process (the in-process runner cannot see how the process itself ends).
 */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

const BIN = path.resolve(__dirname, '../../dist/bin/key-manager.js');
const STORE = 'aws:alphapulse/encryption/master_key';
/** Far above what any of these runs needs (the metrics flush bound is 3 s), far below jest's timeout. */
const BOUND_MS = 20_000;

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'km-exit-'));
});
afterEach(() => fs.rm(dir, { recursive: true, force: true }));

/** Runs the binary with only the given environment (plus PATH), from a scratch directory; kills it past BOUND_MS. */
function km(args: string[], env: NodeJS.ProcessEnv, input?: Buffer): Promise<Run> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, env: { PATH: process.env.PATH, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const killer = setTimeout(() => child.kill('SIGKILL'), BOUND_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), ms: Date.now() - started });
    });
    child.stdin.end(input);
  });
}

/** Credentials that sign requests but belong to nobody; the metadata service is never asked. */
const FAKE_CREDENTIALS = { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'example', AWS_EC2_METADATA_DISABLED: 'true' };

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function listen(handler: http.RequestListener): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(handler);
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Every AWS API answers as it does for credentials that have expired. */
const expiredToken: http.RequestListener = (req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(400, { 'content-type': 'application/x-amz-json-1.1' });
    res.end(JSON.stringify({ __type: 'ExpiredTokenException', message: 'The security token included in the request is expired' }));
  });
};

const COMMANDS: [string, string[]][] = [
  ['status', ['status']],
  ['health', ['health']],
  ['rotate --emergency', ['rotate', '--emergency', '--reason', 'INC-1']],
];

function expectFailedCommand(r: Run): void {
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(/^error \[[A-Z_]+\]: /m);
  expect(r.code).toBe(1);
  expect(r.ms).toBeLessThan(BOUND_MS);
}

describe('key-manager --store aws: when AWS cannot be used', () => {
  it.each(COMMANDS)('%s with no region and no home directory exits 1 with its error', async (_name, args) => {
    const r = await km(['--store', STORE, ...args], { HOME: '/nonexistent', AWS_EC2_METADATA_DISABLED: 'true', XDG_STATE_HOME: dir });
    expectFailedCommand(r);
    expect(r.stderr).toMatch(/region/);
  });

  it.each(COMMANDS)('%s against an endpoint that refuses connections exits 1 with its error', async (_name, args) => {
    const endpoint = `http://127.0.0.1:${await closedPort()}`;
    const r = await km(['--store', STORE, '--region', 'us-east-1', '--endpoint-url', endpoint, ...args], { ...FAKE_CREDENTIALS, HOME: dir, AWS_ENDPOINT_URL: endpoint });
    expectFailedCommand(r);
    expect(r.stderr).toMatch(/^error \[STORE_UNAVAILABLE\]: cannot reach Secrets Manager/m);
  });

  it.each(COMMANDS)('%s against an endpoint answering ExpiredTokenException exits 1 with its error', async (_name, args) => {
    const aws = await listen(expiredToken);
    try {
      const r = await km(['--store', STORE, '--region', 'us-east-1', '--endpoint-url', aws.url, ...args], { ...FAKE_CREDENTIALS, HOME: dir, AWS_ENDPOINT_URL: aws.url });
      expectFailedCommand(r);
      expect(r.stderr).toMatch(/^error \[ACCESS_DENIED\]: /m);
    } finally {
      await aws.close();
    }
  });

  it('a CloudWatch that never answers delays the exit by at most the flush bound, and is reported after the error', async () => {
    const aws = await listen(expiredToken);
    const silent = await listen(() => undefined);
    try {
      const r = await km(['--store', STORE, '--region', 'us-east-1', '--endpoint-url', aws.url, 'status'], {
        ...FAKE_CREDENTIALS,
        HOME: dir,
        AWS_ENDPOINT_URL: aws.url,
        AWS_ENDPOINT_URL_CLOUDWATCH: silent.url,
      });
      expectFailedCommand(r);
      expect(r.ms).toBeLessThan(8_000);
      const lines = r.stderr.trim().split('\n');
      expect(lines[0]).toMatch(/^error \[ACCESS_DENIED\]: /);
      expect(lines.filter((l) => l.startsWith('warning: '))).toEqual([expect.stringMatching(/^warning: metrics were not sent to CloudWatch: PutMetricData did not finish within the 3000 ms flush bound; dropped \d+ datum\(s\)/)]);
    } finally {
      await Promise.all([aws.close(), silent.close()]);
    }
  });
});

describe('key-manager --store aws: audit log', () => {
  it('goes to a file named for the store under the user\'s state directory, not into the working directory', async () => {
    const aws = await listen(expiredToken);
    const state = path.join(dir, 'state');
    try {
      const r = await km(['--store', STORE, '--region', 'us-east-1', '--endpoint-url', aws.url, 'status'], { ...FAKE_CREDENTIALS, HOME: dir, XDG_STATE_HOME: state, AWS_ENDPOINT_URL: aws.url });
      expect(r.code).toBe(1);
    } finally {
      await aws.close();
    }
    await expect(fs.stat(path.join(dir, '.alphapulse'))).rejects.toThrow();
    const log = await fs.readFile(path.join(state, 'alphapulse-keys', 'audit', 'aws-alphapulse%2Fencryption%2Fmaster_key.jsonl'), 'utf8');
    expect(JSON.parse(log)).toMatchObject({ action: 'status', outcome: 'failure', code: 'ACCESS_DENIED', store: 'aws', secret: 'alphapulse/encryption/master_key' });
  });
});

describe('key-manager when a command never finishes', () => {
  it('exits 1 with an error, never 0, if the event loop drains while the command is still awaiting', async () => {
    // The program's main() replaced by one awaiting a promise nothing will ever settle (as an unref'd timer would).
    const script = `
      const program = require.resolve(${JSON.stringify(path.resolve(__dirname, '../../dist/cli/program.js'))});
      require.cache[program] = { id: program, filename: program, loaded: true, exports: { main: () => new Promise(() => undefined) } };
      require(${JSON.stringify(BIN)});`;
    const r = await new Promise<Run>((resolve) => {
      const child = spawn(process.execPath, ['-e', script], { cwd: dir, env: { PATH: process.env.PATH } });
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.on('close', (code) => resolve({ code, stdout: '', stderr, ms: 0 }));
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error \[INTERNAL\]: key-manager stopped before the command finished/);
  });
});

describe('key-manager output through a pipe', () => {
  it('a large decrypt arrives whole before the process exits', async () => {
    const store = `file:${path.join(dir, 'keyset.json')}`;
    const env = { HOME: dir };
    expect((await km(['--store', store, 'init'], env)).code).toBe(0);
    const plaintext = Buffer.alloc(8 * 1024 * 1024, 'x');
    const enc = await km(['--store', store, 'encrypt', '--context', 'trading_data'], env, plaintext);
    expect(enc.code).toBe(0);
    const dec = await km(['--store', store, 'decrypt'], env, Buffer.from(enc.stdout));
    expect(dec.code).toBe(0);
    expect(dec.stdout.length).toBe(plaintext.length);
  });
});
