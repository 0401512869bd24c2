/**
 * The CDK app as `cdk synth`/`diff`/`deploy` run it (a child process, context in CDK_CONTEXT_JSON): a stage or
 * setting that cannot be deployed is one `error: <field>: <message>` line and a non-zero exit, no stack trace.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const APP = path.resolve(__dirname, '../../dist/bin/app.js');

function synth(context: Record<string, unknown>): { status: number | null; stderr: string; outputs: string[] } {
  const out = mkdtempSync(path.join(os.tmpdir(), 'cdk-app-'));
  try {
    const r = spawnSync(process.execPath, [APP], { env: { PATH: process.env.PATH, CDK_OUTDIR: out, CDK_CONTEXT_JSON: JSON.stringify(context) }, encoding: 'utf8', timeout: 120_000 });
    return { status: r.status, stderr: r.stderr, outputs: readdirSync(out).filter((f) => f.endsWith('.template.json')) };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

describe('bin/app.ts', () => {
  it.each<[string, Record<string, unknown>, string]>([
    ['an unknown stage', { stage: 'qa' }, "error: stage: must be one of prod, staging, dev, got 'qa'"],
    ['a rotation period past a year', { stage: 'prod', 'alphapulse:prod': { rotationPeriodDays: 400 } }, 'error: rotationPeriodDays: '],
    ['stage settings that are not JSON', { stage: 'dev', 'alphapulse:dev': '{not json' }, 'error: alphapulse:dev: must be a JSON object of stage settings'],
  ])('%s is one error line and exit 1, no stack trace, no template', (_name, context, line) => {
    const r = synth(context);
    expect(r.status).toBe(1);
    expect(r.stderr.trimEnd().split('\n')).toEqual([expect.stringContaining(line)]);
    expect(r.stderr.startsWith(line)).toBe(true);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.outputs).toEqual([]);
  });
});
