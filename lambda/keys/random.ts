import { randomBytes, randomFillSync } from 'node:crypto';

/** Where fresh random bytes come from. Injected so tests can drive it; production uses the CSPRNG. */
export interface RandomSource {
  /** `n` fresh bytes from a CSPRNG; never bytes handed out before. */
  bytes(n: number): Buffer;
}

export const systemRandom: RandomSource = { bytes: (n) => randomBytes(n) };

/**
 * Hands out CSPRNG bytes from a pre-filled pool. A `randomBytes(12)` call costs ~3.4 µs, a quarter of
 * a 1 KiB encrypt; refilling 4 KiB at a time amortises it. Each byte is handed out once: the pool is
 * refilled from the CSPRNG, never rewound, and each returned Buffer is a copy.
 */
export class PooledRandom implements RandomSource {
  private readonly pool: Buffer;
  private offset: number;

  constructor(poolBytes = 4096) {
    this.pool = Buffer.allocUnsafe(poolBytes);
    this.offset = poolBytes;
  }

  bytes(n: number): Buffer {
    if (n > this.pool.length) return randomBytes(n);
    if (this.offset + n > this.pool.length) {
      randomFillSync(this.pool);
      this.offset = 0;
    }
    const out = Buffer.from(this.pool.subarray(this.offset, this.offset + n));
    this.pool.fill(0, this.offset, this.offset + n);
    this.offset += n;
    return out;
  }
}

/** New key material: 32 fresh bytes as base64, the raw bytes zeroed once encoded. */
export function freshMaterial(random: RandomSource): string {
  const bytes = random.bytes(32);
  const text = bytes.toString('base64');
  bytes.fill(0);
  return text;
}
