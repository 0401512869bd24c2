/**
 * Deployment cost: the size of the rotation Lambda's esbuild bundle (built with the same settings the
 * CDK construct uses) and how long a fresh Node.js process takes to `require` it, against a bundle of
 * the bare SDK clients it needs.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { bundleLikeLambda, ROTATION_HANDLER_ENTRY } from '../lib/bundling';

export { bundleLikeLambda } from '../lib/bundling';
import { type Figure, figure } from './stats';

export const SDK3_ANCHOR_ENTRY = 'bench/fixtures/sdk3-clients.ts';

/**
 * The repository root: the nearest directory above this file holding package.json and the anchor's source (a
 * package.json that `tsc` copied into dist/ is not it).
 */
export function repoRoot(from = __dirname): string {
  let dir = from;
  while (!existsSync(path.join(dir, 'package.json')) || !existsSync(path.join(dir, SDK3_ANCHOR_ENTRY))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${from}`);
    dir = up;
  }
  return dir;
}

/** Milliseconds a fresh `node` process spends in `require(file)`, timed inside the child. */
export function loadMillis(file: string): number {
  const script = `const t=process.hrtime.bigint();require(${JSON.stringify(file)});process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e6))`;
  const out = execFileSync(process.execPath, ['--no-warnings', '-e', script], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, AWS_REGION: process.env.AWS_REGION ?? 'eu-west-1', NODE_OPTIONS: '' },
  });
  return Number(out);
}

export interface BundleResult {
  readonly figures: Record<string, Figure>;
  readonly details: Record<string, unknown>;
  /** Why a figure is missing (the handler does not exist yet, or it failed to bundle or load). */
  readonly missing?: string;
}

export async function measureBundles(runs: number): Promise<BundleResult> {
  const root = repoRoot();
  const outDir = mkdtempSync(path.join(tmpdir(), 'alphapulse-bench-'));
  try {
    const anchor = await bundleLikeLambda(root, SDK3_ANCHOR_ENTRY, outDir);
    const loads = Math.max(runs, 25);
    const details: Record<string, unknown> = { sdk3_bundle_bytes: anchor.bytes, load_runs: loads };
    if (!existsSync(path.join(root, ROTATION_HANDLER_ENTRY))) {
      loadMillis(anchor.file);
      return { figures: { sdk3_load_ms: figure(Array.from({ length: loads }, () => loadMillis(anchor.file))) }, details, missing: `${ROTATION_HANDLER_ENTRY} does not exist yet` };
    }
    let handler: { file: string; bytes: number };
    try {
      handler = await bundleLikeLambda(root, ROTATION_HANDLER_ENTRY, outDir);
    } catch (err) {
      const sdk3 = figure(Array.from({ length: loads }, () => loadMillis(anchor.file)));
      return { figures: { sdk3_load_ms: sdk3 }, details, missing: `${ROTATION_HANDLER_ENTRY} failed to bundle: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}` };
    }
    const lambda: number[] = [];
    const sdk3: number[] = [];
    const paired: number[] = [];
    try {
      // One unmeasured load each warms the OS file cache; then the two alternate in ABBA order, so
      // neither is always the one that runs right after the other.
      loadMillis(anchor.file);
      loadMillis(handler.file);
      for (let i = 0; i < loads; i++) {
        const handlerFirst = i % 2 === 0;
        const first = loadMillis(handlerFirst ? handler.file : anchor.file);
        const second = loadMillis(handlerFirst ? anchor.file : handler.file);
        const [h, a] = handlerFirst ? [first, second] : [second, first];
        lambda.push(h);
        sdk3.push(a);
        paired.push(h / a);
      }
      details.load_ratio_paired_median = figure(paired).median;
    } catch (err) {
      const stderr = (err as { stderr?: string }).stderr ?? String(err);
      return { figures: { lambda_bundle_bytes: figure([handler.bytes]) }, details, missing: `the ${ROTATION_HANDLER_ENTRY} bundle failed to load: ${stderr.trim().split('\n').slice(0, 3).join(' | ')}` };
    }
    return { figures: { lambda_bundle_bytes: figure([handler.bytes]), lambda_load_ms: figure(lambda), sdk3_load_ms: figure(sdk3) }, details };
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
}
