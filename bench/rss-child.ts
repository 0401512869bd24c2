/**
 * Child process for `rss_growth_mb_1m_ops_100k_contexts`, run with `--expose-gc` so the measurement
 * starts and ends on a collected heap. 1,000,000 encrypts over 100,000 contexts (each context used
 * 10 times in a row, so every context's key is derived once and then served from the cache) through
 * one key manager with its CloudWatch sink: the derived-key cache and the metrics buffer must both
 * stay bounded. Prints one JSON line.
 */
import { randomBytes } from 'node:crypto';
import { warmKeyManager } from './throughput';

const OPS = Number(process.env.BENCH_RSS_OPS ?? 1_000_000);
const CONTEXTS = Number(process.env.BENCH_RSS_CONTEXTS ?? 100_000);
const MiB = 1024 * 1024;

function collect(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc');
  gc();
  gc();
}

async function main(): Promise<void> {
  const { km, sink } = await warmKeyManager();
  const plaintext = randomBytes(64);
  const perContext = Math.max(1, Math.floor(OPS / CONTEXTS));
  for (let i = 0; i < 10_000; i++) await km.encrypt(plaintext, `warm_${i % 100}`);
  collect();
  const before = process.memoryUsage();
  let peak = before.rss;
  for (let i = 0; i < OPS; i++) {
    await km.encrypt(plaintext, `ctx_${Math.floor(i / perContext) % CONTEXTS}`);
    if (i % 50_000 === 0) peak = Math.max(peak, process.memoryUsage().rss);
  }
  collect();
  const after = process.memoryUsage();
  const stats = sink.stats();
  await sink.close();
  process.stdout.write(
    `${JSON.stringify({
      ops: OPS,
      contexts: CONTEXTS,
      rss_growth_mb: (after.rss - before.rss) / MiB,
      peak_rss_growth_mb: (Math.max(peak, after.rss) - before.rss) / MiB,
      heap_used_growth_mb: (after.heapUsed - before.heapUsed) / MiB,
      metrics_series_buffered: stats.bufferedSeries,
      metrics_datums_dropped_by_bound: stats.droppedDatums,
    })}\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
