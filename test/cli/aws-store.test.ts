import 'aws-sdk-client-mock-jest';
import { CloudWatchClient, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createKeyset, keysetText, parseKeyset, rotateKeyset } from '../../lambda/keys/keyset';
import { material } from '../support/fixed';
import seed from '../fixtures/seed-backup.json';
import { FakeSecretsManager } from '../support/fake-secrets-manager';
import { runCli } from '../support/cli';

const SECRET = 'alphapulse/encryption/master_key';
const ROLE_ARN = 'arn:aws:sts::123456789012:assumed-role/alphapulse-keys-prod-key-administrator/oncall';

let sm: FakeSecretsManager;
const sts = mockClient(STSClient);
const cloudwatch = mockClient(CloudWatchClient);
let dir: string;
let auditLog: string;

const aws = (...args: string[]) => runCli(['--store', `aws:${SECRET}`, '--region', 'us-east-1', '--audit-log', auditLog, ...args], { env: {} });
const auditEvents = () => readFileSync(auditLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
const metricNames = () => cloudwatch.commandCalls(PutMetricDataCommand).flatMap((c) => (c.args[0].input.MetricData ?? []).map((d) => d.MetricName));

beforeEach(() => {
  sm = new FakeSecretsManager().createSecret(SECRET);
  sts.reset();
  cloudwatch.reset();
  sts.on(GetCallerIdentityCommand).resolves({ Arn: ROLE_ARN, Account: '123456789012', UserId: 'AROA:oncall' });
  cloudwatch.on(PutMetricDataCommand).resolves({});
  dir = mkdtempSync(path.join(os.tmpdir(), 'km-aws-'));
  auditLog = path.join(dir, 'audit.jsonl');
});
afterEach(() => {
  sm.restore();
  rmSync(dir, { recursive: true, force: true });
});
afterAll(() => {
  sts.restore();
  cloudwatch.restore();
});

describe('key-manager --store aws:SECRET_ID', () => {
  it('init creates version 1 in the empty secret and audits as the STS caller', async () => {
    const r = await aws('init');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`created keyset in ${SECRET} (aws), primary version 1`);
    expect(parseKeyset(sm.valueAt(SECRET, 'AWSCURRENT') as string).primary).toBe(1);
    expect(auditEvents().at(-1)).toMatchObject({ action: 'init', outcome: 'success', actor: ROLE_ARN, store: 'aws', secret: SECRET });
  });

  it('init refuses to overwrite an existing keyset', async () => {
    await aws('init');
    const r = await aws('init');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error \[KEYSET_EXISTS\]/);
  });

  it('status reads AWSCURRENT and shows the keyset', async () => {
    await aws('init');
    const r = await aws('--json', 'status');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ store: 'aws', location: SECRET, primary: 1, enabledVersions: 1 });
  });

  it('status names a version left with the staging label by a write that could not remove it, and how to remove it', async () => {
    await aws('init');
    // A compare-and-set write that lost the race and then failed to remove its label leaves exactly this behind.
    const client = new SecretsManagerClient({ region: 'us-east-1' });
    await client.send(new PutSecretValueCommand({ SecretId: SECRET, SecretString: sm.valueAt(SECRET, 'AWSCURRENT'), VersionStages: ['ALPHAPULSE_STAGED'], ClientRequestToken: 'a'.repeat(36) }));
    const left = Object.entries(sm.labels(SECRET)).find(([, stages]) => stages.includes('ALPHAPULSE_STAGED'))?.[0];
    const r = await aws('status');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`leftover:  version ${left} still carries ALPHAPULSE_STAGED`);
    expect(r.stdout).toContain(`remove it with: aws secretsmanager update-secret-version-stage --secret-id ${SECRET} --version-stage ALPHAPULSE_STAGED --remove-from-version-id ${left}`);
    expect(JSON.parse((await aws('--json', 'status')).stdout).rotation.leftoverLabels).toEqual([expect.objectContaining({ versionId: left, label: 'ALPHAPULSE_STAGED' })]);
  });

  it('destroy-version whose material older versions still hold exits 1 and names the purge-history command for this store', async () => {
    const v1 = createKeyset({ material: material(1), now: new Date(Date.now() - 86_400_000).toISOString() });
    const v2 = rotateKeyset(v1, { material: material(2), now: new Date().toISOString(), disablePrevious: true, reason: 'leaked' });
    sm = sm.createSecret(SECRET, keysetText(v1));
    const client = new SecretsManagerClient({ region: 'us-east-1' });
    await client.send(new PutSecretValueCommand({ SecretId: SECRET, SecretString: keysetText(v2), ClientRequestToken: 'b'.repeat(36) }));
    const r = await aws('destroy-version', '--version', '1', '--reason', 'leaked', '--confirm');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^destroyed version 1 in the keyset at \S+, but its material is not gone everywhere yet:\n  .*still hold the destroyed material/);
    expect(r.stdout).toContain(`purge the secret's history after `);
    expect(r.stdout).toContain(`; run 'key-manager --store aws:${SECRET} purge-history --confirm'`);
    expect(parseKeyset(sm.valueAt(SECRET, 'AWSCURRENT') as string).versions[0]).toMatchObject({ state: 'destroyed' });
  });

  it('status without a keyset says how to init', async () => {
    const r = await aws('status');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('[KEYSET_NOT_FOUND]');
    expect(r.stderr).toContain(`key-manager --store aws:${SECRET} init`);
  });

  it('rotate asks Secrets Manager to rotate, and says what to do when the secret has no rotation configured', async () => {
    await aws('init');
    const r = await aws('rotate');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error \[ROTATION_FAILED\]: secret .* has no rotation function configured.*deploy the stack/);
    expect(sm.versions(SECRET)).toHaveLength(1);
    expect(sm.calls.some((c) => c.command === 'PutSecretValue' && c.input.VersionStages !== undefined && (c.input.VersionStages as string[]).includes('AWSPENDING'))).toBe(false);
    expect(auditEvents().at(-1)).toMatchObject({ action: 'rotate', outcome: 'failure', code: 'ROTATION_FAILED', actor: ROLE_ARN });
  });

  it('encrypt and decrypt round-trip through the aws store', async () => {
    await aws('init');
    const enc = await runCli(['--store', `aws:${SECRET}`, '--region', 'us-east-1', '--audit-log', auditLog, 'encrypt', '--context', 'trading_data'], { stdin: 'order 42: buy 100' });
    expect(enc.code).toBe(0);
    expect(JSON.parse(enc.stdout)).toMatchObject({ key_version: 1, context: 'trading_data', format: 'AP2' });
    const dec = await runCli(['--store', `aws:${SECRET}`, '--region', 'us-east-1', '--audit-log', auditLog, 'decrypt'], { stdin: enc.stdout });
    expect(dec.code).toBe(0);
    expect(dec.stdout).toBe('order 42: buy 100');
    expect(metricNames()).toContain('KeyDerivations');
  });

  it('maps AWS failures to typed errors with a hint', async () => {
    await aws('init');
    sm.failNext('GetSecretValue', 'access-denied');
    const denied = await aws('status');
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/error \[ACCESS_DENIED\].*Application Service role/);
    sm.failNext('GetSecretValue', 'throttling');
    const throttled = await aws('status');
    expect(throttled.stderr).toMatch(/error \[THROTTLED\].*retries with backoff were exhausted/);
  });

  it('access denied names the role the command needs: Key Administrator for a change, Backup Service for export', async () => {
    await aws('init');
    sm.failNext('GetSecretValue', 'access-denied');
    const rotate = await aws('rotate');
    expect(rotate).toMatchObject({ code: 1, stderr: expect.stringMatching(/^error \[ACCESS_DENIED\]: .*; 'key-manager rotate' runs as the stack's Key Administrator role \(output KeyAdministratorRoleArn\)\n$/) });
    sm.failNext('GetSecretValue', 'access-denied');
    const disable = await aws('disable-version', '--version', '1', '--reason', 'x');
    expect(disable.stderr).toMatch(/'key-manager disable-version' runs as the stack's Key Administrator role/);
    sm.failNext('GetSecretValue', 'access-denied');
    const keyFile = path.join(dir, 'backup.key');
    writeFileSync(keyFile, `${seed.backup_key}\n`, { mode: 0o600 });
    const backup = await aws('export', '--out', 's3://alphapulse-backups/b.fernet', '--backup-key-file', keyFile);
    expect(backup.stderr).toMatch(/'key-manager export' runs as the stack's Backup Service role \(output BackupServiceRoleArn\)/);
  });

  it('refuses --endpoint-url http:// to a remote host as a usage error, before any request: the keyset would travel in cleartext', async () => {
    const r = await runCli(['--store', `aws:${SECRET}`, '--region', 'us-east-1', '--endpoint-url', 'http://10.1.2.3:4566', '--audit-log', auditLog, 'status'], { env: {} });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/error \[INVALID_INPUT\]: the Secrets Manager endpoint .* is http:\/\/ to 10\.1\.2\.3, which would send the keyset in cleartext/);
    expect(sm.calls).toEqual([]);
  });

  it('falls back to the OS user when STS cannot answer', async () => {
    sts.on(GetCallerIdentityCommand).rejects(new Error('no credentials'));
    await aws('init');
    expect(auditEvents().at(-1)?.actor).toBe(os.userInfo().username);
  });

  it('file stores call neither STS nor CloudWatch', async () => {
    const r = await runCli(['--store', `file:${path.join(dir, 'keyset.json')}`, '--audit-log', auditLog, 'init'], { env: {} });
    expect(r.code).toBe(0);
    expect(sts.commandCalls(GetCallerIdentityCommand)).toHaveLength(0);
    expect(cloudwatch.commandCalls(PutMetricDataCommand)).toHaveLength(0);
  });
});
