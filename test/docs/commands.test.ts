/**
 * Every command line in README.md, RUNBOOK.md and docs/*.md, and every command an alarm description or an
 * event rule's message names after `First:`, runs as written (issues 11 and 12).
 *
 * The commands are found by doc-commands.ts and run in document order, one document a scenario, in a bash
 * session that keeps its directory and exports from line to line (shell-session.ts), each section starting
 * in the scenario's working directory. `key-manager` is the built CLI (a shim on PATH), against a file store
 * in a temporary directory, the loopback AWS stand-in (test/support/aws: Secrets Manager with the rotation
 * handler bundle that npm run build ships, dist/rotation-handler, as its rotation function behind Lambda Invoke,
 * warm between invocations) or the Vault stand-in; `aws` is the AWS CLI on this machine pointed at the stand-in;
 * `npx cdk` and `npm run` run in scratch copies of this checkout (symlinks), without AWS credentials and with
 * CDK's built-in validation off (it only warns in this app; test/lib/cfn-lint.test.ts enforces it). Two lanes of
 * documents and two of repository commands run side by side; on 2 cores the suite is bound by CPU. Placeholders are filled from PLACEHOLDERS; a command that is not run is
 * in NOT_RUN with the reason; a command the docs show failing is in SHOWN_FAILING (or its transcript says
 * `[exit N]`). The alarm and event commands come from the template `npx cdk synth` writes for prod, and run in
 * the RUNBOOK scenario at the end of the section named like the alarm.
 */
