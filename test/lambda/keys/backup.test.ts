import { BACKUP_FORMAT, describeLosses, isSafeRecovery, openBackup, parseBackupDocument, recoveryLosses, sealBackup } from '../../../lambda/keys/backup';
import { KeyManagementError } from '../../../lambda/keys/errors';
import { FernetKey } from '../../../lambda/keys/fernet';
import { createKeyset, destroyVersion, disableVersion, type Keyset, pruneDestroyed, rotateKeyset } from '../../../lambda/keys/keyset';
import seed from '../../fixtures/seed-backup.json';

const material = (byte: number) => Buffer.alloc(32, byte).toString('base64');
const T0 = '2026-01-01T00:00:00.000Z';
const source = { store: 'file', location: '/keys/keyset.json' };

function keysetWith(n: number): Keyset {
  let ks = createKeyset({ material: material(1), now: T0 });
  for (let i = 2; i <= n; i++) ks = rotateKeyset(ks, { material: material(i), now: T0 });
  return ks;
}

function codeOf(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    return (err as KeyManagementError).code;
  }
  return 'none';
}

describe('keyset backup', () => {
  const key = () => FernetKey.parse(Buffer.alloc(32, 5).toString('base64url'));

  it('seals the whole keyset (states, reasons, destroyed versions) and opens it unchanged', () => {
    let ks = keysetWith(3);
    ks = disableVersion(ks, 1, { now: T0, reason: 'compromised' });
    ks = destroyVersion(ks, 1, { now: T0 });
    ks = disableVersion(ks, 2, { now: T0, reason: 'old' });
    const now = new Date('2026-02-01T00:00:00Z');
    const token = sealBackup(ks, { source, key: key(), now, iv: Buffer.alloc(16, 1) });
    const opened = openBackup(token, key(), { now });
    expect(opened).toEqual({ kind: 'alphapulse', keyset: ks, createdAt: now.toISOString(), source });
  });

  it('refuses a backup whose keyset is stamped after the time it is opened, naming the field', () => {
    const ks = rotateKeyset(keysetWith(1), { material: material(2), now: '2030-01-01T00:00:00.000Z' });
    const token = sealBackup(ks, { source, key: key(), now: new Date('2026-02-01T00:00:00Z'), iv: Buffer.alloc(16, 1) });
    expect(() => openBackup(token, key(), { now: new Date('2026-02-01T00:00:00Z') })).toThrow(expect.objectContaining({ code: 'BACKUP_INVALID', message: expect.stringMatching(/invalid at versions\[1\]\.createdAt/) }));
  });

  it('carries the seed\'s field names (timestamp, current_version) so its Python recovery reads them', () => {
    const ks = keysetWith(2);
    const now = new Date('2026-02-01T00:00:00Z');
    const doc = JSON.parse(key().decrypt(sealBackup(ks, { source, key: key(), now, iv: Buffer.alloc(16) }), { now }).toString());
    expect(doc).toMatchObject({ format: BACKUP_FORMAT, formatVersion: 1, timestamp: now.toISOString(), current_version: 2, source });
  });

  it('opens a backup written by the seed\'s Python procedure as legacy versions 1..N', () => {
    const opened = openBackup(seed.token, FernetKey.parse(seed.backup_key), { now: new Date() });
    expect(opened.kind).toBe('seed');
    expect(opened.createdAt).toBe(seed.backup_data.timestamp);
    expect(opened.keyset.primary).toBe(3);
    expect(opened.keyset.versions.map((v) => [v.version, v.kdf, v.state, v.material])).toEqual(
      [1, 2, 3].map((v) => [v, 'legacy-pbkdf2', 'enabled', seed.backup_data.master_key]),
    );
  });

  it('refuses a wrong key, a tampered token and a backup past --max-age with BACKUP_INVALID', () => {
    const wrong = FernetKey.parse(Buffer.alloc(32, 6).toString('base64url'));
    expect(() => openBackup(seed.token, wrong, { now: new Date() })).toThrow(/does not verify under this key.*--backup-key-file/);
    const flipped = seed.token.slice(0, 60) + (seed.token[60] === 'A' ? 'B' : 'A') + seed.token.slice(61);
    expect(codeOf(() => openBackup(flipped, FernetKey.parse(seed.backup_key), { now: new Date() }))).toBe('BACKUP_INVALID');
    const day = 86_400;
    expect(() => openBackup(seed.token, FernetKey.parse(seed.backup_key), { now: new Date((seed.backup_time + 2 * day) * 1000), maxAgeSeconds: day })).toThrow(/more than 86400 s ago/);
  });

  it('refuses a document that is not a backup, or whose keyset is invalid, naming the problem', () => {
    expect(() => parseBackupDocument('[]')).toThrow(/not a JSON object/);
    expect(() => parseBackupDocument('{"hello":1}')).toThrow(/neither "format"/);
    expect(() => parseBackupDocument(JSON.stringify({ master_key: 'short', current_version: 1, timestamp: T0 }))).toThrow(/key in the backup is invalid/);
    const good = JSON.parse(JSON.stringify({ format: BACKUP_FORMAT, formatVersion: 1, createdAt: T0, source, keyset: keysetWith(1), timestamp: T0, current_version: 1 }));
    good.keyset.versions[0].state = 'gone';
    expect(() => parseBackupDocument(JSON.stringify(good))).toThrow(/invalid at versions\[0\]\.state/);
    good.keyset.versions[0].state = 'enabled';
    good.current_version = 9;
    expect(() => parseBackupDocument(JSON.stringify(good))).toThrow(/does not match the keyset's primary/);
  });

  describe('recoveryLosses', () => {
    it('is empty when the backup holds everything the store has', () => {
      expect(recoveryLosses(keysetWith(2), keysetWith(3))).toEqual({ missing: [], differing: [], rederived: [], redated: [], resurrected: [], reenabled: [] });
    });

    it('names versions the store has and the backup lacks', () => {
      expect(recoveryLosses(keysetWith(4), keysetWith(2)).missing).toEqual([3, 4]);
    });

    it('names versions whose material differs, and destroyed versions the backup would bring back', () => {
      const other = createKeyset({ material: material(99), now: T0 });
      expect(recoveryLosses(keysetWith(1), other).differing).toEqual([1]);
      const destroyed = destroyVersion(disableVersion(keysetWith(2), 1, { now: T0 }), 1, { now: T0 });
      expect(recoveryLosses(destroyed, keysetWith(2)).resurrected).toEqual([1]);
    });

    it('tells a backup of this keyset with another creation date or kdf from a backup of another keyset, and refuses both', () => {
      const current = keysetWith(1);
      const redated = { ...current, versions: current.versions.map((v) => ({ ...v, createdAt: '2020-01-01T00:00:00.000Z' })) };
      const rederived = { ...current, versions: current.versions.map((v) => ({ ...v, kdf: v.kdf === 'hkdf-sha256' ? ('legacy-pbkdf2' as const) : ('hkdf-sha256' as const) })) };
      expect(recoveryLosses(current, redated)).toMatchObject({ differing: [], rederived: [], redated: [1] });
      expect(recoveryLosses(current, rederived)).toMatchObject({ differing: [], rederived: [1], redated: [] });
      expect(describeLosses(recoveryLosses(current, redated))).toBe('version(s) 1 have the same material but another creation date in the backup (their age and the rotation deadline would change)');
      expect(describeLosses(recoveryLosses(current, rederived))).toMatch(/^version\(s\) 1 have the same material but another kdf in the backup/);
      expect(isSafeRecovery(recoveryLosses(current, redated))).toBe(false);
    });

    it('counts a backup that still holds the material of a pruned version as resurrecting it', () => {
      let ks = keysetWith(2);
      const backup = ks;
      ks = pruneDestroyed(destroyVersion(disableVersion(ks, 1, { now: T0 }), 1, { now: T0 }));
      expect(ks.pruned).toEqual([[1, 1]]);
      expect(recoveryLosses(ks, backup)).toEqual({ missing: [], differing: [], rederived: [], redated: [], resurrected: [1], reenabled: [] });
    });

    it('counts a backup that holds a now-disabled (compromised) version enabled as re-enabling it: not a safe recovery', () => {
      const backup = keysetWith(2);
      const current = disableVersion(backup, 1, { now: T0, reason: 'compromised' });
      const losses = recoveryLosses(current, backup);
      expect(losses).toEqual({ missing: [], differing: [], rederived: [], redated: [], resurrected: [], reenabled: [1] });
      expect(isSafeRecovery(losses)).toBe(false);
    });
  });
});
