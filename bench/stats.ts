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
 * A minor collection, run at the end of every slice and timed as part of it, so each workload pays for collecting
 * its own garbage and nobody else's. Without it a scavenge landed in whichever slice filled the young generation,
 * and paid for every workload's garbage since the last one: here a scavenge takes 7-12 ms, most of it freeing the
 * native cipher contexts that every AES-GCM call leaves (about 1.6 µs each, a third of a raw 1 KiB decrypt), and
 * the workload that allocated the most JavaScript objects per operation (an envelope's strings and promises)
 * triggered most of them, so it paid for raw AES-GCM's ciphers too, and the anchors ran up to 6x faster or slower
 * than the same cipher inside the envelope. Measured with and without: a 500-operation slice plus its collection
 * takes what the same operations take when V8 collects on its own (within 5 %), so the cost stays in.
 */
function collectYoung(): void {
  const gc = (globalThis as { gc?: (options: { type: 'minor' }) => void }).gc;
  if (!gc) throw new Error('the benchmarks need node --expose-gc (run.ts starts the timing child with it)');
  gc({ type: 'minor' });
}

/**
 * Measures workloads side by side. Each of `runs` runs is cut into `slices` short slices, and the
 * workloads alternate slice by slice (a, b, a, b, ...), so a busy moment on a shared machine hits
 * both sides of a ratio alike; each slice ends with its own garbage collected (`collect`, by default
 * `collectYoung`), on its time. One unmeasured slice of each warms the JIT first.
 */
export async function interleaved(runs: number, slices: number, workloads: Record<string, Workload>, collect: () => void = collectYoung): Promise<Record<string, Figure>> {
  const names = Object.keys(workloads);
  for (const name of names) {
    await workloads[name].time(workloads[name].ops);
    collect();
  }
  const samples: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < runs; r++) {
    const elapsed: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
    for (let s = 0; s < slices; s++) {
      for (const name of names) {
        const ran = await workloads[name].time(workloads[name].ops);
        const start = performance.now();
        collect();
        elapsed[name] += ran + performance.now() - start;
      }
    }
    for (const name of names) {
      const { ops, unit } = workloads[name];
      const total = ops * slices;
      samples[name].push(unit === 'ops/s' ? (total * 1000) / elapsed[name] : (elapsed[name] * 1000) / total);
    }
  }
  return Object.fromEntries(names.map((n) => [n, figure(samples[n])]));
}
