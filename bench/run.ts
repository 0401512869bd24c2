/**
 * `npm run bench`: every figure of issues 6 and 15 in one run, each the median of at least 5 runs, with its
 * anchors measured in the same process (the timed ratios in one child, `timing-child.ts`, with the runtime
 * settings it documents). Prints one JSON object on stdout (and a table on stderr too when stdout is a
 * terminal). Exit code 0 even when a target is missed: the JSON says which.
 *
 * BENCH_RUNS=n raises the number of runs per figure (never below 5).
 */
import { spawn } from 'node:child_process';
import { cpus } from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { measureBundles } from './bundle';
import { measureIoCounts } from './io-counts';
import { type Figure, figure } from './stats';
import { evaluateTargets, round, type Target } from './targets';

const MIN_RUNS = 5;
/** How the timing child runs (why: timing-child.ts). Memory and load-time children keep the defaults. */
const TIMING_RUNTIME = {
  nodeFlags: ['--expose-gc', '--single-threaded-gc', '--no-warnings'],
  env: { MALLOC_TRIM_THRESHOLD_: String(512 * 1024 * 1024), MALLOC_MMAP_THRESHOLD_: String(32 * 1024 * 1024) },
} as const;
/** RSS children run two at a time: they measure memory, not time, and the machine has two cores. */
const RSS_PARALLEL = 2;

function log(message: string): void {
  if (process.stderr.isTTY) process.stderr.write(`  ${message}\n`);
}

/** Seconds each phase took, reported so a slow bench can be traced to its phase. */
const phaseSeconds: Record<string, number> = {};

async function phase<T>(name: string, run: () => Promise<T>): Promise<T> {
  log(`${name} ...`);
  const start = performance.now();
  try {
    return await run();
  } finally {
    phaseSeconds[name] = round((performance.now() - start) / 1000);
  }
}

/** Runs a bench child (`node <flags> <script> <args>`) and parses the JSON line it prints. */
function runChild<T>(script: string, args: readonly string[], nodeFlags: readonly string[], env: Record<string, string> = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeFlags, path.join(__dirname, script), ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`${script} exited with ${code}: ${err.trim()}`));
      else resolve(JSON.parse(out) as T);
    });
  });
}

function runRssChild(): Promise<Record<string, number>> {
  return runChild('rss-child.js', [], ['--expose-gc', '--no-warnings']);
}

/**
 * µs per first touch of a fresh page (a 64 MiB anonymous mapping, touched once per 4 KiB), in this process, with the
 * allocator's defaults: why the timing child fixes glibc's thresholds (timing-child.ts).
 */
function pageFaultUs(): number {
  const page = 4096;
  const samples: number[] = [];
  for (let i = 0; i < 3; i++) {
    const start = performance.now();
    const block = Buffer.allocUnsafeSlow(64 * 1024 * 1024);
    for (let at = 0; at < block.length; at += page) block[at] = 1;
    samples.push(((performance.now() - start) * 1000) / (block.length / page));
  }
  return figure(samples).median;
}

async function measureRss(runs: number): Promise<{ figures: Record<string, Figure>; details: Record<string, unknown> }> {
  const results: Record<string, number>[] = [];
  for (let started = 0; started < runs; started += RSS_PARALLEL) {
    const batch = Array.from({ length: Math.min(RSS_PARALLEL, runs - started) }, () => runRssChild());
    results.push(...(await Promise.all(batch)));
  }
  return {
    figures: { rss_growth_mb_1m_ops_100k_contexts: figure(results.map((r) => r.rss_growth_mb)) },
    details: {
      rss_peak_growth_mb: figure(results.map((r) => r.peak_rss_growth_mb)).median,
      rss_heap_used_growth_mb: figure(results.map((r) => r.heap_used_growth_mb)).median,
      rss_metrics_series_buffered: results[0].metrics_series_buffered,
      rss_metrics_datums_dropped_by_bound: results[0].metrics_datums_dropped_by_bound,
    },
  };
}