import { randomUUID } from 'node:crypto';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { KeyManager } from '../../lambda/key-manager';
import { createKeyset, type Keyset, parseKeyset, rotateKeyset, serializeKeyset, setPrimary } from '../../lambda/keys/keyset';
import { MemoryStore } from '../../lambda/stores/memory-store';
import { type AwsStandIn, type ProcessResult, runProcess, startAwsStandIn, warmLambdaHandler, type WarmLambdaHandler } from '../support/aws';
import { ADMIN_POLICY, FakeVault, TLS_FIXTURES } from '../support/fake-vault';
import seedBackup from '../fixtures/seed-backup.json';
import legacyVectors from '../fixtures/legacy-vectors.json';
import { toV1 } from './aws-cli-v2';
import { alarmCommands, type DocCommand, extractCommands, unfilledPlaceholders } from './doc-commands';
import { ShellSession } from './shell-session';

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'dist', 'bin', 'key-manager.js');
const DOCS = ['README.md', 'RUNBOOK.md', ...readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
const HOUR = 3_600_000;
/** The context key that makes aws-cdk-lib's built-in CloudFormation validation fail a synth on its errors. */
const VALIDATE_AGAINST_DEFAULT_RULES = '@aws-cdk/core:validateAgainstDefaultRules';
/** PATH as an operator has it: npm and npx put node_modules/.bin first for the test run; an operator's shell does not. */
const OPERATOR_PATH = (process.env.PATH ?? '')
  .split(':')
  .filter((dir) => dir !== '' && !dir.endsWith(`node_modules${path.sep}.bin`) && !dir.includes(`${path.sep}node_modules${path.sep}`))
  .join(':');

/** The prod stage as the stack names it (checked against the synthesized template). */
const PROD = {
  secret: 'alphapulse/encryption/master_key',
  logSecret: 'alphapulse/encryption/rotation_log',
  fn: 'alphapulse-keys-prod-rotation',
  logGroup: '/alphapulse/keys/prod/rotation',
  bucket: 'alphapulse-keys-prod-backups-123456789012',
  appLogGroup: '/alphapulse/trading-engine',
};

// ------------------------------------------------------------------------------------------------ the tables

/**
 * Commands that are not run, each with the reason; `check` verifies what can be verified without running it.
 * Keyed by the command as written. An entry that matches no command fails the test: the table only shrinks.
 */
const NOT_RUN: ReadonlyArray<{ readonly command: string; readonly reason: string; readonly check?: (t: Tools) => Promise<void> }> = [
  { command: 'npm test', reason: 'this suite: npm test runs jest, and jest runs this file' },
  { command: 'npm ci', reason: 'replaces node_modules under the running suite; CI runs it on a clean clone (.ci/run)' },
  { command: 'npm ci && npm run quickstart', reason: 'npm ci replaces node_modules under the running suite; `npm run quickstart` alone is run' },
  { command: 'npm ci && npm install -g .', reason: 'npm ci replaces node_modules under the running suite, and install -g changes the machine; the clone and checkout before it are run' },
  { command: 'npm ci && npm pack', reason: 'npm ci replaces node_modules under the running suite; the pack itself is checked with the tarball line below' },
  {
    command: 'sha256sum -c alphapulse-keys-0.1.0.tgz.sha256 && npm install -g ./alphapulse-keys-0.1.0.tgz',
    reason: "installs the tarball's dependencies from the npm registry, which this machine cannot reach, and install -g changes the machine; checked: npm pack writes alphapulse-keys-0.1.0.tgz with the bin, and its sha256sum -c passes",
    check: async (t) => {
      const tarball = await packOnce();
      const listed = await t.run(`sha256sum ${path.basename(tarball)} > ${path.basename(tarball)}.sha256 && sha256sum -c ${path.basename(tarball)}.sha256 && tar tzf ${path.basename(tarball)}`, { cwd: path.dirname(tarball) });
      t.expect(listed.code === 0 && listed.stdout.includes('package/dist/bin/key-manager.js'), `the tarball's checksum or its bin (dist/bin/key-manager.js) is wrong: ${listed.stderr}`);
    },
  },
  {
    command: 'npm pack',
    reason: "its prepare script (npm run build) rebuilds dist/ under the running suite; checked: the same pack without the rebuild (--ignore-scripts, dist/ as npm test built it) writes alphapulse-keys-<version>.tgz, the name the README gives",
    check: async () => void (await packOnce()),
  },
  {
    command: 'npm install ./alphapulse-keys-0.1.0.tgz',
    reason: "adds the package to a service's or CDK app's own project, its dependencies from the registry: test/package/consumer.test.ts (part of npm test) does exactly that, the npm pack tarball installed into a fresh project outside the repository from the npm cache, and uses both entries; checked: that test packs and installs the tarball",
    check: async (t) => {
      const file = path.join(ROOT, 'test', 'package', 'consumer.test.ts');
      const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
      t.expect(/\['pack', '--ignore-scripts'/.test(text) && /\['install', /.test(text), 'test/package/consumer.test.ts no longer packs the checkout and installs the tarball into a project');
    },
  },
  {
    command: 'npm install @alphapulse/keys',
    reason: "installs from the organisation's registry, which this machine does not have (the public registry is not where the scoped name is published); checked: the package is @alphapulse/keys, published restricted",
    check: async (t) => t.expect(t.pkg.name === '@alphapulse/keys' && t.pkg.publishConfig?.access === 'restricted', `package.json names ${t.pkg.name} (publishConfig ${JSON.stringify(t.pkg.publishConfig)}): the README's package name or registry note is stale`),
  },
  {
    command: 'npm run docs:api',
    reason: 'rewrites docs/api in the checkout (the scratch copy links the real docs/) while test/package/api-reference.test.ts, part of npm test, runs the same TypeDoc into a temporary directory and compares it with docs/api; checked: the script is typedoc and that test runs it',
    check: async (t) => {
      const file = path.join(ROOT, 'test', 'package', 'api-reference.test.ts');
      t.expect(t.scripts['docs:api'] === 'typedoc' && existsSync(file) && readFileSync(file, 'utf8').includes("'typedoc'"), `docs:api is '${t.scripts['docs:api']}', or test/package/api-reference.test.ts no longer runs TypeDoc`);
    },
  },
  {
    command: 'npx key-manager',
    reason: "the README's name for what works inside the repository (its quick start runs it) and what never to run outside; checked: npx key-manager in the repository runs this checkout's bin, offline",
    check: async (t) => {
      const r = await t.run('npx key-manager --version', { cwd: ROOT });
      t.expect(r.code === 0 && r.stdout.trim() === t.packageVersion, `npx key-manager --version in the repository: exit ${r.code}, ${r.stdout}${r.stderr}`);
    },
  },
  { command: 'npm run build', reason: 'the first step of `npm test` (checked against package.json), which ran before this suite', check: async (t) => t.expect(t.scripts.test.startsWith('npm run build'), `npm test no longer starts with npm run build: ${t.scripts.test}`) },
  { command: 'npm run lint', reason: 'a step of `npm test` (checked against package.json)', check: async (t) => t.expect(t.scripts.test.includes(t.scripts.lint), `npm test no longer runs ${t.scripts.lint}`) },
  {
    command: 'npm run test:reliability',
    reason: 'part of `npm test`: the same build, then jest over test/reliability, which npm test\'s jest also runs (checked against package.json)',
    check: async (t) => t.expect(/^npm run build --silent && jest test\/reliability$/.test(t.scripts['test:reliability']) && t.scripts.test.includes('jest'), `test:reliability changed: ${t.scripts['test:reliability']}`),
  },
  { command: 'RELIABILITY_SCALE=4 npm run test:reliability', reason: 'four times the reliability suite (several minutes): a soak, not a check of the docs; the suite itself runs in npm test' },
  ...['RELIABILITY_SEED=123 npx jest test/reliability/decrypt-fuzz', 'RELIABILITY_TRACE=1 RELIABILITY_SEED=20261201 RELIABILITY_SCALE=0.001 npx jest test/reliability/rotation-chaos', 'npx jest test/lambda/stores/vault-store.test.ts', 'npx jest test/process'].map((command) => ({
    command,
    reason: 'jest over one file or folder of this suite, which npm test runs; checked: it exists',
    check: async (t: Tools) => {
      const file = command.split(' ').pop() as string;
      t.expect(existsSync(path.join(ROOT, file)) || existsSync(path.join(ROOT, `${file}.test.ts`)), `${file} names no test file`);
    },
  })),
  { command: 'node test/reliability/rotate-worker.mjs', reason: 'the worker file-store-chaos.test.ts spawns with its arguments, not a command to type; checked: it exists', check: async (t) => t.expect(existsSync(path.join(ROOT, 'test/reliability/rotate-worker.mjs')), 'test/reliability/rotate-worker.mjs is gone') },
  { command: 'npm run bench', reason: 'a benchmark run of minutes whose figures are read, not asserted (bench/README.md); checked: the script exists', check: async (t) => t.expect(t.scripts.bench !== undefined, 'package.json has no bench script') },
  { command: 'npx cdk bootstrap aws://<account>/<region>', reason: 'bootstraps an AWS account: needs the account and its credentials' },
  { command: "npx cdk deploy AlphaPulseKeys-prod -c 'alphapulse:prod={\"roleTrust\":{\"keyAdministrator\":[\"arn:aws:iam::123456789012:role/KeyAdmins\"]}}'", reason: 'deploys to an AWS account' },
  { command: 'npx cdk deploy AlphaPulseKeys-prod', reason: 'deploys to an AWS account' },
  { command: 'npx cdk deploy AlphaPulseKeys-<stage>', reason: 'deploys to an AWS account' },
  { command: 'npx cdk diff AlphaPulseKeys-prod', reason: 'reads the deployed template from CloudFormation in the account (docs/cdk.md says it needs credentials); the --template form, local files only, is run' },
  ...['cdk synth', 'cdk diff', 'cdk deploy', 'cdk bootstrap'].map((command) => ({ command, reason: 'the command\'s name in prose (which cdk commands need credentials); its command lines are the `npx cdk ...` ones' })),
  ...[
    'vault secrets enable -path=alphapulse kv-v2',
    'vault login',
    'vault kv get -version=...',
    'vault kv destroy -mount=alphapulse -versions=2,3,4 encryption/master_key',
    'vault secrets enable -path=MOUNT kv-v2',
    'vault kv undelete ...',
    'vault operator unseal',
    'vault kv rollback -version=<last good> <mount>/<path>',
  ].map((command) => ({ command, reason: 'the Vault CLI: no Vault binary can be installed here (docs/vault.md, Tests); the key-manager commands against Vault run against the Vault stand-in' })),
  { command: 'key-manager ... export', reason: 'an elision in prose (`...` for the store options) naming what the export commands above do; those run' },
  { command: 'aws lambda invoke', reason: 'the call\'s name in prose, with a `{"action":"rotate",…}` payload; RUNBOOK.md runs the refused invoke in full' },
  { command: 'aws secretsmanager rotate-secret', reason: 'the call\'s name in prose; `aws secretsmanager rotate-secret --secret-id ...` runs in README.md, RUNBOOK.md and docs/rotation.md' },
  { command: 'aws sso login', reason: "named as what refreshes expired credentials: it signs in through the browser to the organisation's IAM Identity Center (an AWS CLI v2 command), which this machine has neither of" },
  { command: 'aws secretsmanager cancel-rotate-secret', reason: 'named as what is left to deployments and break glass (it turns the rotation schedule off), not a step to run' },
];

/** Commands the docs show failing, with the words that say so. (Transcripts say it with `[exit N]`.) */
const SHOWN_FAILING: ReadonlyArray<{ readonly doc: string; readonly command: string; readonly exit: number; readonly error?: string; readonly says: string }> = [
  { doc: 'docs/cdk.md', command: 'npx cdk synth -c stage=qa', exit: 1, says: 'stops every one of these commands ... with one line naming the field, then the CDK CLI\'s own line, and exit 1' },
  { doc: 'RUNBOOK.md', command: 'key-manager --store aws:$SECRET destroy-version --version N --reason "INC-1234" --confirm', exit: 1, says: 'On Secrets Manager this exits 1 and says how many older secret versions still hold the material' },
  {
    doc: 'RUNBOOK.md',
    command: `aws lambda invoke --function-name $FN --payload '{"action":"rotate"}' --cli-binary-format raw-in-base64-out out.json`,
    exit: 0,
    error: 'FunctionError',
    says: 'is refused: `out.json` holds its ROTATION_REFUSED error (the call itself succeeds)',
  },
];

/**
 * What each placeholder stands for and its value in the scenario. Keyed by the text as written (longest
 * first; some carry their context, as `--since <time>`); a hook may set a scenario's own value (`w.values`).
 */
const PLACEHOLDERS: ReadonlyArray<{ readonly text: string; readonly means: string; readonly value: (w: World) => string | Promise<string> }> = [
  { text: '<this repository>', means: 'the repository to clone', value: () => ROOT },
  { text: '<release tag or reviewed commit>', means: 'a reviewed commit', value: async () => (await runProcess('git', ['rev-parse', 'HEAD'], { cwd: ROOT })).stdout.trim() },
  { text: '<export>', means: 'a JSON Lines export of data under the keyset', value: (w) => w.exportFile('orders-export') },
  { text: '<new>', means: 'a new file name', value: () => 'orders-reencrypted' },
  { text: '<stage>', means: 'the stage', value: () => 'prod' },
  { text: '--since <time>', means: 'the time of the event', value: () => `--since ${new Date(Date.now() - HOUR).toISOString()}` },
  { text: 'keyset-<time>.fernet', means: 'the newest backup in the bucket', value: (w) => w.newestBackup() },
  { text: '<version id from status>', means: 'the AWSPENDING version the last `status` printed', value: (w) => w.fromOutput(/\bstatus$/, /in progress: version (\S+) is AWSPENDING/, 'the pending version') },
  { text: '<last good VersionId>', means: 'AWSPREVIOUS in the version list just printed', value: (w) => w.versionWithStage('AWSPREVIOUS') },
  { text: '<current VersionId>', means: 'AWSCURRENT in the version list just printed', value: (w) => w.versionWithStage('AWSCURRENT') },
  { text: '<key ARN from the alarm>', means: 'the storage key (the StorageKeyUnhealthy alarm names it)', value: (w) => w.storageKeyArn },
  { text: '<key ARN from the message>', means: 'the storage key (the StorageKeyEvent message names it)', value: (w) => w.storageKeyArn },
  { text: '<key ARN>', means: 'the storage key', value: (w) => w.storageKeyArn },
  { text: '<application log group>', means: "a service's log group with its audit events", value: () => PROD.appLogGroup },
  { text: '<group>', means: "a service's log group with its audit events", value: () => PROD.appLogGroup },
  { text: '<BackupBucketName output>', means: 'the stack output BackupBucketName', value: () => PROD.bucket },
  { text: '<what happened>', means: 'the incident', value: () => 'key material in a debug log' },
  { text: '--version N', means: 'the compromised version (the old primary)', value: (w) => w.value('--version N') },
  { text: '--version M', means: 'another exposed version', value: (w) => w.value('--version M') },
  { text: 'file:PATH', means: "the file store's keyset", value: (w) => w.value('file:PATH') },
  { text: '/secure/backup-keys/<key>', means: "the file store's backup key", value: (w) => w.value('/secure/backup-keys/<key>') },
  { text: '/secure/backup-keys/', means: 'the place backup keys are kept, apart from the backups', value: (w) => `${w.path('secure', 'backup-keys')}/` },
  { text: 'aws:ID', means: 'the keyset secret', value: (w) => w.values.get('aws:ID') ?? `aws:${PROD.secret}` },
  { text: 'vault:...', means: 'the Vault target', value: (w) => w.values.get('vault:...') ?? 'vault:alphapulse/encryption/master_key' },
  { text: 'VAULT_TOKEN=...', means: 'a Vault token with the policy the doc gives', value: () => `VAULT_TOKEN=${VAULT_TOKEN}` },
  { text: 'https://vault.staging.example.com:8200', means: "staging Vault's address", value: (w) => (w.vault as FakeVault).address },
  { text: '/etc/ssl/vault-ca.pem', means: "the private CA of Vault's certificate", value: () => path.join(TLS_FIXTURES, 'ca.pem') },
  { text: '/tmp/demo-keys/', means: 'a directory apart from the demo (the transcript was made in /tmp)', value: (w) => `${w.path('demo-keys')}/` },
  { text: '/tmp/lost-keyset.json', means: 'somewhere outside the demo (the transcript was made in /tmp)', value: (w) => w.path('lost-keyset.json') },
];

/** Setup a command needs first (or undoes after), keyed by document, section and the command as written. */
const HOOKS: ReadonlyArray<{ readonly doc: string; readonly section: string; readonly command: string; readonly before?: (w: World) => Promise<void> | void; readonly after?: (w: World) => Promise<void> | void }> = [
  {
    doc: 'README.md',
    section: 'Quick start',
    command: 'key-manager init',
    // The prose describes what npm run quickstart does in its own temporary directory.
    before: (w) => w.cd(w.tempDir('quickstart')),
    after: (w) => w.cd(w.work),
  },
  { doc: 'README.md', section: 'Installing the package and the CLI', command: 'sha256sum alphapulse-keys-0.1.0.tgz > alphapulse-keys-0.1.0.tgz.sha256', before: (w) => w.pack() },
  { doc: 'README.md', section: 'Key compromise, end to end', command: 'key-manager rotate --emergency --reason "INC-1234: version 2 exposed"', before: (w) => w.writeTrades(w.fileKeyset(), [1, 2]) },
  { doc: 'RUNBOOK.md', section: 'RotationStuck', command: 'key-manager --store aws:$SECRET status', before: (w) => w.stickRotation() },
  { doc: 'RUNBOOK.md', section: 'StorageKeyUnhealthy', command: 'aws kms describe-key --key-id <key ARN from the alarm>', before: (w) => w.breakStorageKey() },
  { doc: 'RUNBOOK.md', section: 'Break glass', command: 'aws kms cancel-key-deletion --key-id <key ARN>', before: (w) => w.scheduleKeyDeletion(), after: (w) => w.aws.kms.setState(w.storageKeyArn, 'Enabled') },
  { doc: 'RUNBOOK.md', section: 'Break glass', command: 'aws secretsmanager restore-secret --secret-id $SECRET', before: (w) => void w.aws.secretsManager.deleteSecret({ SecretId: PROD.secret, RecoveryWindowInDays: 7 }) },
  { doc: 'RUNBOOK.md', section: 'Key compromise', command: 'key-manager --store aws:$SECRET rotate --emergency --reason "INC-1234: <what happened>"', before: (w) => w.beforeCompromise() },
  // "a day later": the versions that still hold the destroyed material are a day old.
  { doc: 'RUNBOOK.md', section: 'Key compromise', command: 'key-manager --store aws:$SECRET purge-history --confirm', before: (w) => w.aws.secretsManager.backdate(PROD.secret, 25 * HOUR) },
  { doc: 'RUNBOOK.md', section: 'Keyset unreadable', command: 'aws secretsmanager list-secret-version-ids --secret-id $SECRET', before: (w) => w.writeUnreadableKeyset() },
  { doc: 'RUNBOOK.md', section: 'Keyset unreadable', command: 'key-manager --store file:PATH recover --in keyset-<time>.fernet --backup-key-file /secure/backup-keys/<key> --force', before: (w) => w.unreadableFileStore() },
  { doc: 'docs/lifecycle.md', section: 'The emergency procedure, end to end (local store)', command: 'key-manager --store aws:alphapulse/encryption/master_key audit --log-group /alphapulse/keys/prod/rotation', before: (w) => w.runMonitor() },
  { doc: 'docs/lifecycle.md', section: 'Key loss: recover from a backup', command: 'key-manager --store file:recovered/keyset.json recover --in seed-backup.fernet --backup-key-file keys/seed-backup.key', before: (w) => w.seedBackupDir() },
  { doc: 'docs/lifecycle.md', section: "Importing the Python system's keys", command: 'key-manager --store file:imported/keyset.json import-legacy --master-key-file master.key --version 3 --created-at 2024-03-01', before: (w) => w.legacyKeyDir() },
  {
    doc: 'docs/rotation.md',
    section: 'The Secrets Manager store',
    command: 'key-manager --store aws:ID init',
    // The error table's advice for a secret the stack created empty.
    before: (w) => {
      w.aws.secretsManager.createSecret('stage/empty/master_key', { kmsKeyId: w.storageKeyArn });
      w.values.set('aws:ID', 'aws:stage/empty/master_key');
    },
    after: (w) => void w.values.delete('aws:ID'),
  },
  { doc: 'docs/rotation.md', section: 'A rotation in progress, or stuck', command: 'key-manager --store aws:ID status', before: (w) => w.stickRotation() },
  {
    doc: 'docs/vault.md',
    section: 'Errors',
    command: 'key-manager --store vault:... init',
    // The advice for 404, no secret: a path with none yet.
    before: (w) => void w.values.set('vault:...', 'vault:alphapulse/encryption/new_key'),
    after: (w) => void w.values.delete('vault:...'),
  },
];

/** Documents that name bare `key-manager rotate` in prose: their scenario starts with a keyset in the default file store. */
const FILE_KEYSET_DOCS = new Set(['docs/cdk.md', 'docs/reliability.md', 'docs/rotation.md']);
const VAULT_TOKEN = 'hvs.docs-test-key-administrator';

// ------------------------------------------------------------------------------------------------ scenarios

interface Tools {
  readonly npmEnv: Record<string, string>;
  readonly pkg: { readonly name: string; readonly version: string; readonly publishConfig?: { readonly access?: string }; readonly scripts: Record<string, string> };
  readonly scripts: Record<string, string>;
  readonly packageVersion: string;
  run(command: string, options: { cwd: string; env?: Record<string, string> }): Promise<ProcessResult>;
  expect(ok: boolean, problem: string): void;
}

interface Outcome {
  readonly where: string;
  readonly command: string;
  /** `same`: an alarm's command that is the very line its RUNBOOK section ran (compared, not run twice). */
  readonly ran: 'run' | 'v1' | 'not-run' | 'same';
  readonly problems: string[];
}

let bundle: string;
let scratchRoot: string;
let binDir: string;
let npmEnv: Record<string, string>;
/** The installed AWS CLI's major version: the docs' v2-only forms are translated only for a v1 CLI. */
let awsMajor = 1;
const outcomes: Outcome[] = [];
const used = { notRun: new Set<string>(), failing: new Set<string>(), placeholders: new Set<string>(), hooks: new Set<number>() };

/** One document's scenario: its shell, its stores, and the setup its hooks call. */
class World {
  readonly root: string;
  readonly work: string;
  readonly session: ShellSession;
  readonly values = new Map<string, string>();
  /** Every command line run: as run (`command`), and as written with placeholders and exported variables filled (`expanded`). */
  readonly runs: { command: string; expanded: string; section: string; result: ProcessResult }[] = [];
  vault?: FakeVault;
  rotationFunction?: WarmLambdaHandler;
  storageKeyArn = '';
  private tempCount = 0;

  private constructor(
    readonly doc: string,
    readonly aws: AwsStandIn,
  ) {
    this.root = mkdtempSync(path.join(scratchRoot, `${doc.replace(/\W+/g, '-')}-`));
    this.work = this.path(doc === 'docs/lifecycle.md' ? 'demo' : 'work');
    const home = this.path('home');
    for (const dir of [this.work, home, this.path('secure', 'backup-keys'), this.path('demo-keys')]) mkdirSync(dir, { recursive: true, mode: 0o700 });
    const awsEnv = Object.fromEntries(Object.entries(aws.env()).filter((e): e is [string, string] => e[1] !== undefined));
    this.session = new ShellSession(this.work, {
      PATH: `${binDir}:${OPERATOR_PATH}`,
      HOME: home,
      LANG: 'C.UTF-8',
      ...awsEnv,
    });
  }

  /** `rotated`: a stage in service, as the RUNBOOK's later sections find it: rotated once, its monitor has run. */
  static async create(doc: string, options: { rotated?: boolean } = {}): Promise<World> {
    const aws = await startAwsStandIn();
    const w = new World(doc, aws);
    const key = aws.kms.createKey({ rotationEnabled: true, description: 'AlphaPulse master keyset encryption' });
    w.storageKeyArn = key.arn;
    const daysAgo = (n: number) => new Date(Date.now() - n * 86_400_000).toISOString();
    const initial = options.rotated
      ? rotateKeyset(createKeyset({ material: Buffer.alloc(32, 7).toString('base64'), now: daysAgo(130) }), { material: Buffer.alloc(32, 8).toString('base64'), now: daysAgo(40) })
      : createKeyset({ material: Buffer.alloc(32, 7).toString('base64'), now: daysAgo(40) });
    aws.secretsManager.createSecret(PROD.secret, { kmsKeyId: key.arn, secretString: serializeKeyset(initial) });
    aws.secretsManager.createSecret(PROD.logSecret, { kmsKeyId: key.arn });
    aws.secretsManager.putResourcePolicy({
      SecretId: PROD.secret,
      ResourcePolicy: JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: 'DenyValueReadsToOthers', Effect: 'Deny', Principal: '*', Action: 'secretsmanager:GetSecretValue', Resource: '*' }] }),
    });
    const functionEnv = aws.env({
      KEYSET_SECRET_ID: aws.secretsManager.arnOf(PROD.secret),
      ROTATION_LOG_SECRET_ID: aws.secretsManager.arnOf(PROD.logSecret),
      STORAGE_KEY_ID: key.arn,
      ROTATION_PERIOD_DAYS: '90',
      STAGE: 'prod',
    });
    // Warm between invocations, as Lambda keeps a function that is invoked again within minutes (a rotation's four
    // steps come in a row): one cold start a rotation instead of four, and the handler's warm path is what runs.
    w.rotationFunction = warmLambdaHandler(bundle, functionEnv, { timeoutMs: 30_000 });
    const fnArn = aws.lambda.createFunction(PROD.fn, w.rotationFunction, { logGroup: PROD.logGroup });
    aws.secretsManager.rotationFunction = aws.lambda.rotationFunction(PROD.fn);
    aws.secretsManager.configureRotation(PROD.secret, { lambdaArn: fnArn, rules: { ScheduleExpression: 'rate(90 days)', Duration: '4h' }, rotateImmediately: false });
    aws.s3.createBucket(PROD.bucket);
    const now = Date.now();
    aws.logs.putEvents(
      PROD.appLogGroup,
      ['derive_key', 'decrypt'].map((action, i) => ({
        timestamp: now - (2 - i) * 60_000,
        message: JSON.stringify({ time: new Date(now - (2 - i) * 60_000).toISOString(), action, actor: 'arn:aws:sts::123456789012:assumed-role/ApplicationService/trading-engine', store: 'aws', secret: PROD.secret, version: 1, context: 'trading_data', outcome: 'success' }),
      })),
    );
    // A stage in service has its daily monitor runs in the function's log group.
    if (options.rotated) await w.runMonitor();
    if (doc === 'docs/vault.md') await w.startVault();
    if (FILE_KEYSET_DOCS.has(doc)) await w.km(['init']);
    return w;
  }

  path(...parts: string[]): string {
    return path.join(this.root, ...parts);
  }

  tempDir(name: string): string {
    const dir = this.path(`${name}-${++this.tempCount}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return dir;
  }

  cd(dir: string): void {
    this.session.cwd = dir;
  }

  /** A filled command line with its `$NAME`s replaced by the session's exported values. */
  expand(command: string): string {
    return command.replace(/\$([A-Za-z_][A-Za-z0-9_]*)/g, (m, name: string) => this.session.env[name] ?? m);
  }

  value(key: string): string {
    const v = this.values.get(key);
    if (v === undefined) throw new Error(`'${key}' has no value at this point of the scenario: a hook before this command must set it (w.values)`);
    return v;
  }

  /** The key-manager CLI for setup (not a doc command): its failure fails the scenario. */
  async km(args: string[], cwd = this.session.cwd, input?: string): Promise<string> {
    const r = await runProcess(process.execPath, [CLI, ...args], { cwd, env: { ...this.session.env }, stdin: input });
    if (r.code !== 0) throw new Error(`setup: key-manager ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return r.stdout;
  }

  /** The capture `pattern` finds in the latest output of a command matching `command`. */
  fromOutput(command: RegExp, pattern: RegExp, what: string): string {
    for (const run of [...this.runs].reverse()) {
      if (!command.test(run.command)) continue;
      const m = pattern.exec(run.result.stdout + run.result.stderr);
      if (m) return m[1];
    }
    throw new Error(`no earlier command matching ${command} printed ${what}`);
  }

  versionWithStage(stage: string): string {
    const run = [...this.runs].reverse().find((r) => r.command.includes('list-secret-version-ids'));
    if (!run) throw new Error('no version list was printed before this command');
    const listed = JSON.parse(run.result.stdout) as { Versions: { VersionId: string; VersionStages?: string[] }[] };
    const found = listed.Versions.find((v) => v.VersionStages?.includes(stage));
    if (!found) throw new Error(`the version list shows no ${stage}`);
    return found.VersionId;
  }

  newestBackup(): string {
    const override = this.values.get('keyset-<time>.fernet');
    if (override) return override;
    const keys = this.aws.s3.keys(PROD.bucket).filter((k) => /^keyset-\d{8}T\d{6}Z\.fernet$/.test(k)).sort();
    if (keys.length === 0) throw new Error(`no backup in s3://${PROD.bucket} yet`);
    return keys[keys.length - 1];
  }

  awsKeyset(): Keyset {
    return parseKeyset(this.aws.secretsManager.value(PROD.secret) as string);
  }

  fileKeyset(): Keyset {
    return parseKeyset(readFileSync(path.join(this.work, '.alphapulse', 'keyset.json'), 'utf8'));
  }

  /** A JSON Lines file (in the session's directory) of records under the primary; returns its name without .jsonl. */
  async exportFile(name: string): Promise<string> {
    const keyset = this.awsKeyset();
    await this.writeJsonl(path.join(this.session.cwd, `${name}.jsonl`), keyset, [keyset.primary]);
    return name;
  }

  /** trades.jsonl in the working directory: a record under each of `versions`, a compact one, and a line that is not an envelope. */
  async writeTrades(keyset: Keyset, versions: number[]): Promise<void> {
    await this.writeJsonl(path.join(this.work, 'trades.jsonl'), keyset, versions);
  }

  private async writeJsonl(file: string, keyset: Keyset, versions: number[]): Promise<void> {
    const lines: string[] = [];
    for (const version of versions) {
      const keys = new KeyManager({ store: new MemoryStore('docs', setPrimary(keyset, version)) });
      lines.push(JSON.stringify(await keys.encrypt(`BTC-USD 42000.50 buy (v${version})`, 'trading_data')));
      lines.push(JSON.stringify(await keys.encryptCompact(`Zoe O Connor (v${version})`, 'user_pii')));
    }
    lines.push('{"note":"not encrypted"}');
    writeFileSync(file, `${lines.join('\n')}\n`);
  }

  /** A rotation that started and neither finished nor was cleared, five hours ago. */
  async stickRotation(): Promise<void> {
    const fn = this.aws.secretsManager.rotationFunction;
    this.aws.secretsManager.rotationFunction = async () => {
      throw Object.assign(new Error('Task timed out after 30.00 seconds'), { name: 'Sandbox.Timedout' });
    };
    this.aws.secretsManager.rotateSecret({ SecretId: PROD.secret, ClientRequestToken: randomUUID() });
    await this.aws.secretsManager.rotationsSettled();
    this.aws.secretsManager.rotationFunction = fn;
    this.aws.secretsManager.backdate(PROD.secret, 5 * HOUR);
  }

  /** The storage key scheduled for deletion with its rotation off, as StorageKeyUnhealthy finds it. */
  breakStorageKey(): void {
    this.aws.kms.setRotation(this.storageKeyArn, false);
    this.aws.kms.setState(this.storageKeyArn, 'PendingDeletion', 7);
  }

  scheduleKeyDeletion(): void {
    this.aws.kms.setState(this.storageKeyArn, 'PendingDeletion', 7);
  }

  /** The compromised version is the primary (N); another exposed one is version 1 (M); trades.jsonl has data under both. */
  async beforeCompromise(): Promise<void> {
    const keyset = this.awsKeyset();
    if (keyset.primary < 2) throw new Error('the RUNBOOK scenario should have rotated before the key compromise');
    this.values.set('--version N', `--version ${keyset.primary}`);
    this.values.set('--version M', '--version 1');
    await this.writeTrades(keyset, [1, keyset.primary]);
  }

  /** A bad write by another tool: AWSCURRENT holds a keyset that does not parse. */
  writeUnreadableKeyset(): void {
    this.aws.secretsManager.putSecretValue({ SecretId: PROD.secret, SecretString: '{"schema":1,"primary":', ClientRequestToken: randomUUID() });
  }

  /** A file store whose keyset a hand edit broke, with a backup of it in the working directory. */
  async unreadableFileStore(): Promise<void> {
    const keyset = this.path('filestore', 'keyset.json');
    const key = this.path('secure', 'backup-keys', 'filestore.key');
    await this.km(['--store', `file:${keyset}`, 'init']);
    const stamp = new Date().toISOString().replace(/[-:]|\.\d{3}/g, '');
    const backup = `keyset-${stamp}.fernet`;
    await this.km(['--store', `file:${keyset}`, 'export', '--out', path.join(this.work, backup), '--backup-key-out', key]);
    writeFileSync(keyset, '{"schema":1,"primary":');
    this.values.set('file:PATH', `file:${keyset}`);
    this.values.set('keyset-<time>.fernet', backup);
    this.values.set('/secure/backup-keys/<key>', key);
  }

  /** The daily monitor ran (as its schedule does), so the function's log group has its events. */
  async runMonitor(): Promise<void> {
    await this.aws.lambda.invokeFunction({ FunctionName: PROD.fn, Payload: Buffer.from('{"action":"monitor"}') });
  }

  /** /tmp/demo2 of the transcript: the seed's backup and its key (the fixture test/fixtures/seed-backup.json). */
  seedBackupDir(): void {
    const dir = this.path('demo2');
    mkdirSync(path.join(dir, 'keys'), { recursive: true, mode: 0o700 });
    writeFileSync(path.join(dir, 'seed-backup.fernet'), seedBackup.token);
    writeFileSync(path.join(dir, 'keys', 'seed-backup.key'), seedBackup.backup_key, { mode: 0o600 });
    this.cd(dir);
  }

  /** /tmp/demo2 with the Python system's master key (the legacy vectors' key). */
  legacyKeyDir(): void {
    const dir = this.path('demo2');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(path.join(dir, 'master.key'), legacyVectors.master_key_base64, { mode: 0o600 });
    this.cd(dir);
  }

  /** The tarball `npm ci && npm pack` writes, in the session's directory (the checkout). */
  async pack(): Promise<void> {
    const tarball = await packOnce();
    copyFileSync(tarball, path.join(this.session.cwd, path.basename(tarball)));
  }

  private async startVault(): Promise<void> {
    const vault = await FakeVault.start({ tls: true });
    vault.mount('alphapulse');
    vault.addToken(VAULT_TOKEN, ADMIN_POLICY);
    this.vault = vault;
    const env = { ...this.session.env, VAULT_ADDR: vault.address, VAULT_TOKEN, VAULT_CACERT: path.join(TLS_FIXTURES, 'ca.pem') };
    const r = await runProcess(process.execPath, [CLI, '--store', 'vault:alphapulse/encryption/master_key', 'init'], { cwd: this.work, env });
    if (r.code !== 0) throw new Error(`setup: init on the Vault stand-in: ${r.stderr}`);
  }

  async close(): Promise<void> {
    this.session.close();
    await this.aws.secretsManager.rotationsSettled();
    await this.aws.lambda.settled();
    await this.rotationFunction?.close();
    await this.aws.close();
    await this.vault?.stop();
  }
}

