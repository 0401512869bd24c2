/**
 * The synthesized templates pass cfn-lint (AWS's CloudFormation linter: resource schemas, property values,
 * intrinsic functions, IAM policy syntax), errors and warnings alike.
 *
 * One check is ignored for every template: W3005 ("dependency already enforced by a GetAtt"), which reports
 * the DependsOn that aws-cdk-lib adds from a Lambda function to its role alongside the GetAtt of the role's
 * ARN; it is redundant, not wrong. A resource-level exception lives beside its resource (the dashboard's Tags).
 *
 * cfn-lint is a Python tool (pip install cfn-lint) that the machines this project builds on carry; without it
 * this test fails and says so, rather than passing without having linted.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { STAGES } from '../../lib/config';
import { synthesizeStages } from './stack-fixture';

describe('cfn-lint', () => {
  it('finds nothing in the prod, staging and dev templates', () => {
    const version = spawnSync('cfn-lint', ['--version'], { encoding: 'utf8' });
    if (version.status !== 0) throw new Error('cfn-lint is not on PATH (pip install cfn-lint): the templates cannot be linted');
    const stages = synthesizeStages();
    const dir = mkdtempSync(path.join(tmpdir(), 'cfn-lint-'));
    try {
      const files = STAGES.map((stage) => {
        const file = path.join(dir, `${stage}.template.json`);
        writeFileSync(file, JSON.stringify(stages[stage].template.toJSON()));
        return file;
      });
      const run = spawnSync('cfn-lint', ['--ignore-checks', 'W3005', '--', ...files], { encoding: 'utf8' });
      expect({ status: run.status, findings: run.stdout.trim() }).toEqual({ status: 0, findings: '' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
