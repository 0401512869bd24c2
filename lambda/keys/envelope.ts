/**
 * Envelope formats: how a ciphertext travels with the version and context it was made under.
 *
 * - New (`AP2`): AES-256-GCM, 96-bit random IV, AAD = `AP2|<version>|<context>`, so moving a ciphertext
 *   to another version or context fails authentication. Two spellings of the same bytes:
 *   record  `{"ciphertext","key_version","context","algorithm":"AES-256-GCM","format":"AP2"}`
 *   compact `AP2:<version>:<context>:<base64url(iv ‖ tag ‖ ciphertext)>`
 * - Legacy (AlphaPulse Python): record `{"ciphertext","key_version","context","algorithm":"AES-256-GCM"}`
 *   with no `format`, base64(iv ‖ tag ‖ ciphertext), no AAD. Accepted only for legacy-pbkdf2 versions,
 *   so stripping `format` from a new record cannot downgrade it to the unauthenticated-context form.
 *
 * Pure functions: parsing never trusts a length or a field it has not checked.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { validateContext } from './context';
import { KeyManagementError } from './errors';
import { isPlainObject } from './json';
import type { KdfName } from './keyset';

export const ALGORITHM = 'AES-256-GCM';
export const FORMAT = 'AP2';
export const IV_BYTES = 12;
export const TAG_BYTES = 16;
/** Largest plaintext one envelope takes (64 MiB): envelopes live in memory and in database columns. */
export const MAX_PLAINTEXT_BYTES = 64 * 1024 * 1024;
/** Largest serialized envelope accepted by the parser: the base64 of the largest plaintext plus framing. */
export const MAX_ENVELOPE_CHARS = Math.ceil(((MAX_PLAINTEXT_BYTES + IV_BYTES + TAG_BYTES) * 4) / 3) + 4096;
const MAX_VERSION = Number.MAX_SAFE_INTEGER;

export type EnvelopeForm = 'record' | 'compact' | 'binary';
export type EnvelopeKind = 'ap2' | 'legacy';

export interface EnvelopeRecord {
  readonly ciphertext: string;
  readonly key_version: number;
  readonly context: string;
  readonly algorithm: typeof ALGORITHM;
  readonly format?: typeof FORMAT;
}

/** A parsed envelope: what to derive, and the raw iv ‖ tag ‖ ciphertext. */
export interface ParsedEnvelope {
  readonly kind: EnvelopeKind;
  readonly form: EnvelopeForm;
  readonly version: number;
  readonly context: string;
  readonly payload: Buffer;
}

export function aad(version: number, context: string): Buffer {
  return Buffer.from(`${FORMAT}|${version}|${context}`, 'utf8');
}

/**
 * Decoded payloads of `readEnvelope`, and transient seals, up to this size are written into a reused buffer (one
 * each): at 1 KiB, allocating the decoded bytes cost as much as decoding them. Larger ones get their own buffer.
 */
const SCRATCH_MAX_BYTES = 128 * 1024;
let decodeScratch: Buffer | undefined;
let sealScratch: Buffer | undefined;

/** `scratch` if it holds `bytes`, else a larger one (never past SCRATCH_MAX_BYTES, which `bytes` must not pass). */
function atLeast(scratch: Buffer | undefined, bytes: number): Buffer {
  if (scratch && scratch.length >= bytes) return scratch;
  return Buffer.allocUnsafeSlow(Math.min(SCRATCH_MAX_BYTES, Math.max(bytes, 2 * (scratch?.length ?? 0), 4096)));
}

/**
 * iv ‖ tag ‖ ciphertext under AES-256-GCM, after `header` when one is given (the binary form's), in one buffer.
 * `transient`: the buffer is one reused for every transient seal up to SCRATCH_MAX_BYTES, valid until the next one,
 * for a caller that encodes it at once (the text forms): a 64 KiB seal then allocates its ciphertext only.
 */