// ------------------------------------------------------------------------------------------------ running

const where = (c: DocCommand) => `${c.doc}:${c.line} (${c.section})`;
const isRepoCommand = (command: string) => /^npx cdk |^npm run /.test(command);

/** An `error [CODE]` line, a JSON error object, or a Lambda function error in the output. */
function errorsIn(result: ProcessResult): string[] {
  const text = `${result.stdout}\n${result.stderr}`;
  const codes = [...text.matchAll(/^error \[([A-Z_]+)\]/gm)].map((m) => m[1]);
  codes.push(...[...text.matchAll(/\{"error":\{"code":"([A-Z_]+)"/g)].map((m) => m[1]));
  if (/"FunctionError":\s*"/.test(result.stdout)) codes.push('FunctionError');
  return codes;
}

/** A transcript's line with the demo's paths and the run's times and ids made comparable. */
function comparable(text: string, w: World): string {
  return text
    .replaceAll('/tmp/demo2', w.path('demo2'))
    .replaceAll('/tmp/demo-keys', w.path('demo-keys'))
    .replaceAll('/tmp/demo', w.work)
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z?/g, '<time>')
    .replace(/\d{8}T\d{6}Z/g, '<stamp>')
    .trimEnd();
}

function notRunEntry(command: string) {
  return NOT_RUN.find((n) => n.command === command);
}

function failingEntry(c: DocCommand) {
  return SHOWN_FAILING.find((f) => f.doc === c.doc && f.command === c.command);
}

/** Fills every placeholder in one pass (longest text first, so a value is never filled again). */
async function fill(command: string, w: World): Promise<{ command: string; problems: string[] }> {
  const problems: string[] = [];
  const byLength = [...PLACEHOLDERS.entries()].sort((a, b) => b[1].text.length - a[1].text.length);
  const pattern = new RegExp(byLength.map(([, p]) => p.text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g');
  const values = new Map<string, string>();
  for (const [i, p] of byLength) {
    if (!command.includes(p.text) || ![...command.matchAll(pattern)].some((m) => m[0] === p.text)) continue;
    used.placeholders.add(String(i));
    try {
      values.set(p.text, await p.value(w));
    } catch (err) {
      problems.push(`placeholder ${p.text} (${p.means}): ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const filled = command.replace(pattern, (text) => values.get(text) ?? text);
  for (const left of unfilledPlaceholders(filled)) problems.push(`unknown placeholder ${left}: give it a value in PLACEHOLDERS`);
  for (const m of filled.matchAll(/\$([A-Za-z_][A-Za-z0-9_]*)/g)) {
    if (w.session.env[m[1]] === undefined) problems.push(`$${m[1]} is not set at this point (no export before it, no PLACEHOLDERS entry)`);
  }
  return { command: filled, problems };
}

/** Runs one doc command in its scenario and checks it against what the doc says. */
async function runStep(c: DocCommand, w: World): Promise<void> {
  const hooks = HOOKS.map((h, i) => ({ h, i })).filter(({ h }) => h.doc === c.doc && h.section === c.section && h.command === c.command);
  for (const { h, i } of hooks) {
    used.hooks.add(i);
    await h.before?.(w);
  }
  const { command, problems } = await fill(c.command, w);
  const expected = failingEntry(c);
  if (expected) used.failing.add(`${expected.doc}\0${expected.command}`);
  let ran: Outcome['ran'] = 'run';
  if (problems.length === 0) {
    let line = command;
    try {
      const v1 = awsMajor === 1 ? toV1(command) : undefined;
      if (v1) {
        line = v1.command;
        ran = 'v1';
      }
    } catch (err) {
      problems.push(err instanceof Error ? err.message : String(err));
    }
    if (problems.length === 0) {
      const result = await w.session.run(line, { timeoutMs: 120_000 });
      await w.aws.secretsManager.rotationsSettled();
      await w.aws.lambda.settled();
      w.runs.push({ command: line, expanded: w.expand(command), section: c.section, result });
      if (process.env.DOCS_TIMING) writeFileSync(process.env.DOCS_TIMING, `${Math.round(result.durationMs)}\t${c.doc}\t${line.slice(0, 120)}\n`, { flag: 'a' });
      problems.push(...check(c, result, expected, w, line));
    }
  }
  for (const { h } of hooks) await h.after?.(w);
  outcomes.push({ where: where(c), command: c.command, ran, problems });
}

function check(c: DocCommand, result: ProcessResult, expected: (typeof SHOWN_FAILING)[number] | undefined, w: World, line: string): string[] {
  const problems: string[] = [];
  const shownOutput = c.shown?.output ?? '';
  const exit = c.shown?.exit ?? expected?.exit ?? 0;
  if (result.code !== exit) problems.push(`exit ${result.code}${result.timedOut ? ' (timed out)' : ''}, the doc says ${exit}`);
  const shownErrors = [...shownOutput.matchAll(/^error \[([A-Z_]+)\]/gm)].map((m) => m[1]);
  const allowed = new Set([...shownErrors, ...(expected?.error ? [expected.error] : [])]);
  const errors = errorsIn(result);
  for (const code of errors) if (!allowed.has(code)) problems.push(`printed error ${code}, which the doc does not show`);
  for (const code of allowed) if (!errors.includes(code)) problems.push(`the doc shows error ${code}; the command did not print it`);
  if (c.source === 'block' && c.shown && result.stdout.trim() !== c.shown.output) problems.push(`printed ${JSON.stringify(result.stdout.trim())}, the doc says it prints ${JSON.stringify(c.shown.output)}`);
  if (c.source === 'transcript' && shownOutput.trim() !== '') {
    const first = comparable(shownOutput.split('\n')[0], w);
    const actual = comparable(`${result.stdout}${result.stderr}`.split('\n')[0], w);
    if (first !== actual) problems.push(`first line differs from the transcript:\n      doc: ${first}\n      now: ${actual}`);
  }
  if (/^aws logs filter-log-events /.test(line) && !/"events":\s*\[\s*\{/.test(result.stdout)) problems.push('the log group has no events in that time (the equivalent of aws logs tail printed nothing)');
  if (problems.length > 0) problems.push(`ran: ${line}\n      stdout: ${result.stdout.trim().slice(0, 1500)}\n      stderr: ${result.stderr.trim().slice(0, 1500)}`);
  return problems;
}

interface AlarmText {
  readonly name: string;
  readonly kind: 'alarm' | 'event';
  readonly text: string;
}

/** Alarm descriptions and event-rule messages of a synthesized template, tokens resolved to the scenario's names. */
function alarmTexts(template: { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> }, storageKeyArn: string): AlarmText[] {
  const resources = template.Resources;
  const resolve = (v: unknown): string => {
    if (typeof v === 'string') return v;
    const o = v as Record<string, unknown>;
    if (Array.isArray(o['Fn::Join'])) {
      const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
      return parts.map(resolve).join(sep);
    }
    const ref = o.Ref as string | undefined;
    const [id, attribute] = (o['Fn::GetAtt'] as [string, string] | undefined) ?? [ref, 'Ref'];
    const r = id === undefined ? undefined : resources[id];
    const p = r?.Properties ?? {};
    if (r?.Type === 'AWS::KMS::Key' && attribute === 'Arn' && String(p.Description).includes('master keyset')) return storageKeyArn;
    const named = { 'AWS::Lambda::Function': p.FunctionName, 'AWS::Logs::LogGroup': p.LogGroupName, 'AWS::SQS::Queue': p.QueueName }[r?.Type ?? ''];
    if ((attribute === 'Ref' || attribute === 'QueueName') && typeof named === 'string') return named;
    throw new Error(`cannot resolve ${JSON.stringify(v)} in an alarm text`);
  };
  const out: AlarmText[] = [];
  for (const r of Object.values(resources)) {
    if (r.Type === 'AWS::CloudWatch::Alarm') {
      out.push({ name: String(r.Properties.AlarmName).replace(/^AlphaPulseKeys-prod-/, ''), kind: 'alarm', text: resolve(r.Properties.AlarmDescription) });
    }
    if (r.Type === 'AWS::Events::Rule') {
      for (const t of (r.Properties.Targets ?? []) as { InputTransformer?: { InputTemplate: unknown } }[]) {
        if (!t.InputTransformer) continue;
        const message = JSON.parse(resolve(t.InputTransformer.InputTemplate)) as string;
        const section = /RUNBOOK\.md, section (\w+)/.exec(message)?.[1] ?? '(no RUNBOOK section named)';
        out.push({ name: section, kind: 'event', text: message });
      }
    }
  }
  return out;
}

/**
 * One document (or part of one), in order; the RUNBOOK also gets each alarm's commands at the end of its section.
 * The alarm commands come from the template `npx cdk synth` writes, awaited at the first section's end: the scenario
 * starts meanwhile.
 */
async function runDocument(part: DocumentPart, template: Promise<AlarmSource>): Promise<void> {
  const { doc, commands } = part;
  const w = await World.create(doc, { rotated: part.prelude.length > 0 });
  let alarms: Promise<DocCommand[]> | undefined;
  const alarmsOf = async (section: string): Promise<DocCommand[]> => (await (alarms ??= template.then((source) => source.commands(w.storageKeyArn)))).filter((a) => a.section === section);
  let section: string | undefined;
  const step = async (c: DocCommand) => {
    if (c.section !== section) w.cd(w.work);
    section = c.section;
    if (notRunEntry(c.command)) {
      used.notRun.add(c.command);
      outcomes.push({ where: where(c), command: c.command, ran: 'not-run', problems: [] });
      return;
    }
    if (c.source !== 'alarm' && isRepoCommand(c.command)) return;
    if (c.source === 'alarm' && (await ranInSection(c, w))) return;
    try {
      await runStep(c, w);
    } catch (err) {
      outcomes.push({ where: where(c), command: c.command, ran: 'run', problems: [`setup failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`] });
    }
  };
  try {
    for (const c of part.prelude) {
      const r = await w.session.run(c.command);
      if (r.code !== 0) throw new Error(`setup: ${where(c)} as the part's prelude: exit ${r.code}: ${r.stderr}`);
    }
    for (const [i, c] of commands.entries()) {
      await step(c);
      if (doc === 'RUNBOOK.md' && commands[i + 1]?.section !== c.section) for (const a of await alarmsOf(c.section)) await step(a);
    }
  } finally {
    await w.close();
  }
}

/** An alarm command that is the line its RUNBOOK section already ran (same text once filled): recorded as that run. */
async function ranInSection(c: DocCommand, w: World): Promise<boolean> {
  const { command, problems } = await fill(c.command, w);
  if (problems.length > 0) return false;
  const earlier = w.runs.find((r) => r.section === c.section && r.expanded === w.expand(command));
  if (!earlier) return false;
  outcomes.push({ where: where(c), command: c.command, ran: 'same', problems: [] });
  return true;
}

interface AlarmSource {
  readonly problems: string[];
  commands(storageKeyArn: string): DocCommand[];
}

/**
 * The `npx cdk` and `npm run` commands, without AWS credentials, each line once however many docs show it, in two
 * lanes beside the documents, each in its own scratch copy of the checkout (where cdk.out and the quick start's files
 * land): `npx cdk synth`, which writes the template the RUNBOOK's alarm commands come from (`synthesized` is called
 * as soon as it is there), then the commands that read its cdk.out; and the others.
 */
async function runRepoCommands(all: readonly DocCommand[], synthesized: (t: AlarmSource) => void): Promise<void> {
  const repo = all.filter((c) => isRepoCommand(c.command) && !notRunEntry(c.command));
  const unique = [...new Set(repo.map((c) => c.command))];
  const afterSynth = unique.filter((c) => c === 'npx cdk synth' || c.includes('cdk.out/'));
  const lanes = [afterSynth.sort((a, b) => Number(b === 'npx cdk synth') - Number(a === 'npx cdk synth')), unique.filter((c) => !afterSynth.includes(c))];
  const results = new Map<string, { result: ProcessResult; checkout: string }>();
  let announced = false;
  const announce = (checkout: string) => {
    if (announced) return;
    announced = true;
    synthesized(templateSource(checkout));
  };
  const first = scratchCheckout('checkout-1');
  const lane = async (commands: readonly string[], checkout: string) => {
    const session = new ShellSession(checkout, npmEnv);
    try {
      for (const command of commands) {
        const result = await session.run(command, { timeoutMs: 300_000 });
        if (process.env.DOCS_TIMING) writeFileSync(process.env.DOCS_TIMING, `${Math.round(result.durationMs)}\trepo\t${command}\n`, { flag: 'a' });
        results.set(command, { result, checkout });
        session.cwd = checkout;
        if (command === 'npx cdk synth') announce(checkout);
      }
    } finally {
      session.close();
    }
  };
  try {
    await Promise.all([lane(lanes[0], first), lane(lanes[1], scratchCheckout('checkout-2'))]);
  } finally {
    announce(first);
  }
  for (const c of repo) {
    const { result, checkout } = results.get(c.command) as { result: ProcessResult; checkout: string };
    const w = { path: (...p: string[]) => path.join(checkout, ...p), work: checkout } as unknown as World;
    const expected = failingEntry(c);
    if (expected) used.failing.add(`${expected.doc}\0${expected.command}`);
    outcomes.push({ where: where(c), command: c.command, ran: 'run', problems: check(c, result, expected, w, c.command) });
  }
}

/** The prod template `npx cdk synth` wrote, read into the alarm and event commands. */
function templateSource(checkout: string): AlarmSource {
  const file = path.join(checkout, 'cdk.out', 'AlphaPulseKeys-prod.template.json');
  if (!existsSync(file)) return { problems: [`${file} is missing: npx cdk synth did not write the prod template, so the alarm commands cannot be checked`], commands: () => [] };
  const template = JSON.parse(readFileSync(file, 'utf8')) as { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };
  const problems: string[] = [];
  const props = (type: string, test: (p: Record<string, unknown>) => boolean = () => true) => Object.values(template.Resources).filter((r) => r.Type === type && test(r.Properties)).map((r) => r.Properties);
  const names = {
    secret: props('AWS::SecretsManager::Secret').map((p) => p.Name),
    fn: props('AWS::Lambda::Function', (p) => typeof p.FunctionName === 'string').map((p) => p.FunctionName),
    logGroup: props('AWS::Logs::LogGroup', (p) => typeof p.LogGroupName === 'string').map((p) => p.LogGroupName),
  };
  for (const [what, want] of [['secret', PROD.secret], ['secret', PROD.logSecret], ['fn', PROD.fn], ['logGroup', PROD.logGroup]] as const) {
    if (!names[what].includes(want)) problems.push(`the prod template has no ${what} named ${want} (it has ${names[what].join(', ')}): the scenario's names (PROD) and the RUNBOOK's no longer match the stack`);
  }
  for (const a of alarmTexts(template, '<key ARN>')) if (alarmCommands(a.text).length === 0) problems.push(`${a.kind} ${a.name} names no command after First:: ${a.text}`);
  return {
    problems,
    commands: (storageKeyArn) =>
      alarmTexts(template, storageKeyArn).flatMap((a) => alarmCommands(a.text).map((command): DocCommand => ({ doc: `${a.kind}:${a.name}`, line: 0, section: a.name, source: 'alarm', command }))),
  };
}

let packed: Promise<string> | undefined;

/**
 * `npm pack` of this checkout without its prepare script (dist/ is as npm test built it), once: the tarball's path.
 * It must be alphapulse-keys-<version>.tgz, the name the README gives.
 */
function packOnce(): Promise<string> {
  packed ??= (async () => {
    const dir = mkdtempSync(path.join(scratchRoot, 'pack-'));
    const r = await runProcess('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], { cwd: ROOT, env: npmEnv });
    const tarball = path.join(dir, 'alphapulse-keys-0.1.0.tgz');
    if (!existsSync(tarball)) throw new Error(`npm pack wrote ${readdirSync(dir).join(', ') || 'nothing'} (exit ${r.code}: ${r.stderr.trim()}), not alphapulse-keys-0.1.0.tgz: the name or version in the README is stale`);
    return tarball;
  })();
  return packed;
}

function tools(): Tools {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as Tools['pkg'];
  return {
    npmEnv,
    pkg,
    scripts: pkg.scripts,
    packageVersion: pkg.version,
    run: (command, options) => runProcess('bash', ['-c', command], { cwd: options.cwd, env: options.env ?? npmEnv, timeoutMs: 120_000 }),
    expect: (ok, problem) => {
      if (!ok) throw new Error(problem);
    },
  };
}

/**
 * A copy of the checkout made of symlinks to its top-level entries, for commands that write into the repository.
 * Its dist/ is links too, but for what a synth writes: the cdk.json app rebuilds dist/rotation-handler/ before each
 * synth (node dist/scripts/build-rotation-handler.js, which finds the repository from its own real path), so those
 * two are copies, and a synth here never rewrites the dist/ that other test files are reading.
 */
function scratchCheckout(name: string): string {
  const dir = path.join(scratchRoot, name);
  mkdirSync(path.join(dir, 'dist'), { recursive: true });
  for (const entry of readdirSync(ROOT)) {
    if (['.git', 'cdk.out', '.alphapulse', 'coverage', 'dist'].includes(entry)) continue;
    symlinkSync(path.join(ROOT, entry), path.join(dir, entry));
  }
  for (const entry of readdirSync(path.join(ROOT, 'dist'))) {
    const from = path.join(ROOT, 'dist', entry);
    if (entry === 'scripts' || entry === 'rotation-handler') cpSync(from, path.join(dir, 'dist', entry), { recursive: true });
    else symlinkSync(from, path.join(dir, 'dist', entry));
  }
  return dir;
}

async function writeShims(): Promise<string> {
  const dir = path.join(scratchRoot, 'bin');
  mkdirSync(dir);
  // The AWS CLI itself rather than a version manager's shim in front of it (pyenv's costs a process a call).
  const aws = (await runProcess('bash', ['-c', 'pyenv which aws 2>/dev/null || command -v aws'], { env: { PATH: OPERATOR_PATH, HOME: process.env.HOME ?? '/' } })).stdout.trim().split('\n')[0];
  if (!aws) throw new Error('the AWS CLI (aws) is not installed');
  symlinkSync(aws, path.join(dir, 'aws'));
  writeFileSync(path.join(dir, 'key-manager'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
  // npx runs a project's own bin when the project has it: `npx key-manager` this checkout's bin (NOT_RUN checks that
  // once with the real npx, offline), `npx cdk` and cdk.json's `npx ts-node` the nearest node_modules/.bin's. The
  // shim goes there directly, saving npm's ~1 s of CPU a call; anything else is the real npx.
  const npx = whichNpx();
  writeFileSync(
    path.join(dir, 'npx'),
    [
      '#!/bin/sh',
      `if [ "$1" = key-manager ]; then shift; exec "${dir}/key-manager" "$@"; fi`,
      'case "$1" in -*|*/*|*@*|"") ;; *)',
      '  d=$PWD',
      '  while :; do',
      '    if [ -x "$d/node_modules/.bin/$1" ]; then b="$d/node_modules/.bin/$1"; shift; exec "$b" "$@"; fi',
      '    [ -f "$d/package.json" ] || [ "$d" = / ] && break',
      '    d=$(dirname "$d")',
      '  done;;',
      'esac',
      `exec "${npx}" "$@"`,
      '',
    ].join('\n'),
  );
  for (const f of ['key-manager', 'npx']) chmodSync(path.join(dir, f), 0o755);
  return dir;
}

function whichNpx(): string {
  for (const dir of OPERATOR_PATH.split(':')) {
    const candidate = path.join(dir, 'npx');
    if (dir !== '' && existsSync(candidate)) return candidate;
  }
  throw new Error('npx is not on PATH');
}

// ------------------------------------------------------------------------------------------------ the test

const documents = DOCS.map((doc) => ({ doc, commands: extractCommands(doc, readFileSync(path.join(ROOT, doc), 'utf8')) }));

/** A document's commands that run in one scenario; `prelude`: earlier lines of the document run first as setup. */
interface DocumentPart {
  readonly doc: string;
  readonly commands: readonly DocCommand[];
  readonly prelude: readonly DocCommand[];
}

/**
 * The RUNBOOK's sections are procedures on their own, and it is the longest document by far: it runs as two
 * scenarios side by side, split at this section. The second starts on a stage that has rotated once, with the
 * exports the first part's lines make (the `export SECRET=... FN=...` at the top).
 */
const RUNBOOK_SPLIT = 'StorageKeyUnhealthy';

function parts(): DocumentPart[] {
  return documents.flatMap(({ doc, commands }) => {
    const at = commands.findIndex((c) => c.section === RUNBOOK_SPLIT);
    if (doc !== 'RUNBOOK.md' || at <= 0) return [{ doc, commands, prelude: [] }];
    const before = commands.slice(0, at);
    return [
      { doc, commands: before, prelude: [] },
      { doc, commands: commands.slice(at), prelude: before.filter((c) => /^export [A-Za-z_][A-Za-z0-9_]*=/.test(c.command)) },
    ];
  });
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first (npm test does)`);
  scratchRoot = mkdtempSync(path.join(tmpdir(), 'docs-commands-'));
  binDir = await writeShims();
  const version = await runProcess(path.join(binDir, 'aws'), ['--version'], { env: { PATH: OPERATOR_PATH, HOME: scratchRoot } });
  awsMajor = Number(/aws-cli\/(\d+)\./.exec(version.stdout + version.stderr)?.[1] ?? '1');
  const home = path.join(scratchRoot, 'npm-home');
  mkdirSync(home);
  writeFileSync(path.join(home, '.cdk.json'), JSON.stringify({ notices: false }));
  // No AWS credentials (synth needs none); npm and npx never reach the registry; the CDK CLI sends no telemetry.
  npmEnv = {
    PATH: `${binDir}:${OPERATOR_PATH}`,
    HOME: home,
    LANG: 'C.UTF-8',
    npm_config_offline: 'true',
    npm_config_update_notifier: 'false',
    npm_config_fund: 'false',
    npm_config_audit: 'false',
    CDK_DISABLE_CLI_TELEMETRY: 'true',
    // aws-cdk-lib's built-in CloudFormation validation (a WASM engine, ~8 s of CPU a synth) only warns in this app:
    // unless cdk.json sets VALIDATE_AGAINST_DEFAULT_RULES its errors are downgraded to warnings, so it never changes
    // what a synth, diff or the quick start does. test/lib/cfn-lint.test.ts runs it with errors enforced; a test
    // below fails if cdk.json starts enforcing them (then these commands must run with it).
    CDK_VALIDATION: 'false',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
  };
  // The handler as the package ships it (npm run build writes it; the stacks deploy it).
  bundle = path.join(ROOT, 'dist', 'rotation-handler', 'index.js');
  if (!existsSync(bundle)) throw new Error(`${bundle} is missing: run npm run build first (npm test does)`);

  let synthesized: (t: AlarmSource) => void = () => undefined;
  const template = new Promise<AlarmSource>((resolve) => (synthesized = resolve));
  const all = documents.flatMap((d) => d.commands);
  const t = tools();
  const checks = (async () => {
    for (const entry of NOT_RUN) {
      if (!entry.check || !all.some((c) => c.command === entry.command)) continue;
      try {
        await entry.check(t);
      } catch (err) {
        outcomes.push({ where: 'NOT_RUN', command: entry.command, ran: 'not-run', problems: [`its check failed: ${err instanceof Error ? err.message : String(err)}`] });
      }
    }
  })();
  // Two lanes of documents beside the repository commands: this machine has 2 cores.
  // The RUNBOOK, the longest, first.
  // Three lanes of documents, the RUNBOOK's two parts first, beside two of repository commands: a document's
  // scenario waits on processes (the CLI's polls, the AWS CLI) as much as it computes, so five lanes keep 2 cores busy.
  const queue = parts().sort((a, b) => Number(b.doc === 'RUNBOOK.md') - Number(a.doc === 'RUNBOOK.md'));
  const lane = async () => {
    for (let d = queue.shift(); d; d = queue.shift()) await runDocument(d, template);
  };
  await Promise.all([runRepoCommands(all, synthesized), checks, lane(), lane(), lane()]);
  const source = await template;
  for (const problem of source.problems) outcomes.push({ where: 'alarms', command: '', ran: 'run', problems: [problem] });
  const sections = new Set(documents.find((d) => d.doc === 'RUNBOOK.md')?.commands.map((c) => c.section));
  for (const a of source.commands('<key ARN>')) if (!sections.has(a.section)) outcomes.push({ where: a.doc, command: a.command, ran: 'run', problems: [`${a.doc} has no RUNBOOK section of that name with commands`] });
}, 600_000);

afterAll(() => {
  const run = outcomes.filter((o) => (o.ran === 'run' || o.ran === 'v1') && o.command !== '');
  const v1 = run.filter((o) => o.ran === 'v1').length;
  const same = outcomes.filter((o) => o.ran === 'same').length;
  const notRun = outcomes.filter((o) => o.ran === 'not-run' && o.where !== 'NOT_RUN').length;
  const failures = outcomes.filter((o) => o.problems.length > 0).length;
  console.log(
    `[docs] ${run.length} commands run, ${notRun} not run (${used.notRun.size} distinct lines of the NOT_RUN table), ${failures} failures\n` +
      `[docs] of those run, ${v1} as their AWS CLI v1 form (aws logs tail, --cli-binary-format: see aws-cli-v2.ts); ` +
      `${same} alarm and event commands are lines their RUNBOOK section ran (compared, not run twice)`,
  );
  if (scratchRoot) rmSync(scratchRoot, { recursive: true, force: true });
});

describe('every command line in the docs runs as written', () => {
  it.each(DOCS)('%s', (doc) => {
    const failed = outcomes.filter((o) => o.where.startsWith(`${doc}:`) && o.problems.length > 0);
    expect(failed.map((o) => `${o.where}\n  $ ${o.command}\n    ${o.problems.join('\n    ')}`).join('\n\n')).toBe('');
    expect(outcomes.filter((o) => o.where.startsWith(`${doc}:`)).length).toBe(documents.find((d) => d.doc === doc)?.commands.length);
  });

  it("every alarm's and event rule's First: commands, in the RUNBOOK section of its name", () => {
    const alarms = outcomes.filter((o) => /^(alarm|event):|^alarms$/.test(o.where));
    expect(alarms.filter((o) => o.problems.length > 0).map((o) => `${o.where}\n  $ ${o.command}\n    ${o.problems.join('\n    ')}`).join('\n\n')).toBe('');
    expect(alarms.length).toBeGreaterThanOrEqual(15);
  });

  it("the repository commands may skip CDK's built-in validation: in this app it only warns, and cfn-lint.test.ts enforces it", () => {
    const context = (JSON.parse(readFileSync(path.join(ROOT, 'cdk.json'), 'utf8')) as { context?: Record<string, unknown> }).context ?? {};
    expect(context[VALIDATE_AGAINST_DEFAULT_RULES]).not.toBe(true);
    expect(readFileSync(path.join(ROOT, 'test', 'lib', 'cfn-lint.test.ts'), 'utf8')).toContain(`'${VALIDATE_AGAINST_DEFAULT_RULES}': true`);
  });

  it("the not-run commands' checks pass", () => {
    expect(outcomes.filter((o) => o.where === 'NOT_RUN').map((o) => `${o.command}: ${o.problems.join('; ')}`)).toEqual([]);
  });

  it('the reviewed tables have no stale entries', () => {
    expect(NOT_RUN.filter((n) => !used.notRun.has(n.command)).map((n) => n.command)).toEqual([]);
    expect(SHOWN_FAILING.filter((f) => !used.failing.has(`${f.doc}\0${f.command}`)).map((f) => `${f.doc}: ${f.command}`)).toEqual([]);
    expect(PLACEHOLDERS.filter((_, i) => !used.placeholders.has(String(i))).map((p) => p.text)).toEqual([]);
    expect(HOOKS.filter((_, i) => !used.hooks.has(i)).map((h) => `${h.doc} / ${h.section}: ${h.command}`)).toEqual([]);
  });
});
