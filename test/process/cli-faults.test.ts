/**
 * No silent success, for the operator's CLI: every key-manager command, run as the built binary with
 * `--store aws:<secret>` against the loopback AWS stand-in, under every fault of ./faults.ts aimed at the call
 * the command exists to make (the write of a change, RotateSecret for rotate, the upload of an S3 export, the
 * CloudWatch Logs read of audit --log-group, the keyset read of everything else).
 *
 * Each (command × fault) case asserts:
 * - exit status 1 (not 0, and not 2: this is not a usage error), within a bounded time (no hang);
 * - stderr is exactly one `error [CODE]: ...` line with the fault's code, naming the call that failed and its
 *   resource, and saying what to do (for a change whose answer never came: that it may have been made, and to
 *   look before retrying); nothing else but, when CloudWatch was unreachable too, one metrics
 *   `warning:` line (never a stack trace or a Node warning);
 * - stdout is empty (nothing claims success), and the audit log records no success;
 * - the stand-in's state is exactly what it was (secret versions, labels and values, rotation state, S3
 *   objects), and no output file is left behind (but for the one that must stay: the new key of a backup
 *   whose upload got no answer, which may have been stored);
 * - the SDK retried what it retries (throttling, 5xx, timeouts) as often as configured: 4 attempts for
 *   Secrets Manager, 3 for S3 and CloudWatch Logs.
 *
 * `generate` and `audit` of the local log need no AWS at all: under every fault they succeed, unchanged.
 * And `rotate` whose rotation the (bundled) rotation function fails: exit 1 once --wait is over, saying the rotation is
 * not known to have happened and how to follow it, AWSCURRENT untouched.
 * All cases run as separate processes, several at a time, each against its own stand-in.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { KeyManager } from '../../lambda/key-manager';
import { sealBackup } from '../../lambda/keys/backup';
import { FernetKey } from '../../lambda/keys/fernet';
import { createKeyset, destroyVersion, disableVersion, type Keyset, rotateKeyset, serializeKeyset } from '../../lambda/keys/keyset';
import { systemRandom } from '../../lambda/keys/random';
import { MemoryStore } from '../../lambda/stores/memory-store';
import { type AwsStandIn, bundleRotationFunction, bundleRotationHandler, type ProcessResult, startAwsStandIn } from '../support/aws';
import {
  BUCKET,
  CaseTally,
  CLI,
  cliEnv,
  defaultAttempts,
  EXPECTED_CODE,
  EXPECTED_HINT,
  FAULTS,
  type FaultName,
  FUNCTION_ARN,
  injectFault,
  isRetried,
  KEYSET,
  LOG_GROUP,
  ROTATION_LOG,
  pool,
  requestsTo,
  runCli,
  snapshot,
  stderrLines,
  type Target,
  WRITES,
} from './faults';

const DAY = 86_400_000;
/** Far above what a case needs (slow: 4 attempts of 1 s plus backoff; throttle: up to 3.5 s of backoff), with ten processes sharing the cores. */
const BOUND_MS = 20_000;
const CONCURRENCY = 10;
const S3_KEY = 'keysets/prod-backup-1';

/** Fixed for the run, so that every fixture built from it is the same keyset. */
const NOW = Date.now();
const ago = (days: number): string => new Date(NOW - days * DAY).toISOString();
const material = (n: number): string => Buffer.alloc(32, n).toString('base64');

/** v1 enabled, v2 disabled (compromised), v3 primary, 40 days old. */
function seededKeyset(): Keyset {
  let k = createKeyset({ material: material(1), now: ago(200) });
  k = rotateKeyset(k, { material: material(2), now: ago(120) });
  k = rotateKeyset(k, { material: material(3), now: ago(40) });
  return disableVersion(k, 2, { now: ago(30), reason: 'INC-0 exposed' });
}

interface Ctx {
  readonly aws: AwsStandIn;
  /** The case's scratch directory (cwd, HOME, inputs and outputs). */
  readonly dir: string;
  /** A HOME with no ~/.aws, for the no-region fault. */
  readonly emptyHome: string;
  readonly auditLog: string;
  /** Moves the stand-in's clock (seeding old versions); 0 = now. */
  setClockOffset(ms: number): void;
}

