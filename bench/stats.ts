/** Small measurement helpers shared by the benchmarks. */
import { performance } from 'node:perf_hooks';

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** A figure: the median of its runs, with the runs kept so a reader can judge the spread. */
export interface Figure {
  readonly median: number;
  readonly runs: readonly number[];
}

export function figure(runs: readonly number[]): Figure {
  return { median: median(runs), runs };
}

/** Milliseconds for `ops` sequential calls of a synchronous `op`. */
export function timeSync(op: (i: number) => unknown, ops: number): number {
  const start = performance.now();
  for (let i = 0; i < ops; i++) op(i);
  return performance.now() - start;
}

/** Milliseconds for `ops` sequential, awaited calls of an async `op`. */
export async function timeAsync(op: (i: number) => Promise<unknown>, ops: number): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < ops; i++) await op(i);
  return performance.now() - start;
}

export interface Workload {
  /** Runs the operation `ops` times; returns the elapsed milliseconds. */
  readonly time: (ops: number) => number | Promise<number>;
  /** Operations per slice. */
  readonly ops: number;
  /** Report operations per second, or microseconds per operation. */
  readonly unit: 'ops/s' | 'us';
}

/**
 * Measures workloads side by side. Each of `runs` runs is cut into `slices` short slices, and the
 * workloads alternate slice by slice (a, b, a, b, ...), so a busy moment on a shared machine hits
 * both sides of a ratio alike. One unmeasured slice of each warms the JIT first.
 */
export async function interleaved(runs: number, slices: number, workloads: Record<string, Workload>): Promise<Record<string, Figure>> {
  const names = Object.keys(workloads);
  for (const name of names) await workloads[name].time(workloads[name].ops);
  const samples: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < runs; r++) {
    const elapsed: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
    for (let s = 0; s < slices; s++) {
      for (const name of names) elapsed[name] += await workloads[name].time(workloads[name].ops);
    }
    for (const name of names) {
      const { ops, unit } = workloads[name];
      const total = ops * slices;
      samples[name].push(unit === 'ops/s' ? (total * 1000) / elapsed[name] : (elapsed[name] * 1000) / total);
    }
  }
  return Object.fromEntries(names.map((n) => [n, figure(samples[n])]));
}
