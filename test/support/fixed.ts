/** Deterministic clock and random source for tests. */
import { createHash } from 'node:crypto';
import type { RandomSource } from '../../lambda/keys/random';

export class TestClock {
  constructor(public ms = Date.parse('2026-01-01T00:00:00.000Z')) {}
  readonly now = (): Date => new Date(this.ms);
  advance(ms: number): void {
    this.ms += ms;
  }
  advanceDays(days: number): void {
    this.ms += days * 86_400_000;
  }
}

/** Distinct, reproducible bytes per call (SHA-256 counter mode over a seed). */
export class SeededRandom implements RandomSource {
  private counter = 0;
  constructor(private readonly seed = 'test') {}
  bytes(n: number): Buffer {
    const out = Buffer.alloc(n);
    for (let off = 0; off < n; off += 32) {
      createHash('sha256').update(`${this.seed}:${this.counter++}`).digest().copy(out, off);
    }
    return out;
  }
}

export const material = (byte: number): string => Buffer.alloc(32, byte).toString('base64');