interface CommandCase {
  readonly name: string;
  /** Seeds the stand-in and the case's files; returns the command line after the global options. */
  readonly setup: (ctx: Ctx) => Promise<string[]> | string[];
  /** The call the command exists to make: where the fault is aimed. */
  readonly target: Target;
  /** How the error line names the target (`PutSecretValue on secret ...`). */
  readonly names: string;
  /** How it names the first call, which a refused connection or a missing region fails. @default GetSecretValue of the keyset */
  readonly namesFirst?: string;
  readonly stdin?: string;
  /** Local files that must not exist after the failure. */
  readonly outputs?: (ctx: Ctx, fault: FaultName) => string[];
  /** Local files it must keep (mode 0600) after the failure: what may be the only way into something it may have stored. */
  readonly kept?: (ctx: Ctx, fault: FaultName) => string[];
  /** What the error line must also say under this fault. */
  readonly alsoSays?: (fault: FaultName) => RegExp | undefined;
  /** Needs no AWS: must succeed under every fault, printing this. */
  readonly offline?: RegExp;
}

const onKeyset = (op: string) => `${op} on secret ${KEYSET}`;
const SM = (operation: string): Target => ({ service: 'secretsmanager', operation });

function seedKeyset(ctx: Ctx, keyset: Keyset = seededKeyset()): void {
  const key = ctx.aws.kms.createKey({ rotationEnabled: true });
  ctx.aws.secretsManager.createSecret(KEYSET, { kmsKeyId: key.arn, secretString: serializeKeyset(keyset) });
}

function seedEmptySecret(ctx: Ctx): void {
  const key = ctx.aws.kms.createKey({ rotationEnabled: true });
  ctx.aws.secretsManager.createSecret(KEYSET, { kmsKeyId: key.arn });
}

function seedRotation(ctx: Ctx): void {
  seedKeyset(ctx);
  // Configured as the stack does; no function behind it: the fault stops the command before Secrets Manager would invoke one.
  ctx.aws.secretsManager.configureRotation(KEYSET, { lambdaArn: FUNCTION_ARN, rules: { ScheduleExpression: 'rate(90 days)', Duration: '4h' }, rotateImmediately: false });
}

async function envelopeUnder(keyset: Keyset, plaintext: string): Promise<string> {
  const manager = new KeyManager({ store: new MemoryStore('seed', keyset) });
  return JSON.stringify(await manager.encrypt(plaintext, 'trading_data'));
}