export function sealGcm(key: Buffer, iv: Buffer, plaintext: Buffer, additionalData?: Buffer, header?: Buffer, transient = false): Buffer {
  if (plaintext.length > MAX_PLAINTEXT_BYTES) {
    throw new KeyManagementError('PLAINTEXT_TOO_LARGE', `the plaintext is ${plaintext.length} bytes; one envelope holds at most ${MAX_PLAINTEXT_BYTES} bytes (64 MiB) — split the data`);
  }
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  if (additionalData) cipher.setAAD(additionalData);
  const start = (header ? header.length : 0) + IV_BYTES + TAG_BYTES;
  const length = start + plaintext.length;
  const out = transient && length <= SCRATCH_MAX_BYTES ? (sealScratch = atLeast(sealScratch, length)).subarray(0, length) : Buffer.allocUnsafe(length);
  // In pieces: the allocator recycles a 16 KiB buffer per update, where one the size of a large plaintext came from
  // the top of the heap, which it kept handing back to the system and faulting in again (64 KiB encrypts ran at a
  // third of their speed for whole runs).
  if (plaintext.length <= SEAL_PIECE_BYTES) place(cipher.update(plaintext), out, start, plaintext.length);
  else for (let at = 0; at < plaintext.length; at += SEAL_PIECE_BYTES) place(cipher.update(plaintext.subarray(at, at + SEAL_PIECE_BYTES)), out, start + at, Math.min(SEAL_PIECE_BYTES, plaintext.length - at));
  place(cipher.final(), out, length, 0);
  const at = header ? header.copy(out, 0) : 0;
  iv.copy(out, at);
  cipher.getAuthTag().copy(out, at + IV_BYTES);
  return out;
}

const SEAL_PIECE_BYTES = 16 * 1024;

/** Copies a cipher output of `expected` bytes into `out` at `at`: GCM encrypts byte for byte, and `final` adds none. */
function place(piece: Buffer, out: Buffer, at: number, expected: number): void {
  if (piece.length !== expected) throw new Error(`AES-256-GCM returned ${piece.length} bytes for ${expected}`);
  piece.copy(out, at);
}


/**
 * The IV and tag of the payload being opened are copied into these two buffers rather than viewed in place: Node
 * copies both into the cipher when given them, so one pair serves every call, two views fewer a decrypt.
 */
let ivCopy: Buffer | undefined;
let tagCopy: Buffer | undefined;
/** Node reads the options, never keeps or changes them: one object for every decipher. */
const DECIPHER_OPTIONS = { authTagLength: TAG_BYTES } as const;

function copied(into: Buffer, from: Buffer, offset: number): Buffer {
  for (let i = 0; i < into.length; i++) into[i] = from[offset + i];
  return into;
}

/**
 * The plaintext of iv ‖ tag ‖ ciphertext. GCM's `final` only checks the tag (it returns no bytes), so the
 * output of `update` is returned as is rather than copied; it is zeroed, never returned, when the tag is wrong.
 */
export function openGcm(key: Buffer, payload: Buffer, additionalData?: Buffer): Buffer {
  if (payload.length < IV_BYTES + TAG_BYTES) {
    throw new KeyManagementError('DECRYPT_FAILED', `the ciphertext is ${payload.length} bytes, shorter than the ${IV_BYTES + TAG_BYTES}-byte IV and tag; it is truncated or not an envelope`);
  }
  let out: Buffer | undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, copied((ivCopy ??= Buffer.alloc(IV_BYTES)), payload, 0), DECIPHER_OPTIONS);
    decipher.setAuthTag(copied((tagCopy ??= Buffer.alloc(TAG_BYTES)), payload, IV_BYTES));
    if (additionalData) decipher.setAAD(additionalData);
    out = decipher.update(payload.subarray(IV_BYTES + TAG_BYTES));
    const final = decipher.final();
    return final.length === 0 ? out : Buffer.concat([out, final]);
  } catch {
    out?.fill(0);
    throw new KeyManagementError(
      'DECRYPT_FAILED',
      'authentication failed: the ciphertext, its version or its context was altered, or it was made under a different key; check that the record is intact and the right keyset is used',
    );
  }
}

/**
 * The legacy form (no AAD) is accepted only under legacy-pbkdf2 versions: stripping `format` from a
 * new record must not downgrade it to the form whose version and context are not authenticated.
 */
export function assertFormatFitsVersion(parsed: ParsedEnvelope, kdf: KdfName | undefined): void {
  if (parsed.kind === 'legacy' && kdf !== undefined && kdf !== 'legacy-pbkdf2') {
    throw new KeyManagementError('DECRYPT_FAILED', `a legacy record names version ${parsed.version}, which is not a legacy version; the record was altered or mislabelled`);
  }
}

export function toRecord(version: number, context: string, payload: Buffer): EnvelopeRecord {
  return { ciphertext: base64Of(payload), key_version: version, context, algorithm: ALGORITHM, format: FORMAT };
}

/** Bytes base64-encoded at a time: a multiple of 3, so the pieces' text joins into the whole's. */
const BASE64_PIECE_BYTES = 3 * 4096;

