import { validateContext } from '../../../lambda/keys/context';
import { PooledRandom } from '../../../lambda/keys/random';

describe('validateContext', () => {
  it.each(['trading_data', 'user_pii', 'api_credentials', 'orders.v2', 'a', '_x', 'A'.repeat(64)])('accepts %s', (c) => {
    expect(validateContext(c)).toBe(c);
  });

  it.each(['', 'user pii', 'a:b', '-lead', '.lead', 'A'.repeat(65), 'ünïcode', 'tab\there', 'x/y'])('rejects %j with INVALID_CONTEXT and the rule', (c) => {
    expect(() => validateContext(c)).toThrow(expect.objectContaining({ code: 'INVALID_CONTEXT', message: expect.stringMatching(/ASCII letters/) }));
  });

  it('rejects non-strings', () => {
    expect(() => validateContext(42)).toThrow(expect.objectContaining({ code: 'INVALID_CONTEXT' }));
  });
});

describe('PooledRandom', () => {
  it('never hands out the same bytes twice across refills', () => {
    const r = new PooledRandom(64);
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) seen.add(r.bytes(12).toString('hex'));
    expect(seen.size).toBe(1000);
  });

  it('returns copies that later draws do not overwrite', () => {
    const r = new PooledRandom(24);
    const a = r.bytes(12);
    const copy = Buffer.from(a);
    r.bytes(12);
    r.bytes(12);
    expect(a.equals(copy)).toBe(true);
  });

  it('serves requests larger than its pool', () => {
    expect(new PooledRandom(16).bytes(100)).toHaveLength(100);
  });
});
