/**
 * What an operator reads about a keyset: its status (versions, ages, deadline, capacity, a managed rotation) and the
 * health check (readable, not overdue, derives, round-trips). Pure functions of what the key manager read.
 */
import { KeyManagementError, errorCode } from './keys/errors';
import { ageDays, type Keyset, keysetCapacity, type KeysetCapacity, type KeyVersion, primaryVersion } from './keys/keyset';
import type { KeysetStore, ManagedRotationStatus } from './stores/store';

export interface VersionStatus {
  readonly version: number;
  readonly state: KeyVersion['state'];
  readonly kdf: KeyVersion['kdf'];
  readonly primary: boolean;
  readonly createdAt: string;
  readonly ageDays: number;
  readonly disabledAt?: string;
  readonly destroyedAt?: string;
  readonly reason?: string;
}

export interface KeysetStatus {
  readonly store: string;
  readonly location: string;
  readonly primary: number;
  readonly primaryAgeDays: number;
  readonly rotationPeriodDays: number;
  readonly daysUntilRotationDue: number;
  /** Never true for a read-only store: it cannot be rotated here, so it cannot be overdue here either. */
  readonly rotationOverdue: boolean;
  /** The store cannot be written (the env store): rotation and every other change happen where its key is managed. */
  readonly readOnly: boolean;
  readonly enabledVersions: number;
  /** Destroyed versions whose entries were pruned to make room, as `"3"` or `"1-40"`. */
  readonly prunedVersions: readonly string[];
  readonly versions: readonly VersionStatus[];
  readonly capacity: KeysetCapacity;
  /** On a store whose backend rotates the keyset (Secrets Manager): its schedule and any rotation in progress or stuck. */
  readonly rotation?: ManagedRotationStatus;
}

export interface HealthCheck {
  readonly name: string;
  readonly ok: boolean;
  /** What was found, or on failure the error's message. */
  readonly detail: string;
  /** On failure, the error's code (`INTERNAL` for an unexpected error). */
  readonly code?: string;
}

export interface HealthReport {
  readonly ok: boolean;
  readonly checks: readonly HealthCheck[];
}

export function keysetStatus(keyset: Keyset, where: Pick<KeysetStore, 'kind' | 'location' | 'writable'>, now: Date, rotationPeriodDays: number, rotation?: ManagedRotationStatus): KeysetStatus {
  const primaryAge = ageDays(primaryVersion(keyset).createdAt, now);
  return {
    store: where.kind,
    location: where.location,
    primary: keyset.primary,
    primaryAgeDays: primaryAge,
    rotationPeriodDays,
    daysUntilRotationDue: rotationPeriodDays - primaryAge,
    rotationOverdue: where.writable && primaryAge > rotationPeriodDays,
    readOnly: !where.writable,
    enabledVersions: keyset.versions.filter((v) => v.state === 'enabled').length,
    prunedVersions: (keyset.pruned ?? []).map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)),
    versions: keyset.versions.map((v) => ({
      version: v.version,
      state: v.state,
      kdf: v.kdf,
      primary: v.version === keyset.primary,
      createdAt: v.createdAt,
      ageDays: ageDays(v.createdAt, now),
      ...(v.disabledAt ? { disabledAt: v.disabledAt } : {}),
      ...(v.destroyedAt ? { destroyedAt: v.destroyedAt } : {}),
      ...(v.reason ? { reason: v.reason } : {}),
    })),
    capacity: keysetCapacity(keyset),
    ...(rotation ? { rotation } : {}),
  };
}

/** What the health check exercises. */
export interface HealthProbe {
  readonly store: Pick<KeysetStore, 'kind' | 'writable'>;
  /** The keyset read fresh from the store. */
  readKeyset(): Promise<Keyset>;
  status(keyset: Keyset): KeysetStatus;
  /** Derives a key for the check's context; returns its version and fingerprint. */
  derive(): Promise<{ version: number; fingerprint: string }>;
  /** Encrypts and decrypts fresh random bytes; true when they came back. */
  roundTrip(): Promise<boolean>;
}

/** The seed's health check: keyset readable, rotation not overdue, a key derives, an encrypt/decrypt round trip works. */
export async function checkHealth(probe: HealthProbe): Promise<HealthReport> {
  const checks: HealthCheck[] = [];
  const step = async (name: string, run: () => Promise<string>): Promise<boolean> => {
    try {
      checks.push({ name, ok: true, detail: await run() });
      return true;
    } catch (err) {
      checks.push({ name, ok: false, detail: err instanceof KeyManagementError ? err.message : 'unexpected error', code: errorCode(err) });
      return false;
    }
  };
  const readable = await step('keyset readable', async () => {
    const keyset = await probe.readKeyset();
    return `${probe.store.kind} store, ${keyset.versions.length} version(s), primary ${keyset.primary}`;
  });
  if (readable) {
    await step('rotation not overdue', async () => {
      // The advice for an overdue key is to rotate, which a read-only store refuses: say what applies instead.
      if (!probe.store.writable) return `not applicable: the ${probe.store.kind} store is read-only, so its keys are rotated where they are managed, not here`;
      const s = probe.status(await probe.readKeyset());
      if (s.rotationOverdue) throw new KeyManagementError('ROTATION_FAILED', `primary version ${s.primary} is ${s.primaryAgeDays} days old, past the ${s.rotationPeriodDays}-day period`);
      return `primary is ${s.primaryAgeDays} days old, rotation due in ${s.daysUntilRotationDue} days`;
    });
    const derived = await step('can derive keys', async () => {
      const key = await probe.derive();
      return `version ${key.version}, fingerprint ${key.fingerprint}`;
    });
    if (derived) {
      await step('encrypt/decrypt round trip', async () => {
        if (!(await probe.roundTrip())) throw new KeyManagementError('DECRYPT_FAILED', 'the round trip returned different bytes');
        return 'ok';
      });
    }
  }
  return { ok: checks.every((c) => c.ok), checks };
}
