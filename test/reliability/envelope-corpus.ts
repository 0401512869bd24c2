/**
 * A keyset with every kind of version a decrypt can meet (legacy PBKDF2, HKDF, disabled, destroyed)
 * and a corpus of authentic envelopes under it. The oracle for the decrypt properties: a decrypt may
 * only succeed on an envelope whose (kind, version, context, payload) is in the corpus, and must then
 * return exactly the plaintext sealed into it.
 */
import { deriveKey } from '../../lambda/keys/derive';
import { aad, type EnvelopeRecord, type ParsedEnvelope, sealGcm, toCompact, toRecord, ALGORITHM } from '../../lambda/keys/envelope';
import { type Keyset, type KdfName, validateKeyset } from '../../lambda/keys/keyset';
import { SeededRandom } from '../support/fixed';

const CREATED = '2026-01-01T00:00:00.000Z';

export interface AuthenticEnvelope {
  readonly kind: 'ap2' | 'legacy';
  readonly version: number;
  readonly context: string;
  readonly payload: Buffer;
  readonly plaintext: Buffer;
  readonly record: EnvelopeRecord;
  /** AP2 only. */
  readonly compact?: string;
}

/** Legacy PBKDF2 costs ~40 ms per (version, context): legacy envelopes use only these two contexts. */
export const LEGACY_CONTEXTS = ['trading_data', 'user_pii'] as const;
export const HKDF_CONTEXTS = ['trading_data', 'user_pii', 'api_credentials', 'a', 'x.y-z_9', 'Z'.repeat(64)] as const;

export const VERSION = { legacy: 1, legacyDisabled: 2, destroyed: 3, hkdf: 4, primary: 5 } as const;

export function reliabilityKeyset(): { keyset: Keyset; materials: Map<number, Buffer> } {
  const random = new SeededRandom('reliability-keyset');
  const legacyMaster = random.bytes(32);
  const materials = new Map<number, Buffer>([
    [VERSION.legacy, legacyMaster],
    // The legacy system derives every version from one master key; so does this keyset.
    [VERSION.legacyDisabled, legacyMaster],
    [VERSION.hkdf, random.bytes(32)],
    [VERSION.primary, random.bytes(32)],
  ]);
  const b64 = (v: number): string => (materials.get(v) as Buffer).toString('base64');
  const keyset = validateKeyset({
    schema: 1,
    primary: VERSION.primary,
    versions: [
      { version: VERSION.legacy, material: b64(VERSION.legacy), kdf: 'legacy-pbkdf2', state: 'enabled', createdAt: CREATED },
      { version: VERSION.legacyDisabled, material: b64(VERSION.legacyDisabled), kdf: 'legacy-pbkdf2', state: 'disabled', createdAt: CREATED, disabledAt: CREATED, reason: 'test' },
      { version: VERSION.destroyed, kdf: 'hkdf-sha256', state: 'destroyed', createdAt: CREATED, disabledAt: CREATED, destroyedAt: CREATED },
      { version: VERSION.hkdf, material: b64(VERSION.hkdf), kdf: 'hkdf-sha256', state: 'enabled', createdAt: CREATED },
      { version: VERSION.primary, material: b64(VERSION.primary), kdf: 'hkdf-sha256', state: 'enabled', createdAt: CREATED },
    ],
  });
  return { keyset, materials };
}

export function oracleKey(e: Pick<ParsedEnvelope, 'kind' | 'version' | 'context' | 'payload'>): string {
  return `${e.kind}|${e.version}|${e.context}|${e.payload.toString('hex')}`;
}

/** Seals authentic envelopes: AP2 under every version with material, legacy records under the legacy versions. */
export function buildCorpus(materials: Map<number, Buffer>): AuthenticEnvelope[] {
  const random = new SeededRandom('reliability-corpus');
  const kdfOf = (v: number): KdfName => (v === VERSION.legacy || v === VERSION.legacyDisabled ? 'legacy-pbkdf2' : 'hkdf-sha256');
  const out: AuthenticEnvelope[] = [];
  const seal = (kind: 'ap2' | 'legacy', version: number, context: string, size: number): void => {
    const key = deriveKey(kdfOf(version), materials.get(version) as Buffer, context, version);
    const plaintext = random.bytes(size);
    const payload = sealGcm(key, random.bytes(12), plaintext, kind === 'ap2' ? aad(version, context) : undefined);
    if (kind === 'ap2') {
      out.push({ kind, version, context, payload, plaintext, record: toRecord(version, context, payload), compact: toCompact(version, context, payload) });
    } else {
      out.push({ kind, version, context, payload, plaintext, record: { ciphertext: payload.toString('base64'), key_version: version, context, algorithm: ALGORITHM } });
    }
  };
  const sizes = [0, 1, 15, 16, 17, 100, 1000];
  for (const context of LEGACY_CONTEXTS) {
    for (const version of [VERSION.legacy, VERSION.legacyDisabled]) {
      seal('legacy', version, context, sizes[out.length % sizes.length]);
      seal('ap2', version, context, sizes[(out.length + 3) % sizes.length]);
    }
  }
  for (const context of HKDF_CONTEXTS) {
    for (const version of [VERSION.hkdf, VERSION.primary]) {
      seal('ap2', version, context, sizes[out.length % sizes.length]);
      seal('ap2', version, context, sizes[(out.length + 2) % sizes.length]);
    }
  }
  // Under the destroyed version: what the envelope looked like before its material was removed.
  const gone = random.bytes(32);
  const payload = sealGcm(deriveKey('hkdf-sha256', gone, 'trading_data', VERSION.destroyed), random.bytes(12), Buffer.from('gone'), aad(VERSION.destroyed, 'trading_data'));
  out.push({
    kind: 'ap2',
    version: VERSION.destroyed,
    context: 'trading_data',
    payload,
    plaintext: Buffer.from('gone'),
    record: toRecord(VERSION.destroyed, 'trading_data', payload),
    compact: toCompact(VERSION.destroyed, 'trading_data', payload),
  });
  return out;
}
