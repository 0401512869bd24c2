/**
 * Fernet (https://github.com/fernet/spec), the token format of Python's `cryptography.fernet`, which
 * the seed's backup procedure used. Pure functions over node `crypto`; the clock and the IV are passed
 * in, so the spec's vectors (fixed time, fixed IV) reproduce exactly.
 *
 *   token = base64url(0x80 ‖ timestamp(8, big-endian seconds) ‖ iv(16) ‖ AES-128-CBC-PKCS7(ciphertext) ‖ HMAC-SHA256(all before))
 *   key   = base64url(signing key(16) ‖ encryption key(16))
 *
 * Verification is strict where Python is lenient: the token must be canonical base64url (no stray or
 * trailing characters), as the spec's invalid vectors require.
 */
import { createCipheriv, createDecipheriv, createHmac, timingSafeEqual } from 'node:crypto';
import { KeyManagementError } from './errors';
import type { RandomSource } from './random';

export const FERNET_VERSION = 0x80;
export const FERNET_KEY_BYTES = 32;
/** A token stamped further ahead than this is refused, as `cryptography` does. */
export const FERNET_MAX_CLOCK_SKEW_SECONDS = 60;
const IV_BYTES = 16;
const HMAC_BYTES = 32;
const BLOCK = 16;
const HEADER_BYTES = 1 + 8 + IV_BYTES;
/** Version, timestamp, IV, one cipher block, HMAC. */
const MIN_TOKEN_BYTES = HEADER_BYTES + BLOCK + HMAC_BYTES;

export type FernetFailure = 'malformed' | 'signature' | 'expired' | 'future';

/** A token that does not verify. `reason` says why; the message never repeats the token or the key. */
export class FernetError extends KeyManagementError {
  constructor(
    readonly reason: FernetFailure,
    message: string,
  ) {
    super('DECRYPT_FAILED', message);
    this.name = 'FernetError';
  }
}

/** A parsed Fernet key. Call `destroy()` when done: it zeroes both halves. */
export class FernetKey {
  private constructor(
    private readonly signing: Buffer,
    private readonly encryption: Buffer,
  ) {}

  /** Parses the key text `Fernet.generate_key()` prints: base64url (padded or not) of 32 bytes. */
  static parse(text: string): FernetKey {
    const trimmed = text.trim();
    if (!/^[A-Za-z0-9_-]{43}=?$/.test(trimmed)) {
      throw new KeyManagementError('INVALID_INPUT', `a Fernet key is base64url of exactly ${FERNET_KEY_BYTES} bytes (44 characters, as Fernet.generate_key() and the backup export write it)`);
    }
    const bytes = Buffer.from(trimmed, 'base64url');
    if (bytes.length !== FERNET_KEY_BYTES) throw new KeyManagementError('INVALID_INPUT', `the Fernet key decodes to ${bytes.length} bytes; it must be ${FERNET_KEY_BYTES}`);
    const key = new FernetKey(Buffer.from(bytes.subarray(0, 16)), Buffer.from(bytes.subarray(16)));
    bytes.fill(0);
    return key;
  }

  /** A new random key, returned as its text form (what goes in the key file). */
  static generate(random: RandomSource): string {
    const bytes = random.bytes(FERNET_KEY_BYTES);
    const text = paddedBase64url(bytes);
    bytes.fill(0);
    return text;
  }

  /** The token for `plaintext`, stamped `now`, under `iv` (16 fresh random bytes; fixed only in spec tests). */
  encrypt(plaintext: Buffer, options: { now: Date; iv: Buffer }): string {
    if (options.iv.length !== IV_BYTES) throw new KeyManagementError('INVALID_INPUT', `a Fernet IV is ${IV_BYTES} bytes, got ${options.iv.length}`);
    const header = Buffer.alloc(HEADER_BYTES);
    header[0] = FERNET_VERSION;
    header.writeBigUInt64BE(BigInt(Math.floor(options.now.getTime() / 1000)), 1);
    options.iv.copy(header, 9);
    const cipher = createCipheriv('aes-128-cbc', this.encryption, options.iv);
    const body = Buffer.concat([header, cipher.update(plaintext), cipher.final()]);
    return paddedBase64url(Buffer.concat([body, this.mac(body)]));
  }