/**
 * `payload.toString('base64')`, in pieces past BASE64_PIECE_BYTES: Node encodes into a temporary buffer of the text's
 * size, and one for a 64 KiB payload came from the top of the heap and went back to the system after every encrypt.
 */
function base64Of(payload: Buffer): string {
  if (payload.length <= BASE64_PIECE_BYTES) return payload.toString('base64');
  let text = '';
  for (let at = 0; at < payload.length; at += BASE64_PIECE_BYTES) text += payload.toString('base64', at, Math.min(payload.length, at + BASE64_PIECE_BYTES));
  return text;
}

/**
 * `JSON.stringify(record)` for a record `toRecord` made, built directly: nothing in it needs escaping (base64, an
 * integer, a context name, two constants), and V8's stringify spent ~2 µs scanning a 1 KiB record's base64 for
 * characters to escape.
 */
export function recordJson(record: EnvelopeRecord): string {
  return `{"ciphertext":"${record.ciphertext}","key_version":${record.key_version},"context":"${record.context}","algorithm":"${ALGORITHM}","format":"${FORMAT}"}`;
}

export function toCompact(version: number, context: string, payload: Buffer): string {
  return `${FORMAT}:${version}:${context}:${payload.toString('base64url')}`;
}

/** The record's fields (a switch: faster than a Set for five names). */
function isRecordKey(key: string): boolean {
  switch (key) {
    case 'ciphertext':
    case 'key_version':
    case 'context':
    case 'algorithm':
    case 'format':
      return true;
    default:
      return false;
  }
}

function invalid(message: string): KeyManagementError {
  return new KeyManagementError('INVALID_ENVELOPE', `${message}; expected a JSON record {"ciphertext","key_version","context","algorithm"} or a compact 'AP2:<version>:<context>:<data>' string`);
}

function parseVersion(value: unknown): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 1 && value <= MAX_VERSION) return value;
  if (typeof value === 'string' && /^[1-9]\d{0,15}$/.test(value) && Number.isSafeInteger(Number(value))) return Number(value);
  throw invalid('key_version must be a positive integer');
}

/**
 * Characters above U+00FF. Node's base64 decoder reads only the low byte of a character, so `Ł` (U+0141)
 * would decode as `A`. V8 answers this test on a one-byte string without scanning it.
 */
const WIDE = /[^\x00-\xff]/;

/** The 6-bit value of each base64 character, either alphabet (only the low bits of the last one are read). */
const SEXTETS = /* @__PURE__ */ sextets();

function sextets(): Uint8Array {
  const table = new Uint8Array(128);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  for (let i = 0; i < alphabet.length; i++) table[alphabet.charCodeAt(i)] = i;
  table[0x2b] = table[0x2d] = 62; // '+' and '-'
  table[0x2f] = table[0x5f] = 63; // '/' and '_'
  return table;
}

/**
 * Strict base64 (`url` false: the standard alphabet, padded; true: the URL alphabet, unpadded), exactly the
 * text Node writes for some bytes: anything else is undefined. Node's decoder skips characters it does not
 * know, stops at `=`, takes either alphabet and reads a wide character's low byte, so the text must say
 * what it decodes to. That was once a regular expression (three quarters of a 64 KiB decrypt), then a
 * re-encode and compare (a quarter); it is now checked without a second pass over the bytes:
 * - the decoded length is the one the text's length implies, which a skipped character or an early `=`
 *   makes shorter;
 * - the text holds no character of the other alphabet (two native `indexOf` scans) and none above U+00FF;
 * - the unused low bits of the last character of a partial group are zero (canonical).
 * A property test holds this to the round trip `decode(text).toString() === text` over arbitrary text.
 *
 * `borrow`: the bytes are decoded into a buffer the next borrowing call overwrites (see `readEnvelope`).
 */
export function decodeBase64Strict(text: string, url: boolean, borrow = false): Buffer | undefined {
  const n = text.length;
  const pad = url || n === 0 || text.charCodeAt(n - 1) !== 0x3d ? 0 : text.charCodeAt(n - 2) === 0x3d ? 2 : 1;
  const data = n - pad;
  const partial = data % 4;
  if ((!url && n % 4 !== 0) || partial === 1) return undefined;
  const expected = (data - partial) * 0.75 + (partial && partial - 1);
  const encoding = url ? 'base64url' : 'base64';
  const into = borrow && expected <= SCRATCH_MAX_BYTES ? (decodeScratch = atLeast(decodeScratch, expected)) : undefined;
  const bytes = into ? into.subarray(0, into.write(text, 0, encoding)) : Buffer.from(text, encoding);
  if (bytes.length !== expected) return undefined;
  if (text.indexOf(url ? '+' : '-') !== -1 || text.indexOf(url ? '/' : '_') !== -1 || WIDE.test(text)) return undefined;
  if (partial !== 0 && (SEXTETS[text.charCodeAt(data - 1)] & (partial === 2 ? 0x0f : 0x03)) !== 0) return undefined;
  return bytes;
}