const COMMANDS: readonly CommandCase[] = [
  {
    name: 'generate',
    setup: (ctx) => (seedKeyset(ctx), ['generate']),
    target: SM('GetSecretValue'),
    names: '',
    offline: /^[A-Za-z0-9+/]{43}=\n$/,
  },
  {
    name: 'init',
    setup: (ctx) => (seedEmptySecret(ctx), ['init']),
    target: SM('PutSecretValue'),
    names: onKeyset('PutSecretValue'),
  },
  { name: 'status', setup: (ctx) => (seedKeyset(ctx), ['status']), target: SM('GetSecretValue'), names: onKeyset('GetSecretValue') },
  { name: 'rotate', setup: (ctx) => (seedRotation(ctx), ['rotate', '--wait', '30']), target: SM('RotateSecret'), names: onKeyset('RotateSecret') },
  {
    name: 'rotate --emergency --reason',
    setup: (ctx) => (seedRotation(ctx), ['rotate', '--emergency', '--reason', 'INC-9 key exposed', '--wait', '30']),
    // The emergency keyset is staged (PutSecretValue) before RotateSecret: the first change it makes.
    target: SM('PutSecretValue'),
    names: onKeyset('PutSecretValue'),
  },
  { name: 'derive', setup: (ctx) => (seedKeyset(ctx), ['derive', '--context', 'trading_data']), target: SM('GetSecretValue'), names: onKeyset('GetSecretValue') },
  { name: 'encrypt', setup: (ctx) => (seedKeyset(ctx), ['encrypt', '--context', 'trading_data']), stdin: 'order 42: buy 100', target: SM('GetSecretValue'), names: onKeyset('GetSecretValue') },
  {
    name: 'decrypt',
    setup: async (ctx) => {
      seedKeyset(ctx);
      const file = path.join(ctx.dir, 'record.json');
      writeFileSync(file, await envelopeUnder(seededKeyset(), 'order 42: buy 100'));
      return ['decrypt', '--in', file];
    },
    target: SM('GetSecretValue'),
    names: onKeyset('GetSecretValue'),
  },
  { name: 'health', setup: (ctx) => (seedKeyset(ctx), ['health']), target: SM('GetSecretValue'), names: onKeyset('GetSecretValue') },
  {
    name: 'disable-version',
    setup: (ctx) => (seedKeyset(ctx), ['disable-version', '--version', '1', '--reason', 'INC-7 retired']),
    target: SM('PutSecretValue'),
    names: onKeyset('PutSecretValue'),
  },
  { name: 'enable-version', setup: (ctx) => (seedKeyset(ctx), ['enable-version', '--version', '2']), target: SM('PutSecretValue'), names: onKeyset('PutSecretValue') },
  {
    name: 'destroy-version',
    setup: (ctx) => (seedKeyset(ctx), ['destroy-version', '--version', '2', '--reason', 'INC-0 data re-encrypted', '--confirm']),
    target: SM('PutSecretValue'),
    names: onKeyset('PutSecretValue'),
  },
  {
    name: 'purge-history',
    setup: (ctx) => {
      // Two days ago version 2 was destroyed; the version before that write (unlabelled now) still holds its material.
      ctx.setClockOffset(-2 * DAY);
      seedKeyset(ctx);
      const sm = ctx.aws.secretsManager;
      const old = sm.versionWithStage(KEYSET, 'AWSCURRENT') as string;
      const destroyed = destroyVersion(seededKeyset(), 2, { now: ago(2) });
      const current = sm.putSecretValue({ SecretId: KEYSET, SecretString: serializeKeyset(destroyed), ClientRequestToken: `destroy-${'0'.repeat(32)}` }).VersionId;
      sm.updateSecretVersionStage({ SecretId: KEYSET, VersionStage: 'AWSPREVIOUS', MoveToVersionId: current, RemoveFromVersionId: old });
      ctx.setClockOffset(0);
      return ['purge-history', '--confirm'];
    },
    target: SM('PutSecretValue'),
    names: onKeyset('PutSecretValue'),
  },
  {
    name: 'reencrypt',
    setup: async (ctx) => {
      seedKeyset(ctx);
      const input = path.join(ctx.dir, 'records.jsonl');
      // A record under version 1 (to be rewrapped onto 3) and one line without an envelope.
      writeFileSync(input, `${await envelopeUnder(createKeyset({ material: material(1), now: ago(200) }), 'old order')}\n{"note":"no envelope"}\n`);
      return ['reencrypt', '--in', input, '--out', path.join(ctx.dir, 'out', 'records.jsonl')];
    },
    target: SM('GetSecretValue'),
    names: onKeyset('GetSecretValue'),
    outputs: (ctx) => [path.join(ctx.dir, 'out', 'records.jsonl')],
  },
  {
    name: 'export (file)',
    setup: (ctx) => {
      seedKeyset(ctx);
      return ['export', '--out', path.join(ctx.dir, 'backups', 'keyset.backup'), '--backup-key-out', path.join(ctx.dir, 'keys', 'backup.key')];
    },
    target: SM('GetSecretValue'),
    names: onKeyset('GetSecretValue'),
    outputs: (ctx) => [path.join(ctx.dir, 'backups', 'keyset.backup'), path.join(ctx.dir, 'keys', 'backup.key')],
  },
  {
    name: 'export (s3://)',
    setup: (ctx) => {
      seedKeyset(ctx);
      ctx.aws.s3.createBucket(BUCKET);
      return ['export', '--out', `s3://${BUCKET}/${S3_KEY}`, '--backup-key-out', path.join(ctx.dir, 'keys', 'backup.key')];
    },
    target: { service: 's3', operation: 'PutObject' },
    names: `s3:PutObject on s3://${BUCKET}/${S3_KEY}`,
    // The new backup key is removed when the upload failed, but kept when its answer never came: the backup may be stored.
    outputs: (ctx, fault) => (fault === 'slow' ? [] : [path.join(ctx.dir, 'keys', 'backup.key')]),
    kept: (ctx, fault) => (fault === 'slow' ? [path.join(ctx.dir, 'keys', 'backup.key')] : []),
    alsoSays: (fault) => (fault === 'slow' ? /whether the backup was stored is unknown; its new backup key stays at \S+\/keys\/backup\.key, the one key that would open it — look \(aws s3api head-object/ : undefined),
  },
  {
    name: 'recover',
    setup: (ctx) => {
      seedKeyset(ctx);
      // A backup holding one more version than the store: a safe recovery, which writes.
      const keyText = FernetKey.generate(systemRandom);
      const keyFile = path.join(ctx.dir, 'keys', 'backup.key');
      const backupFile = path.join(ctx.dir, 'backups', 'keyset.backup');
      writeFileSync(keyFile, `${keyText}\n`, { mode: 0o600 });
      const newer = rotateKeyset(seededKeyset(), { material: material(4), now: ago(1) });
      writeFileSync(backupFile, sealBackup(newer, { source: { store: 'aws', location: KEYSET }, key: FernetKey.parse(keyText), now: new Date(), iv: randomBytes(16) }));
      return ['recover', '--in', backupFile, '--backup-key-file', keyFile];
    },
    target: SM('PutSecretValue'),
    names: onKeyset('PutSecretValue'),
  },
  {
    name: 'import-legacy',
    setup: (ctx) => {
      seedEmptySecret(ctx);
      const file = path.join(ctx.dir, 'keys', 'legacy-master.key');
      writeFileSync(file, `${material(9)}\n`, { mode: 0o600 });
      return ['import-legacy', '--master-key-file', file, '--version', '3', '--created-at', '2024-01-15T00:00:00Z'];
    },
    target: SM('PutSecretValue'),
    names: onKeyset('PutSecretValue'),
  },
  {
    name: 'audit (local)',
    setup: (ctx) => {
      seedKeyset(ctx);
      writeFileSync(ctx.auditLog, `${JSON.stringify({ time: ago(1), action: 'rotate', actor: 'oncall', store: 'aws', secret: KEYSET, outcome: 'success', version: 3 })}\n`);
      return ['audit'];
    },
    target: SM('GetSecretValue'),
    names: '',
    offline: new RegExp(`: rotate - ${KEYSET.replace(/\//g, '\\/')} version=3 outcome=success actor=oncall\\n$`),
  },
  {
    name: 'audit --log-group',
    setup: (ctx) => {
      seedKeyset(ctx);
      ctx.aws.logs.createLogGroup(LOG_GROUP);
      ctx.aws.logs.putEvents(LOG_GROUP, [{ timestamp: Date.now() - DAY, message: JSON.stringify({ time: ago(1), action: 'rotate', actor: 'lambda:rotation', store: 'aws', secret: KEYSET, outcome: 'success', version: 3 }) }]);
      return ['audit', '--log-group', LOG_GROUP];
    },
    target: { service: 'logs', operation: 'FilterLogEvents' },
    names: `logs:FilterLogEvents on log group ${LOG_GROUP}`,
    namesFirst: `logs:FilterLogEvents on log group ${LOG_GROUP}`,
  },
];

interface CaseResult {
  readonly run: ProcessResult;
  readonly before: string;
  readonly after: string;
  readonly attempts: number;
  /** Every request the stand-in received, as service:operation. */
  readonly calls: string[];
  readonly audit: Array<{ action?: string; outcome?: string }>;
  readonly leftovers: string[];
  /** For each file the case must keep: whether it exists with mode 0600. */
  readonly kept: boolean[];
}

const results = new Map<string, CaseResult>();
const key = (command: string, fault: FaultName) => `${command} × ${fault}`;

async function runCase(command: CommandCase, fault: FaultName): Promise<CaseResult> {
  let offset = 0;
  const aws = await startAwsStandIn({ clock: () => new Date(Date.now() + offset) });
  const dir = mkdtempSync(path.join(tmpdir(), 'cli-faults-'));
  try {
    for (const sub of ['home', 'empty-home', 'backups', 'keys', 'out']) mkdirSync(path.join(dir, sub), { mode: 0o700 });
    const ctx: Ctx = { aws, dir, emptyHome: path.join(dir, 'empty-home'), auditLog: path.join(dir, 'audit.jsonl'), setClockOffset: (ms) => (offset = ms) };
    const args = await command.setup(ctx);
    const outputs = command.outputs?.(ctx, fault) ?? [];
    const kept = command.kept?.(ctx, fault) ?? [];
    const before = snapshot(aws, [KEYSET], outputs);
    const target = command.offline ? 'everything' : command.target;
    const env = await injectFault(aws, fault, target, cliEnv(aws, path.join(dir, 'home')), ctx.emptyHome);
    const run = await runCli(['--store', `aws:${KEYSET}`, '--audit-log', ctx.auditLog, ...args], { env, cwd: dir, stdin: command.stdin });
    const after = snapshot(aws, [KEYSET], outputs);
    const audit = existsSync(ctx.auditLog)
      ? readFileSync(ctx.auditLog, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { action?: string; outcome?: string })
      : [];
    // Temporary files of an output that was never committed (reencrypt's .tmp-*, a half-written export).
    const leftovers = ['out', 'backups', 'keys'].flatMap((sub) => readdirSync(path.join(dir, sub)).filter((f) => f.startsWith('.')).map((f) => `${sub}/${f}`));
    const keptOk = kept.map((f) => existsSync(f) && (statSync(f).mode & 0o777) === 0o600);
    return { run, before, after, attempts: requestsTo(aws, command.target), calls: aws.requests.map((r) => `${r.service}:${r.operation}`), audit, leftovers, kept: keptOk };
  } finally {
    await aws.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const tally = new CaseTally('cli faults');

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first (npm test does)`);
  const cases = FAULTS.flatMap((fault) => COMMANDS.map((command) => ({ command, fault })));
  await pool(cases, CONCURRENCY, async ({ command, fault }) => {
    results.set(key(command.name, fault), await runCase(command, fault));
  });
}, 600_000);

afterAll(() => tally.print());

describe.each(FAULTS)('under %s', (fault) => {
  const failing = COMMANDS.filter((c) => !c.offline);
  const offline = COMMANDS.filter((c) => c.offline);

  it.each(failing.map((c) => [c.name, c] as const))('%s exits 1 with one actionable error line, claims nothing, changes nothing', (_name, command) => {
    const r = results.get(key(command.name, fault)) as CaseResult;
    tally.check(() => {
      const { run } = r;
      const code = EXPECTED_CODE[fault];
      const lines = stderrLines(run.stderr);
      expect({ exit: run.code, timedOut: run.timedOut, stderr: run.stderr }).toMatchObject({ exit: 1, timedOut: false });
      expect(lines.other).toEqual([]);
      expect(lines.errors).toHaveLength(1);
      const [error] = lines.errors;
      expect(error).toMatch(new RegExp(`^error \\[${code}\\]: `));
      expect(error).toContain(fault === 'refused' || fault === 'no-region' ? (command.namesFirst ?? onKeyset('GetSecretValue')) : command.names);
      expect(error).toMatch(EXPECTED_HINT[fault]);
      // A change whose answer never came may have been made: the operator must look before running it again.
      if (fault === 'slow' && command.target.service === 'secretsmanager' && WRITES.has(command.target.operation ?? '')) expect(error).toMatch(/whether it was applied is unknown; .*; run 'key-manager --store aws:\S+ status' to see whether it landed$/);
      // CloudWatch was unreachable too only when the whole environment was: then at most one metrics warning (none from
      // a command that recorded no metric); otherwise none.
      if (fault === 'refused' || fault === 'no-region') {
        expect(lines.warnings.length).toBeLessThanOrEqual(1);
        for (const w of lines.warnings) expect(w).toMatch(/^warning: metrics were not sent to CloudWatch: /);
      } else {
        expect(lines.warnings).toEqual([]);
      }
      expect(run.stdout).toBe('');
      expect(r.audit.filter((e) => e.outcome === 'success')).toEqual([]);
      expect(r.after).toBe(r.before);
      expect(r.leftovers).toEqual([]);
      expect(r.kept.every(Boolean)).toBe(true);
      const also = command.alsoSays?.(fault);
      if (also) expect(error).toMatch(also);
      if (isRetried(fault)) expect({ attempts: r.attempts }).toEqual({ attempts: defaultAttempts(command.target.service) });
      expect(run.durationMs).toBeLessThan(BOUND_MS);
    });
  });

  it.each(offline.map((c) => [c.name, c] as const))('%s needs no AWS: it succeeds and changes nothing', (_name, command) => {
    const r = results.get(key(command.name, fault)) as CaseResult;
    tally.check(() => {
      expect({ exit: r.run.code, stderr: r.run.stderr }).toEqual({ exit: 0, stderr: '' });
      expect(r.run.stdout).toMatch(command.offline as RegExp);
      expect(r.after).toBe(r.before);
      // generate opens no store; audit asks STS only who the caller is (and falls back when it cannot say).
      expect(r.calls.filter((c) => !c.startsWith('sts:'))).toEqual([]);
      expect(r.run.durationMs).toBeLessThan(BOUND_MS);
    });
  });
});

describe('rotate whose rotation the rotation function fails', () => {
  interface RotateRun {
    readonly run: ProcessResult;
    readonly current: string | undefined;
    readonly currentValue: string | undefined;
    readonly pending: string | undefined;
    readonly steps: string[];
  }
  const runs = new Map<string, RotateRun>();
  const VARIANTS = [
    ['rotate', [] as string[]],
    ['rotate --emergency --reason', ['--emergency', '--reason', 'INC-9 key exposed']],
  ] as const;

  beforeAll(async () => {
    const bundle = await bundleRotationHandler();
    await Promise.all(
      VARIANTS.map(async ([name, extra]) => {
        const aws = await startAwsStandIn();
        const dir = mkdtempSync(path.join(tmpdir(), 'cli-faults-rotate-'));
        try {
          const key = aws.kms.createKey({ rotationEnabled: true });
          const sm = aws.secretsManager;
          sm.createSecret(KEYSET, { kmsKeyId: key.arn, secretString: serializeKeyset(seededKeyset()) });
          sm.createSecret(ROTATION_LOG, { kmsKeyId: key.arn });
          sm.configureRotation(KEYSET, { lambdaArn: FUNCTION_ARN, rules: { ScheduleExpression: 'rate(90 days)' }, rotateImmediately: false });
          const functionEnv = aws.env({ KEYSET_SECRET_ID: sm.arnOf(KEYSET), ROTATION_LOG_SECRET_ID: sm.arnOf(ROTATION_LOG), ROTATION_PERIOD_DAYS: '90', STAGE: 'prod' });
          sm.rotationFunction = bundleRotationFunction(bundle, functionEnv, { timeoutMs: 20_000 });
          // The function's read of the version under the token (createSecret's first look) is denied: its step fails.
          aws.faults.add({ service: 'secretsmanager', operation: 'GetSecretValue', kind: 'access-denied', match: (input) => input.VersionId !== undefined });
          const before = { current: sm.versionWithStage(KEYSET, 'AWSCURRENT'), value: sm.value(KEYSET) };
          const run = await runCli(['--store', `aws:${KEYSET}`, '--audit-log', path.join(dir, 'audit.jsonl'), 'rotate', '--wait', '3', ...extra], { env: cliEnv(aws, dir), cwd: dir });
          await sm.rotationsSettled();
          expect(before.current).toBeDefined();
          runs.set(name, {
            run,
            current: sm.versionWithStage(KEYSET, 'AWSCURRENT') === before.current ? 'unchanged' : 'moved',
            currentValue: sm.value(KEYSET) === before.value ? 'unchanged' : 'changed',
            pending: sm.versionWithStage(KEYSET, 'AWSPENDING'),
            steps: sm.invocations.map((i) => `${i.step}:${i.outcome}`),
          });
        } finally {
          await aws.close();
          rmSync(dir, { recursive: true, force: true });
        }
      }),
    );
  }, 120_000);

  it.each(VARIANTS.map(([name]) => [name] as const))('%s exits 1 when --wait is over: not known to have happened, follow it with status; AWSCURRENT untouched', (name) => {
    const r = runs.get(name) as RotateRun;
    tally.check(() => {
      const { errors, warnings, other } = stderrLines(r.run.stderr);
      expect({ exit: r.run.code, stdout: r.run.stdout, timedOut: r.run.timedOut }).toEqual({ exit: 1, stdout: '', timedOut: false });
      expect(r.steps).toEqual(['createSecret:failed']);
      expect(errors).toEqual([expect.stringMatching(/^error \[ROTATION_IN_PROGRESS\]: Secrets Manager's rotation \S+ of secret .* has not finished after \d+ s; .* it is not known to have happened; follow it with 'key-manager (--store \S+ )?status'/)]);
      expect(warnings).toEqual([]);
      // Progress while it waits, and nothing else.
      for (const line of other) expect(line).toMatch(/^waiting for Secrets Manager to finish rotation /);
      expect({ current: r.current, value: r.currentValue }).toEqual({ current: 'unchanged', value: 'unchanged' });
      // Secrets Manager's own state for a rotation whose step failed: AWSPENDING stays, and it retries.
      expect(r.pending).toMatch(/^(manual|emergency)-/);
      expect(r.run.durationMs).toBeLessThan(BOUND_MS);
    });
  });
});
