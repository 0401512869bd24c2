/**
 * Leak scan: the whole lifecycle through the CLI in-process (`main(argv, io)`), on the file, env and
 * Secrets Manager (fake) stores, every success path and every error path we can provoke, capturing stdout, stderr, the audit log, every metric datum, the
 * backup file and the reencrypt output. No version's material and no derived data key may appear in
 * any of them, in base64, base64 without padding, base64url or hex (either case), whole or as a
 * 12-byte prefix.
 *
 * Excluded by design, and only these: the stdout of `generate` (it prints a new key) and the backup key
 * file `export` writes (it holds the backup key). Both are still searched for version material and data
 * keys; only the key they exist to hand out is allowed in them.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { factories } from '../../cli/runtime';
import { deriveKey } from '../../lambda/keys/derive';
import { parseKeyset } from '../../lambda/keys/keyset';
import { createHandler } from '../../lambda/rotation/handler';
import { SecretsManagerRotationLog } from '../../lambda/rotation/rotation-log-store';
import { SecretsManagerSecret } from '../../lambda/stores/secrets-manager-secret';
import { SecretsManagerStore } from '../../lambda/stores/secrets-manager-store';
import { MemoryAuditSink } from '../../lambda/telemetry/audit';
import { MemoryMetricsSink } from '../../lambda/telemetry/metrics';
import { runCli } from '../support/cli';
import { FakeSecretsManager } from '../support/fake-secrets-manager';
import { Figures } from './figures';

const figures = new Figures('leak-scan');
const CONTEXTS = ['trading_data', 'user_pii', 'api_credentials', 'health_check'];

interface Output {
  readonly what: string;
  readonly text: string;
  /** A secret this output is allowed to hold (generate's key, export's backup key). */
  readonly allowed?: string;
}

/** Spellings of a secret a log or an output might carry. */
function encodings(secret: Buffer): string[] {
  const prefix = secret.subarray(0, 12);
  return [
    secret.toString('base64'),
    secret.toString('base64').replace(/=+$/, ''),
    secret.toString('base64url'),
    secret.toString('hex'),
    secret.toString('hex').toUpperCase(),
    prefix.toString('base64'),
    prefix.toString('base64url'),
    prefix.toString('hex'),
  ];
}

