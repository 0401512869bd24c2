/**
 * Child process for every timed ratio (throughput, reencrypt, the ESDK, derivation), started by `run.ts` with the
 * runtime settings in its `TIMING_RUNTIME`, so that each workload pays for its own allocation and collection, on its own
 * time, and nothing else's:
 *
 * - `--single-threaded-gc`: V8's collector works on the main thread. With its background threads (the default) the
 *   native buffers and cipher contexts a slice left were freed by a second thread while the next slice ran, and on
 *   this 2-vCPU VM that doubled the next slice's time (500 raw 1 KiB decrypts: 2 ms a slice between scavenges, 9 ms
 *   for the three after one), whichever workload it belonged to.
 * - glibc's trim and mmap thresholds fixed (`MALLOC_TRIM_THRESHOLD_`, `MALLOC_MMAP_THRESHOLD_`): by default, once a
 *   collection freed enough buffers in a row, glibc returned the top of its heap to the system and the next workload
 *   faulted it back in, a page at a time. A page fault costs 13-14 µs on this VM (`details.page_fault_us`; well
 *   under 1 µs on bare metal), sixteen of them a 64 KiB buffer, ten times the cipher's own work: a 64 KiB figure
 *   then measured where the heap top happened to be (the same raw decrypt ran at 3,700 and at 32,000 ops/s in one
 *   run).
 *
 * Both apply to the anchors and the key manager alike; the memory child and the load-time children keep the
 * defaults. Prints one JSON line: `{ figures, phase_seconds }`.
 */
import { performance } from 'node:perf_hooks';
import { measureReencrypt } from './reencrypt';
import type { Figure } from './stats';
import { round } from './targets';
import { measureDerivation, measureEsdk, measureThroughput } from './throughput';

async function main(): Promise<void> {
  const runs = Number(process.argv[2]);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`timing-child: expected a run count, got ${process.argv[2]}`);
  const figures: Record<string, Figure> = {};
  const phaseSeconds: Record<string, number> = {};
  const phases: [string, (n: number) => Promise<Record<string, Figure>>][] = [
    ['throughput', measureThroughput],
    ['reencrypt', measureReencrypt],
    ['esdk', measureEsdk],
    ['derivation', measureDerivation],
  ];
  for (const [name, measure] of phases) {
    const start = performance.now();
    Object.assign(figures, await measure(runs));
    phaseSeconds[name] = round((performance.now() - start) / 1000);
  }
  process.stdout.write(`${JSON.stringify({ figures, phase_seconds: phaseSeconds })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
