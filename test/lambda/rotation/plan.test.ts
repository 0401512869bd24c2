import { randomBytes } from 'node:crypto';
import { createKeyset, disableVersion, type Keyset, rotateKeyset } from '../../../lambda/keys/keyset';
import { isRotationOf, planRotation, rotatedRecently, rotationToken, type RotationFacts } from '../../../lambda/rotation/plan';

const m = () => randomBytes(32).toString('base64');
const T0 = '2026-01-01T00:00:00.000Z';
const base = createKeyset({ material: m(), now: T0 });
const rotated = (ks: Keyset, now = '2026-04-01T00:00:00.000Z', emergency = false): Keyset =>
  rotateKeyset(ks, { material: m(), now, disablePrevious: emergency, ...(emergency ? { reason: 'compromise' } : {}) });
const NOW = new Date('2026-04-01T12:00:00.000Z');

function facts(over: Partial<RotationFacts> = {}): RotationFacts {
  return { trigger: 'schedule', now: NOW, minIntervalMinutes: 60, current: { versionId: 'cur', keyset: base }, ...over };
}

describe('rotationToken', () => {
  it('uses an EventBridge event id as is', () => {
    expect(rotationToken('0f3c0e2a-5c4b-4f7e-9b1d-2a6e8c9d0e1f')).toBe('0f3c0e2a-5c4b-4f7e-9b1d-2a6e8c9d0e1f');
  });
  it('maps a short manual id to a stable 64-hex-digit token Secrets Manager accepts', () => {
    const t = rotationToken('manual-2026-11-26');
    expect(t).toMatch(/^[0-9a-f]{64}$/);
    expect(rotationToken('manual-2026-11-26')).toBe(t);
    expect(rotationToken('manual-2026-11-27')).not.toBe(t);
  });
});

describe('rotatedRecently', () => {
  it('is true within the interval and false after it', () => {
    const ks = rotated(base, '2026-04-01T11:30:00.000Z');
    expect(rotatedRecently(ks, NOW, 60)).toBe(true);
    expect(rotatedRecently(ks, NOW, 30)).toBe(false);
    expect(rotatedRecently(ks, NOW, 0)).toBe(false);
  });
});

describe('isRotationOf', () => {
  it('accepts exactly one rotation, normal or emergency', () => {
    expect(isRotationOf(base, rotated(base))).toBe(true);
    expect(isRotationOf(base, rotated(base, undefined, true))).toBe(true);
  });
  it('rejects a keyset built on an older keyset, two rotations, or altered earlier versions', () => {
    const two = rotated(base);
    expect(isRotationOf(two, rotated(base))).toBe(false);
    expect(isRotationOf(base, rotated(rotated(base)))).toBe(false);
    const next = rotated(base);
    const tampered: Keyset = { ...next, versions: next.versions.map((v) => (v.version === 1 ? { ...v, material: m() } : v)) };
    expect(isRotationOf(base, tampered)).toBe(false);
    const v2 = rotated(base);
    const withDisabledOther = rotated(v2);
    expect(isRotationOf(v2, disableVersion(withDisabledOther, 1, { now: '2026-04-01T00:00:00.000Z' }))).toBe(false);
  });
});

describe('planRotation', () => {
  it('rotates when nothing is staged', () => {
    expect(planRotation(facts())).toEqual({ step: 'rotate' });
  });

  it('finishes a retried rotation whose version is already current', () => {
    expect(planRotation(facts({ own: { versionId: 'cur', stages: ['AWSCURRENT', 'AWSPENDING'], keyset: base } }))).toEqual({ step: 'finish', versionId: 'cur', clearPendingLabel: true });
  });

  it('resumes its own staged version', () => {
    expect(planRotation(facts({ own: { versionId: 'mine', stages: ['AWSPENDING'], keyset: rotated(base) } }))).toEqual({ step: 'resume-own', versionId: 'mine' });
  });

  it('resumes its own version even if another run took the AWSPENDING label', () => {
    expect(planRotation(facts({ own: { versionId: 'mine', stages: [], keyset: rotated(base) } })).step).toBe('resume-own');
  });

  it('reports a superseded own version when AWSCURRENT moved on', () => {
    const moved = rotated(base, '2026-03-01T00:00:00.000Z');
    expect(planRotation(facts({ current: { versionId: 'other', keyset: moved }, own: { versionId: 'mine', stages: ['AWSPENDING'], keyset: rotated(base) } }))).toEqual({
      step: 'superseded',
      versionId: 'mine',
      clearOwnPending: true,
    });
  });

  it('skips a scheduled run within the minimum interval, but never a manual or emergency one', () => {
    const fresh = rotated(base, '2026-04-01T11:59:00.000Z');
    expect(planRotation(facts({ current: { versionId: 'c', keyset: fresh } }))).toEqual({ step: 'skip', clearOwnPending: false });
    expect(planRotation(facts({ trigger: 'manual', current: { versionId: 'c', keyset: fresh } }))).toEqual({ step: 'rotate' });
    expect(planRotation(facts({ trigger: 'emergency', current: { versionId: 'c', keyset: fresh } }))).toEqual({ step: 'rotate' });
  });

  it('resumes a valid AWSPENDING left by a crashed run with another id', () => {
    expect(planRotation(facts({ pending: { versionId: 'crashed', stages: ['AWSPENDING'], keyset: rotated(base) } }))).toEqual({ step: 'resume-pending', versionId: 'crashed' });
  });

  it('clears a pending version that is invalid, stale or (for an emergency) not an emergency rotation', () => {
    const invalid = planRotation(facts({ pending: { versionId: 'p', stages: ['AWSPENDING'] } }));
    expect(invalid).toMatchObject({ step: 'rotate', clearPending: { versionId: 'p', reason: expect.stringContaining('not a valid keyset') } });
    const stale = planRotation(facts({ pending: { versionId: 'p', stages: ['AWSPENDING'], keyset: rotated(rotated(base)) } }));
    expect(stale).toMatchObject({ step: 'rotate', clearPending: { versionId: 'p' } });
    const notEmergency = planRotation(facts({ trigger: 'emergency', pending: { versionId: 'p', stages: ['AWSPENDING'], keyset: rotated(base) } }));
    expect(notEmergency).toMatchObject({ step: 'rotate', clearPending: { versionId: 'p', reason: expect.stringContaining('emergency') } });
    const emergencyPending = planRotation(facts({ trigger: 'emergency', pending: { versionId: 'p', stages: ['AWSPENDING'], keyset: rotated(base, undefined, true) } }));
    expect(emergencyPending).toEqual({ step: 'resume-pending', versionId: 'p' });
  });

  it('clears an AWSPENDING label left on the current version', () => {
    expect(planRotation(facts({ pending: { versionId: 'cur', stages: ['AWSCURRENT', 'AWSPENDING'], keyset: base } }))).toMatchObject({ step: 'rotate', clearPending: { versionId: 'cur' } });
  });
});