describe('leak scan over the whole CLI lifecycle', () => {
  let dir: string;
  const metrics = new MemoryMetricsSink();
  /** What the rotation function (run in-process for the aws store) audits and measures. */
  const lambdaAudit = new MemoryAuditSink();
  const lambdaMetrics = new MemoryMetricsSink();
  const outputs: Output[] = [];
  /** Every version material seen in any keyset file during the run. */
  const materials = new Map<string, { version: number; kdf: 'hkdf-sha256' | 'legacy-pbkdf2' }>();
  const extraSecrets: { name: string; bytes: Buffer }[] = [];
  const codes: Record<string, number> = {};

  const store = (name = 'main'): string => `file:${path.join(dir, name, 'keyset.json')}`;

  function harvest(name: string): void {
    try {
      const keyset = parseKeyset(readFileSync(path.join(dir, name, 'keyset.json'), 'utf8'));
      for (const v of keyset.versions) if (v.material) materials.set(v.material, { version: v.version, kdf: v.kdf });
    } catch {
      /* no keyset (yet) in this store */
    }
  }

  /** Runs one command; `expectCode` is the exit code the path must end in (0 success, 1 failure, 2 usage). */
  async function cli(args: string[], expectCode: number, options: { stdin?: string | Buffer; env?: NodeJS.ProcessEnv; allowStdout?: 'generated-key'; storeName?: string; partial?: boolean } = {}): Promise<string> {
    // The env store's audit log goes to the user's state directory: here, one under the scanned dir.
    const r = await runCli(args, { stdin: options.stdin, env: { XDG_STATE_HOME: path.join(dir, 'state'), ...options.env } });
    const label = args.join(' ').slice(0, 120);
    expect({ label, code: r.code, stderr: r.code === expectCode ? '' : r.stderr }).toEqual({ label, code: expectCode, stderr: '' });
    if (expectCode === 1 && options.partial) {
      // A run that processed its input and reports failed lines in its summary instead of one error.
      expect(r.stdout).toMatch(/failed/);
    } else if (expectCode === 1) {
      const m = /^error \[([A-Z_]+)\]/.exec(r.stderr);
      expect({ label, typed: Boolean(m) && m?.[1] !== 'INTERNAL' }).toEqual({ label, typed: true });
      codes[m?.[1] as string] = (codes[m?.[1] as string] ?? 0) + 1;
    }
    if (options.allowStdout === 'generated-key') {
      const printed = r.stdout.trim();
      const key = printed.startsWith('{') ? (JSON.parse(printed) as { key: string }).key : printed;
      extraSecrets.push({ name: 'generated key', bytes: Buffer.from(key, 'base64') });
      outputs.push({ what: `stdout of ${label}`, text: r.stdout, allowed: key });
    } else {
      outputs.push({ what: `stdout of ${label}`, text: r.stdout });
    }
    outputs.push({ what: `stderr of ${label}`, text: r.stderr });
    harvest(options.storeName ?? 'main');
    figures.cases++;
    return r.stdout;
  }

  const originalFactories = { ...factories };

  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'reliability-leak-'));
    factories.metrics = () => metrics;
    // No STS call for aws stores (there is no network here); the actor is not what is under test.
    factories.actor = async () => 'leak-scan';
  });

  afterAll(() => {
    Object.assign(factories, originalFactories);
    rmSync(dir, { recursive: true, force: true });
    figures.print();
  });

  it('runs every command and error path, and no key material appears in any output', async () => {
    const S = store();
    // Keys that are secrets by design.
    await cli(['generate'], 0, { allowStdout: 'generated-key' });
    await cli(['--json', 'generate'], 0, { allowStdout: 'generated-key' });
    await cli(['--store', S, 'status'], 1);
    await cli(['--store', S, 'init'], 0);
    await cli(['--store', S, 'init'], 1);
    await cli(['--store', S, 'status'], 0);
    await cli(['--store', S, '--json', 'status'], 0);
    for (const context of CONTEXTS.slice(0, 3)) {
      await cli(['--store', S, 'derive', '--context', context], 0);
      await cli(['--store', S, '--json', 'derive', '--context', context], 0);
    }
    await cli(['--store', S, 'derive', '--context', 'bad context'], 2);
    await cli(['--store', S, 'derive', '--context', 'trading_data', '--version', '9'], 1);
    await cli(['--store', S, 'derive', '--context', 'trading_data', '--version', 'x'], 2);
    const recordV1 = (await cli(['--store', S, 'encrypt', '--context', 'trading_data'], 0, { stdin: 'order 1' })).trim();
    const compactV1 = (await cli(['--store', S, 'encrypt', '--context', 'user_pii', '--format', 'compact'], 0, { stdin: 'pii 1' })).trim();
    await cli(['--store', S, 'encrypt', '--context', 'no:colons'], 2, { stdin: 'x' });
    await cli(['--store', S, 'decrypt'], 0, { stdin: recordV1 });
    await cli(['--store', S, '--json', 'decrypt'], 0, { stdin: compactV1 });
    await cli(['--store', S, 'decrypt'], 1, { stdin: recordV1.replace(/"ciphertext":"(.)/, (_m, c: string) => `"ciphertext":"${c === 'A' ? 'B' : 'A'}`) });
    await cli(['--store', S, 'decrypt'], 1, { stdin: 'not an envelope' });
    await cli(['--store', S, 'decrypt'], 1, { stdin: compactV1.replace('AP2:1:', 'AP2:7:') });
    await cli(['--store', S, 'health'], 0);

    await cli(['--store', S, 'rotate'], 0);
    await cli(['--store', S, '--json', 'rotate'], 0);
    const recordV3 = (await cli(['--store', S, 'encrypt', '--context', 'api_credentials'], 0, { stdin: 'api 3' })).trim();
    await cli(['--store', S, 'rotate', '--emergency', '--reason', 'key compromise drill'], 0);
    await cli(['--store', S, 'rotate', '--reason', 'r'.repeat(300), '--emergency'], 1);
    await cli(['--store', S, 'decrypt'], 1, { stdin: recordV3 });
    await cli(['--store', S, 'disable-version', '--version', '1', '--reason', 'retire'], 0);
    await cli(['--store', S, 'disable-version', '--version', '4', '--reason', 'primary'], 1);
    await cli(['--store', S, 'disable-version', '--version', '1', '--reason', 'again'], 1);
    await cli(['--store', S, 'enable-version', '--version', '1'], 0);
    await cli(['--store', S, 'enable-version', '--version', '1'], 1);
    await cli(['--store', S, 'destroy-version', '--version', '2', '--reason', 'retired', '--confirm'], 1);
    await cli(['--store', S, 'destroy-version', '--version', '2', '--reason', 'retired'], 2);

    // Backups: export (generated key, given key), refusals, recover into an empty store, refusals.
    mkdirSync(path.join(dir, 'backups'));
    mkdirSync(path.join(dir, 'keys'));
    const backup = path.join(dir, 'backups', 'backup.fernet');
    const backupKeyFile = path.join(dir, 'keys', 'backup.key');
    await cli(['--store', S, 'export', '--out', backup, '--backup-key-out', backupKeyFile], 0);
    await cli(['--store', S, 'export', '--out', backup, '--backup-key-out', path.join(dir, 'keys', 'second.key')], 2);
    await cli(['--store', S, 'export', '--out', path.join(dir, 'backups', 'beside.fernet'), '--backup-key-out', path.join(dir, 'backups', 'beside.key')], 2);
    const backupKey = readFileSync(backupKeyFile, 'utf8').trim();
    extraSecrets.push({ name: 'backup key', bytes: Buffer.from(backupKey, 'base64url') });
    outputs.push({ what: 'backup key file (export)', text: readFileSync(backupKeyFile, 'utf8'), allowed: backupKey });
    const backup2 = path.join(dir, 'backups', 'backup2.fernet');
    await cli(['--store', S, 'export', '--out', backup2, '--backup-key-file', backupKeyFile], 0);
    outputs.push({ what: 'backup file', text: readFileSync(backup, 'utf8') }, { what: 'second backup file', text: readFileSync(backup2, 'utf8') });
    const R = store('recovered');
    await cli(['--store', R, 'recover', '--backup-file', backup, '--backup-key-file', backupKeyFile], 0, { storeName: 'recovered' });
    await cli(['--store', R, 'recover', '--backup-file', backup, '--backup-key-file', path.join(dir, 'missing.key')], 2, { storeName: 'recovered' });
    const wrongKey = path.join(dir, 'wrong.key');
    writeFileSync(wrongKey, `${Buffer.alloc(32, 9).toString('base64url')}\n`, { mode: 0o600 });
    await cli(['--store', store('other'), 'recover', '--backup-file', backup, '--backup-key-file', wrongKey], 1, { storeName: 'other' });
    const tampered = path.join(dir, 'tampered.fernet');
    const token = readFileSync(backup, 'utf8');
    writeFileSync(tampered, token.slice(0, 40) + (token[40] === 'A' ? 'B' : 'A') + token.slice(41));
    await cli(['--store', store('other'), 'recover', '--backup-file', tampered, '--backup-key-file', backupKeyFile], 1, { storeName: 'other' });

    // Re-encryption: a JSON Lines file with envelopes under several versions, a plain line and a bad one.
    const input = path.join(dir, 'rows.jsonl');
    writeFileSync(input, [recordV1, JSON.stringify({ id: 1 }), recordV3, compactV1, '{"ciphertext":"AAAA","key_version":1,"context":"trading_data","algorithm":"AES-256-GCM","format":"AP2"}'].join('\n') + '\n');
    const out = path.join(dir, 'rows.out.jsonl');
    await cli(['--store', S, 'reencrypt', '--in', input, '--out', out], 1, { partial: true });
    await cli(['--store', S, 'reencrypt', '--in', input, '--out', out], 2);
    await cli(['--store', S, 'reencrypt', '--in', path.join(dir, 'none.jsonl'), '--out', path.join(dir, 'none.out')], 2);
    for (const f of readdirSync(dir).filter((f) => f.startsWith('rows.out'))) outputs.push({ what: `reencrypt output ${f}`, text: readFileSync(path.join(dir, f), 'utf8') });

    // Destroy after re-encryption; a destroyed version's data is refused.
    await cli(['--store', S, 'disable-version', '--version', '1', '--reason', 're-encrypted'], 0);
    await cli(['--store', S, 'destroy-version', '--version', '1', '--reason', 'retired', '--confirm'], 0);
    await cli(['--store', S, 'decrypt'], 1, { stdin: recordV1 });

    // Legacy import: the Python system's master key must not be echoed either.
    const master = Buffer.alloc(32, 0x5a);
    extraSecrets.push({ name: 'legacy master key', bytes: master });
    const masterFile = path.join(dir, 'master.key');
    writeFileSync(masterFile, `${master.toString('base64')}\n`, { mode: 0o600 });
    const L = store('legacy');
    await cli(['--store', L, 'import-legacy', '--master-key-file', masterFile, '--version', '2'], 0, { storeName: 'legacy' });
    await cli(['--store', L, 'import-legacy', '--master-key-file', masterFile, '--version', '2'], 1, { storeName: 'legacy' });
    await cli(['--store', L, 'derive', '--context', 'trading_data', '--version', '1'], 0, { storeName: 'legacy' });
    await cli(['--store', 'env:', 'status'], 0, { env: { ALPHAPULSE_ENCRYPTION_MASTER_KEY: master.toString('base64'), ALPHAPULSE_ENCRYPTION_KEY_VERSION: '2' }, storeName: 'legacy' });
    await cli(['--store', 'env:', 'status'], 1, { env: { ALPHAPULSE_ENCRYPTION_MASTER_KEY: master.toString('base64').slice(0, 40) } });
    await cli(['--store', 'env:', 'rotate'], 1, { env: { ALPHAPULSE_ENCRYPTION_MASTER_KEY: master.toString('base64') } });

    // A corrupted keyset and a bad store URI, with --debug (stack traces must not carry material either).
    const C = path.join(dir, 'corrupt', 'keyset.json');
    await cli(['--store', `file:${C}`, 'init'], 0, { storeName: 'corrupt' });
    const good = readFileSync(C, 'utf8');
    writeFileSync(C, good.replace('"kdf":"hkdf-sha256"', '"kdf":"md5"'));
    await cli(['--store', `file:${C}`, '--debug', 'status'], 1, { storeName: 'corrupt' });
    writeFileSync(C, good.replace(/"material":"([^"]+)"/, '"material":"$1$1"'));
    await cli(['--store', `file:${C}`, '--debug', 'derive', '--context', 'trading_data'], 1, { storeName: 'corrupt' });
    await cli(['--store', 'nowhere:x', 'status'], 2); // a usage error: exit 2
    await cli(['--store', S, 'audit'], 0);
    await cli(['--store', S, '--json', 'audit', '--action', 'emergency_rotate'], 0);

    // The production store: Secrets Manager (the in-test fake, rotating through the rotation handler in-process),
    // with service faults on the error paths.
    const sm = new FakeSecretsManager().createSecret('alphapulse/leak').createSecret('alphapulse/leak-log');
    sm.now = new Date();
    const lambdaStore = new SecretsManagerStore({ secretId: 'alphapulse/leak', region: 'us-east-1' });
    const rotationFunction = createHandler({
      config: { keysetSecretId: 'alphapulse/leak', rotationLogSecretId: 'alphapulse/leak-log', metricsNamespace: 'AlphaPulse/Encryption', rotationPeriodDays: 90, warningWindowDays: 14, stage: 'leak' },
      store: lambdaStore,
      rotationLog: new SecretsManagerRotationLog(new SecretsManagerSecret('alphapulse/leak-log', { client: lambdaStore.secret.client })),
      audit: lambdaAudit,
      metrics: lambdaMetrics,
      actor: 'lambda:leak',
    });
    sm.configureRotation('alphapulse/leak', (event) => rotationFunction(event));
    try {
      const A = ['--store', 'aws:alphapulse/leak', '--region', 'us-east-1', '--audit-log', path.join(dir, 'aws', 'audit.jsonl')];
      const harvestAws = (): void => {
        for (const v of sm.versions('alphapulse/leak')) {
          try {
            for (const x of parseKeyset(v.value).versions) if (x.material) materials.set(x.material, { version: x.version, kdf: x.kdf });
          } catch {
            /* not a keyset */
          }
        }
      };
      await cli([...A, 'status'], 1);
      await cli([...A, 'init'], 0);
      harvestAws();
      await cli([...A, 'rotate'], 0);
      await cli([...A, '--json', 'status'], 0);
      await cli([...A, 'derive', '--context', 'user_pii'], 0);
      const awsRecord = (await cli([...A, 'encrypt', '--context', 'trading_data'], 0, { stdin: 'aws 2' })).trim();
      await cli([...A, 'decrypt'], 0, { stdin: awsRecord });
      await cli([...A, 'rotate', '--emergency', '--reason', 'aws drill'], 0);
      harvestAws();
      await cli([...A, 'decrypt'], 1, { stdin: awsRecord });
      await cli([...A, 'export', '--out', path.join(dir, 'backups', 'aws-backup.fernet'), '--backup-key-file', backupKeyFile], 0);
      outputs.push({ what: 'aws backup file', text: readFileSync(path.join(dir, 'backups', 'aws-backup.fernet'), 'utf8') });
      for (const kind of ['access-denied', 'kms-decrypt', 'throttling', 'server-error', 'network-reset'] as const) {
        sm.failNext('GetSecretValue', kind);
        await cli([...A, 'status'], 1);
        sm.failNext('RotateSecret', kind);
        await cli([...A, 'rotate'], 1);
        sm.clearFaults();
        harvestAws();
      }
      await cli([...A, 'health'], 0);
      harvestAws();
      figures.faults += sm.calls.filter((c) => c.outcome !== 'ok' && !c.outcome.endsWith('Exception')).length;
      outputs.push({ what: 'every Secrets Manager request the CLI and the rotation function made (minus secret values)', text: JSON.stringify(sm.calls.map((c) => ({ ...c, input: { ...c.input, SecretString: undefined } }))) });
      outputs.push({ what: "the rotation function's audit events and metrics", text: JSON.stringify([lambdaAudit.events, lambdaMetrics.data]) });
      outputs.push({ what: 'the rotation log', text: sm.valueAt('alphapulse/leak-log', 'AWSCURRENT') ?? '' });
    } finally {
      sm.restore();
    }

    // The audit logs beside every store and the metric datums.
    for (const name of ['main', 'recovered', 'other', 'legacy', 'corrupt', 'aws']) {
      try {
        outputs.push({ what: `audit log of ${name}`, text: readFileSync(path.join(dir, name, 'audit.jsonl'), 'utf8') });
      } catch {
        /* that store wrote no audit log */
      }
    }
    const stateAudit = path.join(dir, 'state', 'alphapulse-keys', 'audit');
    for (const name of readdirSync(stateAudit)) outputs.push({ what: `audit log ${name} (state directory)`, text: readFileSync(path.join(stateAudit, name), 'utf8') });
    outputs.push({ what: 'metric datums', text: JSON.stringify(metrics.data) });
    expect(metrics.data.length).toBeGreaterThan(0);

    // The scan.
    const secrets: { name: string; bytes: Buffer }[] = [...extraSecrets];
    for (const [material, { version, kdf }] of materials) {
      const bytes = Buffer.from(material, 'base64');
      secrets.push({ name: `material of version ${version}`, bytes });
      for (const context of CONTEXTS) secrets.push({ name: `data key ${context} v${version}`, bytes: deriveKey(kdf, bytes, context, version) });
    }
    expect(materials.size).toBeGreaterThanOrEqual(5);
    const scan = (scanned: Output[]): string[] => {
      const found: string[] = [];
      for (const out of scanned) {
        for (const secret of secrets) {
          for (const spelling of encodings(secret.bytes)) {
            if (out.allowed !== undefined && out.allowed.includes(spelling)) continue;
            if (out.text.includes(spelling)) found.push(`${secret.name} in ${out.what}`);
          }
        }
      }
      return found;
    };
    // Positive controls: the scanner finds material in the keyset file and a data key printed in hex.
    expect(scan([{ what: 'keyset file', text: readFileSync(path.join(dir, 'main', 'keyset.json'), 'utf8') }]).length).toBeGreaterThan(0);
    expect(scan([{ what: 'control', text: `key=${secrets[secrets.length - 1].bytes.toString('hex')}` }]).length).toBeGreaterThan(0);
    const leaks = scan(outputs);
    figures.leaks += leaks.length;
    figures.add('secretsSearched', secrets.length);
    figures.add('outputsScanned', outputs.length);
    figures.add('bytesScanned', outputs.reduce((n, o) => n + o.text.length, 0));
    figures.add('errorPaths', Object.values(codes).reduce((a, b) => a + b, 0));
    expect([...new Set(leaks)]).toEqual([]);
  }, 120_000);
});