  /**
   * Verifies and decrypts a token. `ttlSeconds` (optional) refuses tokens older than that at `now`;
   * a token stamped more than 60 s after `now` is always refused.
   */
  decrypt(token: string, options: { now: Date; ttlSeconds?: number }): Buffer {
    const data = decodeToken(token);
    if (data[0] !== FERNET_VERSION) throw new FernetError('malformed', `the token's version byte is not 0x80; it is not a Fernet token`);
    const body = data.subarray(0, data.length - HMAC_BYTES);
    const expected = this.mac(body);
    if (!timingSafeEqual(expected, data.subarray(data.length - HMAC_BYTES))) {
      throw new FernetError('signature', 'the token does not verify under this key: the key is the wrong one or the token was altered');
    }
    const stamped = Number(data.readBigUInt64BE(1));
    const nowSeconds = Math.floor(options.now.getTime() / 1000);
    if (stamped > nowSeconds + FERNET_MAX_CLOCK_SKEW_SECONDS) {
      throw new FernetError('future', `the token is stamped ${describeStamp(stamped)}, in the future; check this machine's clock`);
    }
    if (options.ttlSeconds !== undefined && stamped + options.ttlSeconds < nowSeconds) {
      throw new FernetError('expired', `the token was made ${describeStamp(stamped)}, more than ${options.ttlSeconds} s ago (the allowed age)`);
    }
    const ciphertext = body.subarray(HEADER_BYTES);
    if (ciphertext.length === 0 || ciphertext.length % BLOCK !== 0) throw new FernetError('malformed', 'the token ciphertext is not a whole number of AES blocks');
    try {
      const decipher = createDecipheriv('aes-128-cbc', this.encryption, body.subarray(9, HEADER_BYTES));
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
    } catch {
      throw new FernetError('malformed', 'the token decrypts to bad padding: it was made with a different key or altered');
    }
  }

  destroy(): void {
    this.signing.fill(0);
    this.encryption.fill(0);
  }

  private mac(body: Buffer): Buffer {
    return createHmac('sha256', this.signing).update(body).digest();
  }
}

/** Latest instant a JS Date holds (year 275760), in seconds; a signed 64-bit stamp can lie far beyond it. */
const MAX_DATE_SECONDS = 8.64e12;

/** A token's timestamp for a message: ISO-8601 where a Date can hold it (`toISOString` throws RangeError beyond). */
function describeStamp(seconds: number): string {
  return seconds <= MAX_DATE_SECONDS ? new Date(seconds * 1000).toISOString() : `${seconds} s after 1970, past any date`;
}

/** base64url with `=` padding, as Python's `urlsafe_b64encode` writes it. */
function paddedBase64url(data: Buffer): string {
  return data.toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

const TOKEN_PATTERN = /^[A-Za-z0-9_-]+={0,2}$/;

/** Strict base64url: only the alphabet, correct padding, canonical encoding, at least the minimum length. */
function decodeToken(token: string): Buffer {
  const text = token.trim();
  if (!TOKEN_PATTERN.test(text) || text.length % 4 !== 0) throw new FernetError('malformed', 'the token is not base64url text');
  const data = Buffer.from(text, 'base64url');
  if (paddedBase64url(data) !== text) throw new FernetError('malformed', 'the token is not canonical base64url');
  if (data.length < MIN_TOKEN_BYTES) throw new FernetError('malformed', `the token is ${data.length} bytes, shorter than the ${MIN_TOKEN_BYTES}-byte minimum; it is truncated`);
  return data;
}
