import { figure, interleaved, median } from '../../bench/stats';
import { evaluateTargets } from '../../bench/targets';

const passing = {
  encrypt_1k_ops: figure([80_000]),
  raw_aesgcm_1k_ops: figure([100_000]),
  decrypt_1k_ops: figure([80_000]),
  raw_aesgcm_decrypt_1k_ops: figure([100_000]),
  encrypt_64k_ops: figure([9_000]),
  raw_aesgcm_b64_64k_ops: figure([10_000]),
  decrypt_64k_ops: figure([9_000]),
  raw_aesgcm_b64_decrypt_64k_ops: figure([10_000]),
  encrypt_binary_1k_ops: figure([90_000]),
  decrypt_binary_1k_ops: figure([90_000]),
  encrypt_binary_64k_ops: figure([18_000]),
  raw_aesgcm_64k_ops: figure([20_000]),
  decrypt_binary_64k_ops: figure([18_000]),
  raw_aesgcm_decrypt_64k_ops: figure([20_000]),
  reencrypt_1k_records_per_s: figure([25_000]),
  raw_aesgcm_reencrypt_1k_records_per_s: figure([50_000]),
  encrypt_1k_ops_beside_esdk: figure([50_000]),
  esdk_encrypt_1k_ops: figure([1_000]),
  legacy_pbkdf2_derive_us: figure([40_000]),
  derive_uncached_us: figure([20]),
  keyset_reads_per_100k_ops: figure([1, 1, 1, 1, 1]),
  keyset_reads_unknown_version_1000_concurrent: figure([1, 1, 1, 1, 1]),
  putmetricdata_calls_per_100k_ops: figure([3, 3, 3, 3, 3]),
  rss_growth_mb_1m_ops_100k_contexts: figure([30]),
  lambda_bundle_bytes: figure([300 * 1024]),
  lambda_load_ms: figure([105]),
  sdk3_load_ms: figure([100]),
};

describe('median', () => {
  it('takes the middle value, or the mean of the two middle values', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow(RangeError);
  });
});

describe('interleaved', () => {
  it('alternates workloads slice by slice and reports each as the median of its runs', async () => {
    const order: string[] = [];
    const figures = await interleaved(
      5,
      2,
      {
        a: { ops: 10, unit: 'ops/s', time: (n) => (order.push('a'), n) },
        b: { ops: 4, unit: 'us', time: (n) => (order.push('b'), n * 2) },
      },
      () => order.push('collect'),
    );
    expect(order.slice(0, 8)).toEqual(['a', 'collect', 'b', 'collect', 'a', 'collect', 'b', 'collect']);
    // Each slice is charged for the collection after it (a few µs here), so a figure is never better than its work.
    expect(figures.a.runs).toHaveLength(5);
    expect(figures.a.median).toBeLessThanOrEqual(1000);
    expect(figures.a.median).toBeGreaterThan(900);
    expect(figures.b.median).toBeGreaterThanOrEqual(2000);
    expect(figures.b.median).toBeLessThan(2200);
  });

  it('charges each slice for collecting its own garbage', async () => {
    let pendingMs = 0;
    const busy = (ms: number) => {
      const until = performance.now() + ms;
      while (performance.now() < until);
    };
    const figures = await interleaved(
      5,
      1,
      {
        // Both take 1 ms of work; only the first leaves 4 ms of garbage, which the collection after its slice pays.
        garbage: { ops: 1, unit: 'us', time: (n) => ((pendingMs = 4), n) },
        clean: { ops: 1, unit: 'us', time: (n) => n },
      },
      () => {
        busy(pendingMs);
        pendingMs = 0;
      },
    );
    expect(figures.garbage.median).toBeGreaterThanOrEqual(4000);
    expect(figures.clean.median).toBeLessThan(2000);
  });

  it('refuses to run without a collector to call rather than measure without one', async () => {
    const global = globalThis as { gc?: unknown };
    const gc = global.gc;
    delete global.gc;
    try {
      await expect(interleaved(1, 1, { a: { ops: 1, unit: 'ops/s', time: (n) => n } })).rejects.toThrow(/--expose-gc/);
    } finally {
      if (gc !== undefined) global.gc = gc;
    }
  });
});

describe('evaluateTargets', () => {
  it('passes every target when each ratio and count is within its bound', () => {
    const targets = evaluateTargets(passing, 3);
    expect(targets).toHaveLength(17);
    expect(targets.filter((t) => !t.pass)).toEqual([]);
  });

  it('fails an exact count when any run misses it, even if the median hits it', () => {
    const targets = evaluateTargets({ ...passing, keyset_reads_per_100k_ops: figure([1, 1, 2, 1, 1]) }, 3);
    expect(targets.find((t) => t.name === 'keyset_reads_per_100k_ops')).toMatchObject({ value: 2, pass: false });
  });

  it('fails the encrypt target below 0.8 of raw AES-GCM and the load target above 1.1', () => {
    const targets = evaluateTargets({ ...passing, encrypt_1k_ops: figure([70_000]), lambda_load_ms: figure([120]) }, 3);
    expect(targets.find((t) => t.name === 'encrypt_1k_ops / raw_aesgcm_1k_ops')).toMatchObject({ value: 0.7, pass: false });
    expect(targets.find((t) => t.name === 'lambda_load_ms / sdk3_load_ms')).toMatchObject({ value: 1.2, pass: false });
  });

  it('holds decrypt to 0.75 of raw AES-GCM, the 64 KiB record form to 0.9 of AES-GCM with base64, the binary form to 0.9 of raw, reencrypt to 0.5', () => {
    const targets = evaluateTargets(
      { ...passing, decrypt_1k_ops: figure([74_000]), decrypt_64k_ops: figure([8_900]), decrypt_binary_1k_ops: figure([89_000]), reencrypt_1k_records_per_s: figure([24_000]) },
      3,
    );
    expect(targets.filter((t) => !t.pass).map((t) => t.name)).toEqual([
      'decrypt_1k_ops / raw_aesgcm_decrypt_1k_ops',
      'decrypt_64k_ops / raw_aesgcm_b64_decrypt_64k_ops',
      'decrypt_binary_1k_ops / raw_aesgcm_decrypt_1k_ops',
      'reencrypt_1k_records_per_s / raw_aesgcm_reencrypt_1k_records_per_s',
    ]);
  });

  it('holds PutMetricData calls to one per 1,000 distinct datums', () => {
    expect(evaluateTargets(passing, 2).find((t) => t.name === 'putmetricdata_calls_per_100k_ops')).toMatchObject({ target: 2, value: 3, pass: false });
  });

  it('fails a target whose figures are missing instead of passing it', () => {
    const { lambda_bundle_bytes: _bytes, lambda_load_ms: _load, ...rest } = passing;
    const targets = evaluateTargets(rest, 3);
    expect(targets.find((t) => t.name === 'lambda_bundle_bytes')).toMatchObject({ pass: false });
    expect(targets.find((t) => t.name === 'lambda_load_ms / sdk3_load_ms')).not.toHaveProperty('value');
  });
});