function decodeBase64(text: string, field: string, borrow: boolean): Buffer {
  const bytes = decodeBase64Strict(text, false, borrow);
  if (!bytes) throw invalid(`${field} is not valid base64`);
  return bytes;
}

/** Parses any supported envelope (record object, record JSON text, compact string). Throws INVALID_ENVELOPE. */
export function parseEnvelope(input: string | Buffer | object): ParsedEnvelope {
  return parseAny(input, false);
}

/**
 * `parseEnvelope` with a borrowed payload: a view of a buffer that the next `readEnvelope` overwrites, for a caller
 * that is done with it before it yields or parses again (the data path's warm decrypt, which copies it before any
 * await; the rewrapper). Saves allocating the decoded bytes.
 */
export function readEnvelope(input: string | Buffer | object): ParsedEnvelope {
  return parseAny(input, true);
}

function parseAny(input: string | Buffer | object, borrow: boolean): ParsedEnvelope {
  if (Buffer.isBuffer(input)) {
    // Checked before decoding: an envelope is ASCII, so its bytes are its characters, and a Buffer over
    // V8's string limit (~512 MiB) would make toString throw a raw ERR_STRING_TOO_LONG instead.
    if (input.length > MAX_ENVELOPE_CHARS) throw invalid(`the envelope is ${input.length} bytes, over the ${MAX_ENVELOPE_CHARS}-character limit`);
    input = input.toString('utf8');
  }
  if (typeof input === 'string') {
    if (input.length > MAX_ENVELOPE_CHARS) throw invalid(`the envelope is ${input.length} characters, over the ${MAX_ENVELOPE_CHARS}-character limit`);
    const text = input.trim();
    if (text.startsWith(`${FORMAT}:`)) return parseCompact(text, borrow);
    if (!text.startsWith('{')) throw invalid('the input is neither a JSON record nor a compact envelope');
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw invalid('the record is not valid JSON');
    }
    return parseRecord(value, borrow);
  }
  return parseRecord(input, borrow);
}

function parseCompact(text: string, borrow: boolean): ParsedEnvelope {
  const parts = text.split(':');
  if (parts.length !== 4) throw invalid('a compact envelope has exactly four ":"-separated parts');
  const [, versionText, context, data] = parts;
  const version = parseVersion(versionText);
  validateEnvelopeContext(context);
  const payload = decodeBase64Strict(data, true, borrow);
  if (!payload) throw invalid('the data part is not canonical base64url');
  return { kind: 'ap2', form: 'compact', version, context, payload };
}

function parseRecord(value: unknown, borrow: boolean): ParsedEnvelope {
  if (!isPlainObject(value)) throw invalid('the record must be a JSON object');
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!isRecordKey(key)) throw invalid(`the record has an unknown field '${key.slice(0, 40)}'`);
  }
  if (record.algorithm !== ALGORITHM) throw invalid(`algorithm must be "${ALGORITHM}"`);
  if (record.format !== undefined && record.format !== FORMAT) throw invalid(`format must be "${FORMAT}" or absent (legacy)`);
  if (typeof record.ciphertext !== 'string') throw invalid('ciphertext must be a base64 string');
  // A record passed as an object skipped the text-length check in parseEnvelope: hold its ciphertext to it.
  if (record.ciphertext.length > MAX_ENVELOPE_CHARS) throw invalid(`the ciphertext is ${record.ciphertext.length} characters, over the ${MAX_ENVELOPE_CHARS}-character limit`);
  const version = parseVersion(record.key_version);
  validateEnvelopeContext(record.context);
  const payload = decodeBase64(record.ciphertext, 'ciphertext', borrow);
  return { kind: record.format === FORMAT ? 'ap2' : 'legacy', form: 'record', version, context: record.context as string, payload };
}

function validateEnvelopeContext(context: unknown): void {
  try {
    validateContext(context);
  } catch {
    throw invalid('context is missing or not a valid context name');
  }
}
