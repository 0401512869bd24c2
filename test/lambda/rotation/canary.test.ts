import { randomBytes } from 'node:crypto';
import { createKeyset, type Keyset, rotateKeyset } from '../../../lambda/keys/keyset';
import { systemRandom } from '../../../lambda/keys/random';
import { testStagedKeyset } from '../../../lambda/rotation/canary';

const m = () => randomBytes(32).toString('base64');
const clock = () => new Date('2026-04-01T00:00:00.000Z');
const base = rotateKeyset(createKeyset({ material: m(), now: '2026-01-01T00:00:00.000Z' }), { material: m(), now: '2026-02-01T00:00:00.000Z' });

async function code(current: Keyset, staged: Keyset): Promise<string> {
  return testStagedKeyset(current, staged, systemRandom, clock).then(
    () => 'ok',
    (e: { code: string; message: string }) => `${e.code}: ${e.message}`,
  );
}

describe('testStagedKeyset', () => {
  it('passes a rotation and an emergency rotation', async () => {
    expect(await code(base, rotateKeyset(base, { material: m(), now: '2026-04-01T00:00:00.000Z' }))).toBe('ok');
    expect(await code(base, rotateKeyset(base, { material: m(), now: '2026-04-01T00:00:00.000Z', disablePrevious: true, reason: 'leak' }))).toBe('ok');
  });

  it('fails a keyset whose old primary material changed: the old canary would not decrypt', async () => {
    const next = rotateKeyset(base, { material: m(), now: '2026-04-01T00:00:00.000Z' });
    const altered: Keyset = { ...next, versions: next.versions.map((v) => (v.version === base.primary ? { ...v, material: m() } : v)) };
    expect(await code(base, altered)).toMatch(/^ROTATION_FAILED: .*earlier version is missing or changed.*the current keyset is unchanged/);
  });

  it('fails a keyset that dropped a version', async () => {
    const next = rotateKeyset(base, { material: m(), now: '2026-04-01T00:00:00.000Z' });
    expect(await code(base, { ...next, versions: next.versions.slice(1) })).toMatch(/^ROTATION_FAILED/);
  });

  it('fails a keyset that is not one rotation ahead', async () => {
    expect(await code(base, base)).toMatch(/^ROTATION_FAILED/);
  });
});
