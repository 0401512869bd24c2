/**
 * The figures each reliability suite prints at its end: cases tried, faults injected, versions lost
 * and leaks found. One line per suite, so CI logs can be grepped for `[reliability]`.
 */

/** Multiplies the seeded case counts. CI runs the default (1); `RELIABILITY_SCALE=4` runs four times as many. */
export const SCALE = (() => {
  const raw = process.env.RELIABILITY_SCALE;
  if (raw === undefined || raw === '') return 1;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`RELIABILITY_SCALE must be a positive number, got '${raw}'`);
  return n;
})();

/** A count scaled by RELIABILITY_SCALE, never below 1. */
export function scaled(count: number): number {
  return Math.max(1, Math.round(count * SCALE));
}

/** mulberry32: a small seeded generator, so a failing schedule can be replayed with RELIABILITY_SEED. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Figures {
  cases = 0;
  faults = 0;
  versionsLost = 0;
  leaks = 0;
  private readonly extra = new Map<string, number>();

  constructor(readonly suite: string) {}

  /** Adds to a suite-specific counter printed after the four standard ones. */
  add(name: string, by = 1): void {
    this.extra.set(name, (this.extra.get(name) ?? 0) + by);
  }

  get(name: string): number {
    return this.extra.get(name) ?? 0;
  }

  line(): string {
    const extra = [...this.extra].map(([k, v]) => ` ${k}=${v}`).join('');
    return `[reliability] ${this.suite}: cases=${this.cases} faults=${this.faults} versionsLost=${this.versionsLost} leaks=${this.leaks}${extra} (scale ${SCALE})`;
  }

  /** Prints the summary line; call from `afterAll`. */
  print(): void {
    process.stdout.write(`${this.line()}\n`);
  }
}
