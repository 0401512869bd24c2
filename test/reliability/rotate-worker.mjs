// A process that rotates a file keyset `rounds` times, as an operator's script would: a CONFLICT
// (someone wrote since our read) or STORE_BUSY is retried with a fresh read. Imports the compiled
// dist/ so a spawn costs ~0.1 s. One JSON line per outcome on stdout, written synchronously (a pipe
// on Linux), so a line seen by the parent means the rotation it reports was committed.
//
// usage: node rotate-worker.mjs KEYSET_PATH ROUNDS
import { KeyManager } from '../../dist/lambda/key-manager.js';
import { FileStore } from '../../dist/lambda/stores/file-store.js';

const [keysetPath, roundsText] = process.argv.slice(2);
const rounds = Number(roundsText);
const manager = new KeyManager({ store: new FileStore(keysetPath, { lockTimeoutMs: 2_000 }), actor: `worker-${process.pid}` });
const say = (event) => process.stdout.write(`${JSON.stringify({ pid: process.pid, ...event })}\n`);

// Startup (~0.3-0.8 s on a loaded machine) is over: the parent times its kills from here.
say({ event: 'ready', round: -1 });

for (let round = 0; round < rounds; round++) {
  for (let attempt = 0; ; attempt++) {
    try {
      const r = await manager.rotate();
      say({ event: 'rotated', round, to: r.toVersion, from: r.fromVersion });
      break;
    } catch (err) {
      const code = err?.code ?? 'INTERNAL';
      if ((code === 'CONFLICT' || code === 'STORE_BUSY') && attempt < 1_000) {
        say({ event: 'retry', round, code });
        continue;
      }
      say({ event: 'failed', round, code, message: String(err?.message ?? err) });
      process.exit(1);
    }
  }
}