function table(figures: Record<string, Figure>, targets: readonly Target[]): string {
  const rows: string[][] = [['figure', 'median', 'min', 'max']];
  for (const [name, f] of Object.entries(figures)) rows.push([name, String(round(f.median)), String(round(Math.min(...f.runs))), String(round(Math.max(...f.runs)))]);
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const lines = rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '));
  lines.push('', 'targets:');
  for (const t of targets) lines.push(`  ${t.pass ? 'PASS' : 'MISS'}  ${t.name} = ${t.value ?? 'n/a'} (${t.op} ${t.target})`);
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<void> {
  const runs = Math.max(MIN_RUNS, Number(process.env.BENCH_RUNS ?? MIN_RUNS) || MIN_RUNS);
  const started = performance.now();
  const figures: Record<string, Figure> = {};
  const details: Record<string, unknown> = {};
  const missing: string[] = [];

  // Every timed ratio is measured in one child with the runtime settings of timing-child.ts, before anything else
  // runs beside it.
  const timing = await phase('timing', () => runChild<{ figures: Record<string, Figure>; phase_seconds: Record<string, number> }>('timing-child.js', [String(runs)], TIMING_RUNTIME.nodeFlags, TIMING_RUNTIME.env));
  Object.assign(figures, timing.figures);
  details.timing_runtime = { node_flags: TIMING_RUNTIME.nodeFlags, env: TIMING_RUNTIME.env, page_fault_us: round(pageFaultUs()) };
  // Counts and memory do not depend on speed, so the memory children run while this process counts
  // I/O; load times (a ratio of two interleaved timings) are measured after both, on a quieter machine.
  const rssRun = phase('memory', () => measureRss(runs));
  const io = await phase('io_counts', () => measureIoCounts(runs));
  Object.assign(figures, io.figures);
  Object.assign(details, io.details);
  const rss = await rssRun;
  Object.assign(figures, rss.figures);
  Object.assign(details, rss.details);
  const bundles = await phase('bundles', () => measureBundles(runs));
  Object.assign(figures, bundles.figures);
  Object.assign(details, bundles.details);
  if (bundles.missing) missing.push(bundles.missing);
  details.phase_seconds = { ...timing.phase_seconds, ...phaseSeconds };

  const targets = evaluateTargets(figures, io.details.putmetricdata_calls_allowed as number);
  const result = {
    bench: 'alphapulse-keys',
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cpus: cpus().length,
    runs_per_figure: runs,
    duration_s: round((performance.now() - started) / 1000),
    figures: Object.fromEntries(Object.entries(figures).map(([k, f]) => [k, round(f.median)])),
    runs: Object.fromEntries(Object.entries(figures).map(([k, f]) => [k, f.runs.map(round)])),
    ratios: {
      'encrypt_64b_ops / raw_aesgcm_64b_ops': round(figures.encrypt_64b_ops.median / figures.raw_aesgcm_64b_ops.median),
      'encrypt_1k_ops / raw_aesgcm_1k_ops': round(figures.encrypt_1k_ops.median / figures.raw_aesgcm_1k_ops.median),
      'encrypt_64k_ops / raw_aesgcm_64k_ops': round(figures.encrypt_64k_ops.median / figures.raw_aesgcm_64k_ops.median),
      'decrypt_64b_ops / raw_aesgcm_decrypt_64b_ops': round(figures.decrypt_64b_ops.median / figures.raw_aesgcm_decrypt_64b_ops.median),
      'decrypt_64k_ops / raw_aesgcm_decrypt_64k_ops': round(figures.decrypt_64k_ops.median / figures.raw_aesgcm_decrypt_64k_ops.median),
    },
    targets,
    details,
    missing,
    all_targets_met: missing.length === 0 && targets.every((t) => t.pass),
  };
  if (process.stdout.isTTY) process.stderr.write(`\n${table(figures, targets)}\n`);
  process.stdout.write(`${JSON.stringify(result, null, process.stdout.isTTY ? 2 : 0)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
