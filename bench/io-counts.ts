/**
 * I/O counts that must not grow with traffic: keyset reads within the TTL, keyset reads when a
 * thousand concurrent decrypts name a version the cache has not seen (single flight), and
 * `PutMetricData` calls within one flush window.
 */
import { randomBytes } from 'node:crypto';
import { CloudWatchClient, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import { KeyManager } from '../lambda/key-manager';
import type { EnvelopeRecord } from '../lambda/keys/envelope';
import { createKeyset } from '../lambda/keys/keyset';
import { MemoryStore } from '../lambda/stores/memory-store';
import { CloudWatchMetricsSink, MAX_DATUMS_PER_REQUEST } from '../lambda/telemetry/cloudwatch-metrics';
import { type Figure, figure } from './stats';

const OPS = 100_000;
/** Distinct contexts in the 100k-operation run: 2,500 `KeyDerivations` series, so 3 requests are allowed. */
const CONTEXTS = 2_500;

function newStore(): MemoryStore {
  return new MemoryStore('bench', createKeyset({ material: randomBytes(32).toString('base64'), now: new Date().toISOString() }));
}

export interface OpsRun {
  readonly keysetReads: number;
  readonly putMetricDataCalls: number;
  readonly distinctDatums: number;
}

/**
 * 100,000 encrypts and decrypts over `CONTEXTS` contexts, one warm key manager, the real CloudWatch
 * sink on a mocked client (aws-sdk-client-mock, counting calls), flushed once at the end of the window.
 */
async function oneHundredThousandOps(): Promise<OpsRun> {
  const cw = mockClient(CloudWatchClient);
  try {
    cw.on(PutMetricDataCommand).resolves({});
    const store = newStore();
    const sink = new CloudWatchMetricsSink({ client: new CloudWatchClient({ region: 'eu-west-1' }), flushIntervalMs: 60_000 });
    // The derived-key cache holds every context here, so the run measures the I/O path, not HKDF.
    const km = new KeyManager({ store, metrics: sink, actor: 'bench', maxCachedKeys: CONTEXTS * 2 });
    const plaintext = randomBytes(64);
    let last: EnvelopeRecord | undefined;
    for (let i = 0; i < OPS; i++) {
      // Even steps encrypt under the next context, odd steps decrypt what was just encrypted.
      if (i % 2 === 0 || !last) last = await km.encrypt(plaintext, `ctx_${(i >> 1) % CONTEXTS}`);
      else await km.decrypt(last);
    }
    const distinctDatums = sink.stats().bufferedSeries;
    await sink.close();
    const calls = cw.commandCalls(PutMetricDataCommand).length;
    return { keysetReads: store.reads, putMetricDataCalls: calls, distinctDatums };
  } finally {
    cw.restore();
  }
}

/**
 * A warm key manager still caches version 1 when another writer rotates to version 2; 1,000
 * concurrent decrypts of version-2 ciphertexts must cause exactly one keyset read between them.
 */
async function unknownVersionConcurrent(): Promise<{ reads: number; succeeded: number }> {
  const store = newStore();
  const reader = new KeyManager({ store, actor: 'bench' });
  await reader.encrypt('warm', 'trading_data');
  const writer = new KeyManager({ store, actor: 'bench-writer' });
  await writer.rotate();
  const envelopes = await Promise.all(Array.from({ length: 1_000 }, (_, i) => writer.encrypt(`payload ${i}`, `ctx_${i % 10}`)));
  const before = store.reads;
  const results = await Promise.allSettled(envelopes.map((e) => reader.decrypt(e)));
  return { reads: store.reads - before, succeeded: results.filter((r) => r.status === 'fulfilled').length };
}

export async function measureIoCounts(runs: number): Promise<{ figures: Record<string, Figure>; details: Record<string, unknown> }> {
  const reads: number[] = [];
  const calls: number[] = [];
  const datums: number[] = [];
  const unknownReads: number[] = [];
  const unknownOk: number[] = [];
  for (let r = 0; r < runs; r++) {
    const run = await oneHundredThousandOps();
    reads.push(run.keysetReads);
    calls.push(run.putMetricDataCalls);
    datums.push(run.distinctDatums);
    const unknown = await unknownVersionConcurrent();
    unknownReads.push(unknown.reads);
    unknownOk.push(unknown.succeeded);
  }
  const allowedCalls = Math.ceil(Math.max(...datums) / MAX_DATUMS_PER_REQUEST);
  return {
    figures: {
      keyset_reads_per_100k_ops: figure(reads),
      keyset_reads_unknown_version_1000_concurrent: figure(unknownReads),
      putmetricdata_calls_per_100k_ops: figure(calls),
    },
    details: {
      ops_per_run: OPS,
      contexts_per_run: CONTEXTS,
      distinct_datums_per_window: Math.max(...datums),
      putmetricdata_calls_allowed: allowedCalls,
      unknown_version_decrypts_succeeded: Math.min(...unknownOk),
    },
  };
}
