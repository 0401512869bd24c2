/**
 * The synthesized templates, the three stages' and a bare AlphaPulseKeys's (no names, no stage), pass CDK's built-in
 * CloudFormation validation with its errors and warnings enforced (the other test files synthesize with it off, see
 * testApp), and cfn-lint (AWS's CloudFormation linter: resource schemas, property values, intrinsic functions, IAM
 * policy syntax), errors and warnings alike.
 *
 * One cfn-lint check is ignored for every template: W3005 ("dependency already enforced by a GetAtt"), which reports
 * the DependsOn that aws-cdk-lib adds from a Lambda function to its role alongside the GetAtt of the role's
 * ARN; it is redundant, not wrong. A resource-level exception lives beside its resource (the dashboard's Tags).
 *
 * cfn-lint is a Python tool (pip install cfn-lint) that the machines this project builds on carry; without it
 * this test fails and says so, rather than passing without having linted.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import { AlphaPulseKeys } from '../../lib/alphapulse-keys';
import { resolveStageConfig, STAGES } from '../../lib/config';
import { KeyManagementStack, stackName } from '../../lib/key-management-stack';

const app = new App({
  context: {
    // Errors stay errors (by default CDK reports them as warnings), and a warning fails the synthesis too.
    '@aws-cdk/core:validateAgainstDefaultRules': true,
    '@aws-cdk/core:strictCfnValidateErrors': true,
  },
});
const stacks: Stack[] = [...STAGES.map((stage) => new KeyManagementStack(app, stackName(stage), { config: resolveStageConfig(stage) })), new Stack(app, 'Bare')];
new AlphaPulseKeys(stacks[stacks.length - 1], 'Keys');

let assembly: CloudAssembly;
beforeAll(() => {
  assembly = app.synth();
});

describe("CDK's built-in CloudFormation validation", () => {
  it('finds nothing in the prod, staging, dev and bare templates (synthesis would have thrown)', () => {
    const report = JSON.parse(readFileSync(path.join(assembly.directory, 'validation-report.json'), 'utf8')) as { pluginReports: unknown[] };
    expect(report.pluginReports).toEqual([]);
  });
});

describe('cfn-lint', () => {
  it('finds nothing in the prod, staging, dev and bare templates', () => {
    const version = spawnSync('cfn-lint', ['--version'], { encoding: 'utf8' });
    if (version.status !== 0) throw new Error('cfn-lint is not on PATH (pip install cfn-lint): the templates cannot be linted');
    const dir = mkdtempSync(path.join(tmpdir(), 'cfn-lint-'));
    try {
      const files = stacks.map((stack) => {
        const file = path.join(dir, `${stack.stackName}.template.json`);
        writeFileSync(file, JSON.stringify(assembly.getStackArtifact(stack.artifactId).template));
        return file;
      });
      const run = spawnSync('cfn-lint', ['--ignore-checks', 'W3005', '--', ...files], { encoding: 'utf8' });
      expect({ status: run.status, findings: run.stdout.trim() }).toEqual({ status: 0, findings: '' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
