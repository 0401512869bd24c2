/**
 * The test a staged keyset must pass before it is promoted: it is a valid keyset, it is exactly one
 * rotation of the current keyset (every earlier version intact), a canary encrypted under the old
 * primary decrypts with it (or, after an emergency rotation, is refused because that version is now
 * disabled), and a canary under the new primary round-trips.
 *
 * The canaries go through the data path over in-memory stores, so the code path tested is the one
 * services use. Canary plaintexts are random and never leave this function.
 */
import { errorCode, KeyManagementError } from '../keys/errors';
import { type Keyset, parseKeyset, serializeKeyset } from '../keys/keyset';
import type { RandomSource } from '../keys/random';
import { DataPath } from '../data-path';
import { CachingKeysetSource } from '../keys/keyset-source';
import { MemoryStore } from '../stores/memory-store';
import { noopAudit } from '../telemetry/audit';
import { Auditor } from '../telemetry/auditor';
import { noopMetrics } from '../telemetry/metrics';
import { disablesPrimary, isRotationOf } from './candidate';

export const CANARY_CONTEXT = 'rotation_canary';

function failed(step: string): KeyManagementError {
  return new KeyManagementError('ROTATION_FAILED', `the staged keyset failed its test (${step}); it was not made current, and the current keyset is unchanged`);
}

/** The data path over `keyset` alone, unaudited and unmeasured: the canaries are no one's data. */
function canaryDataPath(name: string, keyset: Keyset, random: RandomSource, clock: () => Date): DataPath {
  const store = new MemoryStore(name, keyset);
  return new DataPath({
    source: new CachingKeysetSource(store, { clock, metrics: noopMetrics }),
    clock,
    random,
    auditor: new Auditor({ sink: noopAudit, clock, actor: 'rotation-canary', store }),
    metrics: noopMetrics,
    maxCachedKeys: 4,
    auditDataOperations: false,
  });
}

export async function testStagedKeyset(current: Keyset, staged: Keyset, random: RandomSource, clock: () => Date): Promise<void> {
  try {
    parseKeyset(serializeKeyset(staged));
  } catch {
    throw failed('it does not parse');
  }
  if (!isRotationOf(current, staged)) throw failed('it is not exactly one rotation of the current keyset: an earlier version is missing or changed');

  const before = canaryDataPath('canary-current', current, random, clock);
  const after = canaryDataPath('canary-staged', staged, random, clock);
  const oldProbe = random.bytes(32);
  const newProbe = random.bytes(32);
  try {
    const oldEnvelope = await before.encrypt(oldProbe, CANARY_CONTEXT);
    if (disablesPrimary(current, staged)) {
      const refused = await after.decryptDetailed(oldEnvelope).then(
        () => 'decrypted',
        (err: unknown) => errorCode(err),
      );
      if (refused !== 'VERSION_DISABLED') throw failed(`a canary under the disabled old primary ${current.primary} was not refused as disabled`);
    } else {
      const back = await after.decryptDetailed(oldEnvelope).catch(() => undefined);
      if (!back || !back.plaintext.equals(oldProbe)) throw failed(`a canary under the old primary ${current.primary} does not decrypt`);
    }
    const newEnvelope = await after.encrypt(newProbe, CANARY_CONTEXT);
    if (newEnvelope.key_version !== staged.primary) throw failed(`the new keyset encrypts under version ${newEnvelope.key_version}, not its primary ${staged.primary}`);
    const back = await after.decryptDetailed(newEnvelope).catch(() => undefined);
    if (!back || !back.plaintext.equals(newProbe)) throw failed(`a canary under the new primary ${staged.primary} does not round-trip`);
  } finally {
    oldProbe.fill(0);
    newProbe.fill(0);
    before.clear();
    after.clear();
  }
}
