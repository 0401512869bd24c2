/**
 * `reencrypt` throughput: the command's streaming (`reencryptFile`: read JSON Lines, rewrap each record under the new
 * primary, write a temp file, fsync, link into place) over a file of 1 KiB records under the previous primary, in
 * records per second, beside its limit, raw AES-256-GCM decrypt then encrypt of the same records' payloads.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { reencryptFile } from '../cli/reencrypt-stream';
import { KeyManager } from '../lambda/key-manager';
import { createKeyset, rotateKeyset } from '../lambda/keys/keyset';
import { PooledRandom } from '../lambda/keys/random';
import { Rewrapper } from '../lambda/keys/rewrap';
import { MemoryStore } from '../lambda/stores/memory-store';
import { type Figure, interleaved, timeSync } from './stats';
import { rawDecrypt, rawEncrypt } from './throughput';

/**
 * Records per file (one slice): about 15 MB of JSON Lines, a small table's export. Each file also pays the command's
 * fixed costs (create the temp file, fsync it, link it into place, fsync the directory: 5-10 ms here), which a real
 * job spreads over far more records.
 */
const RECORDS = 10_000;
const SLICES = 2;
const RECORD_BYTES = 1024;

export async function measureReencrypt(runs: number): Promise<Record<string, Figure>> {
  const now = new Date().toISOString();
  const before = createKeyset({ material: randomBytes(32).toString('base64'), now });
  const km = new KeyManager({ store: new MemoryStore('bench', before), actor: 'bench' });
  const plaintexts = Array.from({ length: RECORDS }, () => randomBytes(RECORD_BYTES));
  const lines: string[] = [];
  for (const p of plaintexts) lines.push(JSON.stringify(await km.encrypt(p, 'trading_data')));
  const after = rotateKeyset(before, { material: randomBytes(32).toString('base64'), now });
  const rawKey = randomBytes(32);
  const rawPayloads = plaintexts.map((p) => rawEncrypt(rawKey, p));

  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'alphapulse-bench-reencrypt-'));
  const input = path.join(dir, 'records.jsonl');
  await fs.writeFile(input, `${lines.join('\n')}\n`);
  let outputs = 0;
  const reencryptOnce = async (): Promise<number> => {
    const output = path.join(dir, `out-${outputs++}.jsonl`);
    const rewrapper = new Rewrapper(after, new PooledRandom());
    const start = performance.now();
    const done = await reencryptFile({ input, output, fieldPath: [], maxLineBytes: 16 * 1024 * 1024, passThroughInvalid: false, rewrapper });
    const elapsed = performance.now() - start;
    rewrapper.destroy();
    await fs.rm(output);
    if (done.counts.rewrapped !== RECORDS) throw new Error(`reencrypt rewrapped ${done.counts.rewrapped} of ${RECORDS} records`);
    return elapsed;
  };
  try {
    return await interleaved(runs, SLICES, {
      reencrypt_1k_records_per_s: { ops: RECORDS, unit: 'ops/s', time: reencryptOnce },
      raw_aesgcm_reencrypt_1k_records_per_s: { ops: RECORDS, unit: 'ops/s', time: (n) => timeSync((i) => rawEncrypt(rawKey, rawDecrypt(rawKey, rawPayloads[i % RECORDS])), n) },
    });
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
