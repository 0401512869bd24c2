/**
 * Data-key derivation. Pure functions over node `crypto`.
 *
 * - `hkdf-sha256` (all versions this system creates): HKDF-SHA256 with an empty salt (the input is
 *   32 uniformly random bytes, RFC 5869 §3.1) and an info string binding the context and the version.
 * - `legacy-pbkdf2` (versions written by the AlphaPulse Python system): PBKDF2-HMAC-SHA256 over the
 *   master key bytes with salt `<context>:v<version>` and 100,000 iterations. It costs ~40 ms per
 *   derivation, so callers must cache the result (the key manager does), and a service runs it off the
 *   event loop (`deriveLegacyPbkdf2Async`).
 */
import { createHash, createHmac, pbkdf2, pbkdf2Sync } from 'node:crypto';
import { validateContext } from './context';
import type { KdfName } from './keyset';

export const DATA_KEY_BYTES = 32;
export const LEGACY_PBKDF2_ITERATIONS = 100_000;
const HKDF_INFO_PREFIX = 'alphapulse/dek/v1';

export function hkdfInfo(context: string, version: number): Buffer {
  return Buffer.from(`${HKDF_INFO_PREFIX}|context=${validateContext(context)}|version=${version}`, 'utf8');
}

/** RFC 5869: an absent salt is HashLen zero bytes (the same HMAC key as an empty salt). */
const HKDF_SALT = Buffer.alloc(32);
const HKDF_FIRST_BLOCK = Buffer.of(1);

/**
 * HKDF-SHA256 with a 32-byte output, which is exactly one expand block: PRK = HMAC(salt, material),
 * OKM = HMAC(PRK, info ‖ 0x01). Written as two HMACs rather than `hkdfSync` because node's `hkdfSync`
 * spends most of a derivation on per-call setup (a KeyObject and a crypto job): ~18 µs against ~7.5 µs
 * for the same bytes (`npm run bench`, derive_uncached_us; the known-answer tests pin the output).
 */
export function deriveHkdf(material: Buffer, context: string, version: number): Buffer {
  const prk = createHmac('sha256', HKDF_SALT).update(material).digest();
  try {
    return createHmac('sha256', prk).update(hkdfInfo(context, version)).update(HKDF_FIRST_BLOCK).digest();
  } finally {
    prk.fill(0);
  }
}

export function legacySalt(context: string, version: number): Buffer {
  return Buffer.from(`${validateContext(context)}:v${version}`, 'utf8');
}

export function deriveLegacyPbkdf2(masterKey: Buffer, context: string, version: number): Buffer {
  return pbkdf2Sync(masterKey, legacySalt(context, version), LEGACY_PBKDF2_ITERATIONS, DATA_KEY_BYTES, 'sha256');
}

/**
 * `deriveLegacyPbkdf2` on libuv's threadpool. A legacy record is derived for before it can be authenticated,
 * so a service must not spend ~40 ms of its event loop on each made-up context a caller sends.
 * `masterKey` must stay unchanged until the promise settles.
 */
export function deriveLegacyPbkdf2Async(masterKey: Buffer, context: string, version: number): Promise<Buffer> {
  const salt = legacySalt(context, version);
  return new Promise((resolve, reject) => {
    pbkdf2(masterKey, salt, LEGACY_PBKDF2_ITERATIONS, DATA_KEY_BYTES, 'sha256', (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export function deriveKey(kdf: KdfName, material: Buffer, context: string, version: number): Buffer {
  return kdf === 'hkdf-sha256' ? deriveHkdf(material, context, version) : deriveLegacyPbkdf2(material, context, version);
}

/** A short, non-reversible identifier of a data key, safe to print: first 16 hex digits of SHA-256 over a domain tag and the key. */
export function keyFingerprint(key: Buffer): string {
  return createHash('sha256').update('alphapulse/fingerprint/v1').update(key).digest('hex').slice(0, 16);
}
