/**
 * The package as another team gets it: `npm pack` of this checkout, installed into a fresh project outside the
 * repository (with aws-cdk-lib and constructs, its peers, from the npm cache `npm ci` filled), then used from plain
 * JavaScript the way the README shows: the runtime entry with a FileStore, and the CDK entry in the team's own app,
 * synthesized by the CDK CLI from that project's node_modules.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { deniedBy } from '../lib/policy-evaluator';

const ROOT = path.resolve(__dirname, '../..');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const CDK_CLI = path.join(ROOT, 'node_modules', 'aws-cdk', 'bin', 'cdk');
const versionOf = (pkg: string) => (JSON.parse(readFileSync(path.join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;

let work: string;
let project: string;

/** Runs `script` (CommonJS) with node inside the consumer project; its stdout, parsed as JSON. */
function runInProject(name: string, script: string, env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  const file = path.join(project, name);
  writeFileSync(file, script);
  const r = spawnSync(process.execPath, [file], { cwd: project, encoding: 'utf8', timeout: 120_000, env: { PATH: process.env.PATH, HOME: work, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  if (!existsSync(path.join(ROOT, 'dist', 'rotation-handler', 'index.js')) || !existsSync(path.join(ROOT, 'dist', 'lambda', 'index.d.ts'))) {
    throw new Error("dist/ is not built: run 'npm run build' (npm test does) before this test");
  }
  work = mkdtempSync(path.join(os.tmpdir(), 'alphapulse-consumer-'));
  // dist/ is already built by `npm test`; --ignore-scripts skips a second build.
  const tarball = execFileSync(NPM, ['pack', '--ignore-scripts', '--silent', '--pack-destination', work], { cwd: ROOT, encoding: 'utf8' }).trim().split('\n').pop() as string;
  project = path.join(work, 'team-app');
  execFileSync('mkdir', ['-p', project]);
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'team-app', version: '1.0.0', private: true }));
  execFileSync(
    NPM,
    ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', path.join(work, tarball), `aws-cdk-lib@${versionOf('aws-cdk-lib')}`, `constructs@${versionOf('constructs')}`],
    { cwd: project, encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], timeout: 240_000, env: { ...process.env, npm_config_update_notifier: 'false' } },
  );
}, 300_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the npm pack tarball installed in a project outside the repository', () => {
  it('ships compiled JavaScript with declarations, the CLI and the pre-built handler, and none of the sources or tests', () => {
    const pkg = path.join(project, 'node_modules', '@alphapulse', 'keys');
    for (const file of ['dist/lambda/index.js', 'dist/lambda/index.d.ts', 'dist/lib/index.js', 'dist/lib/index.d.ts', 'dist/bin/key-manager.js', 'dist/rotation-handler/index.js']) {
      expect(existsSync(path.join(pkg, file))).toBe(true);
    }
    for (const absent of ['lambda', 'lib', 'test', 'bench', 'dist/bench', 'dist/bin/app.js', 'node_modules/esbuild']) expect(existsSync(path.join(pkg, absent))).toBe(false);
    expect(existsSync(path.join(project, 'node_modules', 'esbuild'))).toBe(false);
  });

  it('the runtime entry: KeyManager with a FileStore from plain JavaScript (init, encrypt, rotate, decrypt), its metrics in EMF around a Lambda-style handler, loading no AWS SDK or CDK', () => {
    const r = runInProject(
      'runtime.js',
      `
      const path = require('node:path');
      const { KeyManager, FileStore, KeyManagementError, errorCode, EmfMetricsSink, withMetricsFlush } = require('@alphapulse/keys');
      const loaded = () => Object.keys(require.cache).filter((k) => /node_modules[\\\\/](@aws-sdk|@smithy|aws-cdk-lib|constructs)[\\\\/]/.test(k)).length;
      (async () => {
        const lines = [];
        const metrics = new EmfMetricsSink({ write: (line) => lines.push(line) });
        const keys = new KeyManager({ store: new FileStore(path.join(__dirname, 'keyset.json')), metrics });
        await keys.init();
        const handler = withMetricsFlush(metrics, async (event) => (await keys.decrypt(await keys.encrypt(event.text, 'user_pii'))).toString());
        const handled = await handler({ text: 'from a handler' }, { getRemainingTimeInMillis: () => 10_000 });
        const emf = lines.map((l) => JSON.parse(l));
        const before = await keys.encrypt('4111 1111 1111 1111', 'user_pii');
        const rotated = await keys.rotate();
        const after = await keys.encryptCompact('order 42', 'trading_data');
        let refused;
        try { await keys.decrypt({ ...before, context: 'trading_data' }); } catch (err) { refused = err instanceof KeyManagementError && errorCode(err); }
        console.log(JSON.stringify({
          rotated,
          oldRecord: (await keys.decrypt(before)).toString(),
          newCompact: (await keys.decrypt(after)).toString(),
          versions: [before.key_version, after.split(':')[1]],
          refused,
          handled,
          emfNamespaces: [...new Set(emf.map((d) => d._aws.CloudWatchMetrics[0].Namespace))],
          emfHasKeyDerivations: emf.some((d) => 'KeyDerivations' in d),
          sdkOrCdkModulesLoaded: loaded(),
        }));
      })().catch((err) => { console.error(err); process.exit(1); });
      `,
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      rotated: expect.objectContaining({ fromVersion: 1, toVersion: 2, via: 'in-process' }),
      oldRecord: '4111 1111 1111 1111',
      newCompact: 'order 42',
      versions: [1, '2'],
      refused: 'DECRYPT_FAILED',
      handled: 'from a handler',
      emfNamespaces: ['AlphaPulse/Encryption'],
      emfHasKeyDerivations: true,
      sdkOrCdkModulesLoaded: 0,
    });
  });

  it('the CLI is the package bin', () => {
    const r = spawnSync(path.join(project, 'node_modules', '.bin', 'key-manager'), ['--store', `file:${path.join(project, 'cli-keyset.json')}`, 'init'], { cwd: project, encoding: 'utf8', env: { PATH: process.env.PATH, HOME: work, XDG_STATE_HOME: work } });
    expect(r.status).toBe(0);
    expect(existsSync(path.join(project, 'cli-keyset.json'))).toBe(true);
  });

  describe("the CDK entry in the team's own app, synthesized by cdk synth from the project's node_modules", () => {
    let template: { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };
    let assets: string[];

    beforeAll(() => {
      writeFileSync(
        path.join(project, 'app.js'),
        `
        const { App, Stack } = require('aws-cdk-lib');
        const lambda = require('aws-cdk-lib/aws-lambda');
        const { AlphaPulseKeys } = require('@alphapulse/keys/cdk');
        const app = new App();
        const stack = new Stack(app, 'TeamStack', { env: { account: '111111111111', region: 'eu-west-1' } });
        const keys = new AlphaPulseKeys(stack, 'Keys', { stage: 'prod' });
        const trading = new lambda.Function(stack, 'Trading', {
          runtime: lambda.Runtime.NODEJS_22_X,
          handler: 'index.handler',
          code: lambda.Code.fromInline('exports.handler = async () => "ok";'),
        });
        keys.grantRead(trading);
        new lambda.Function(stack, 'Reporting', { runtime: lambda.Runtime.NODEJS_22_X, handler: 'index.handler', code: lambda.Code.fromInline('exports.handler = async () => "ok";') });
        `,
      );
      const out = path.join(project, 'cdk.out');
      const r = spawnSync(process.execPath, [CDK_CLI, 'synth', '--app', 'node app.js', '--output', out, '--quiet', '--no-notices', '--no-version-reporting'], {
        cwd: project,
        encoding: 'utf8',
        timeout: 180_000,
        env: { PATH: process.env.PATH, HOME: work, CDK_DISABLE_CLI_TELEMETRY: 'true' },
      });
      if (r.status !== 0) throw new Error(`cdk synth failed (${r.status}): ${r.stderr}`);
      template = JSON.parse(readFileSync(path.join(out, 'TeamStack.template.json'), 'utf8'));
      assets = readdirSync(out).filter((f) => f.startsWith('asset.'));
      assets = assets.filter((dir) => existsSync(path.join(out, dir, 'index.js')) && readFileSync(path.join(out, dir, 'index.js'), 'utf8').length > 100_000);
    }, 240_000);

    const resourcesOf = (type: string) => Object.entries(template.Resources).filter(([, r]) => r.Type === type);
    const roleOf = (functionId: string) => {
      const [, fn] = resourcesOf('AWS::Lambda::Function').find(([id]) => id.startsWith(functionId)) ?? [];
      return (fn?.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'];
    };
    const keysetPolicy = () => {
      const secrets = resourcesOf('AWS::SecretsManager::Secret').filter(([, s]) => String(s.Properties.Description).includes('master keyset'));
      expect(secrets).toHaveLength(1);
      const [[secretId]] = secrets;
      const policies = resourcesOf('AWS::SecretsManager::ResourcePolicy').filter(([, p]) => JSON.stringify(p.Properties.SecretId) === JSON.stringify({ Ref: secretId }));
      expect(policies).toHaveLength(1);
      return (policies[0][1].Properties.ResourcePolicy as { Statement: unknown[] }).Statement;
    };

    it('deploys the rotation handler the package ships (no bundling in the consumer)', () => {
      expect(assets).toHaveLength(1);
      const rotation = resourcesOf('AWS::Lambda::Function').filter(([, f]) => String(f.Properties.Description).includes('rotation'));
      expect(rotation).toHaveLength(1);
      expect(rotation[0][1].Properties).toMatchObject({ Handler: 'index.handler', Runtime: 'nodejs22.x' });
      expect(rotation[0][1].Properties.FunctionName).toBeUndefined();
    });

    it("the keyset's resource policy admits the granted function's role to read AWSCURRENT, and still denies a function not granted", () => {
      const statements = keysetPolicy();
      const read = { action: 'secretsmanager:GetSecretValue', keys: { 'secretsmanager:VersionStage': 'AWSCURRENT' } };
      expect(deniedBy(statements, { ...read, principalArn: { 'Fn::GetAtt': roleOf('Trading') } })).toEqual([]);
      expect(deniedBy(statements, { ...read, principalArn: { 'Fn::GetAtt': roleOf('Reporting') } }).length).toBeGreaterThan(0);
    });

    it("the granted role's identity policy allows GetSecretValue of AWSCURRENT on the keyset", () => {
      const [roleId] = roleOf('Trading');
      const statements = resourcesOf('AWS::IAM::Policy')
        .filter(([, p]) => (p.Properties.Roles as { Ref: string }[]).some((r) => r.Ref === roleId))
        .flatMap(([, p]) => (p.Properties.PolicyDocument as { Statement: { Action: string | string[]; Condition?: unknown }[] }).Statement);
      expect(statements).toContainEqual(expect.objectContaining({ Action: 'secretsmanager:GetSecretValue', Condition: { StringEquals: { 'secretsmanager:VersionStage': 'AWSCURRENT' } } }));
    });
  });
});
