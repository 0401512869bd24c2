/**
 * The test a staged keyset must pass before it is promoted: it is a valid keyset, it is exactly one
 * rotation of the current keyset (every earlier version intact), a canary encrypted under the old
 * primary decrypts with it (or, after an emergency rotation, is refused because that version is now
 * disabled), and a canary under the new primary round-trips.
 *
 * The canaries go through the data path over in-memory stores, so the code path tested is the one
 * services use: version checks, derivation, the AAD, the cipher. What they test is the keyset, not an
 * envelope's spelling, so a sealed canary is handed to `open` as the parsed envelope it is (no record,
 * compact or binary form in between), which keeps the envelope parsers out of the rotation Lambda's
 * bundle; the spellings have their own known-answer tests. Canary plaintexts are random and never leave
 * this function.
 */
import { errorCode, KeyManagementError } from '../keys/errors';
import type { ParsedEnvelope } from '../keys/envelope';
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

/** A canary as sealed, in the shape `open` reads: version, context and iv ‖ tag ‖ ciphertext. */
function asParsed(version: number, context: string, payload: Buffer): ParsedEnvelope {
  return { kind: 'ap2', form: 'binary', version, context, payload };
}

function openCanary(path: DataPath, canary: ParsedEnvelope): Promise<Buffer> {
  return path.open(canary, (c: ParsedEnvelope) => c, (plaintext) => plaintext);
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
    const oldEnvelope = await before.seal(oldProbe, CANARY_CONTEXT, asParsed);
    if (disablesPrimary(current, staged)) {
      const refused = await openCanary(after, oldEnvelope).then(
        () => 'decrypted',
        (err: unknown) => errorCode(err),
      );
      if (refused !== 'VERSION_DISABLED') throw failed(`a canary under the disabled old primary ${current.primary} was not refused as disabled`);
    } else {
      const back = await openCanary(after, oldEnvelope).catch(() => undefined);
      if (!back || !back.equals(oldProbe)) throw failed(`a canary under the old primary ${current.primary} does not decrypt`);
    }
    const newEnvelope = await after.seal(newProbe, CANARY_CONTEXT, asParsed);
    if (newEnvelope.version !== staged.primary) throw failed(`the new keyset encrypts under version ${newEnvelope.version}, not its primary ${staged.primary}`);
    const back = await openCanary(after, newEnvelope).catch(() => undefined);
    if (!back || !back.equals(newProbe)) throw failed(`a canary under the new primary ${staged.primary} does not round-trip`);
  } finally {
    oldProbe.fill(0);
    newProbe.fill(0);
    before.clear();
    after.clear();
  }
}
