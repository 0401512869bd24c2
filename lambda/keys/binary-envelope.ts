/**
 * The binary spelling of an AP2 envelope, for callers that store bytes (a BLOB or BYTEA column, an object
 * store, a message body): the same authenticated envelope as the record and compact forms, with a compact
 * header in place of JSON or text and no base64.
 *
 * ```text
 * offset  bytes  field
 * 0       4      magic: "AP2" then 0x00 (41 50 32 00); text envelopes start with "AP2:" or "{", so no
 *                envelope is ever read as the other kind
 * 4       1-8    key version: unsigned LEB128 (7 bits a byte, least significant first, high bit = more
 *                follows), minimal (no trailing zero groups), 1 to 2^53 - 1
 * n       1      context length L, 1-64
 * n+1     L      context, ASCII (the context pattern: letters, digits, '_', '.', '-')
 * n+1+L   12     IV
 * +12     16     GCM tag
 * +28     rest   ciphertext (as long as the plaintext)
 * ```
 *
 * The header carries nothing the AAD does not bind: the key version and context are authenticated as
 * `AP2|<version>|<context>`, exactly as in the other forms, so the bytes after the header are the same
 * payload (iv ‖ tag ‖ ciphertext) that a record holds as base64; a binary envelope converts to a record
 * or a compact string and back without decrypting. An altered version or context fails authentication; an
 * altered header structure fails to parse. The parser checks every length before it reads, and refuses
 * non-minimal version encodings, so each envelope has one spelling. Known-answer vectors:
 * `test/fixtures/hkdf-vectors.json` (`binary_hex`), computed by `test/fixtures/make-vectors.py`.
 *
 * Not imported by the data path itself (the key manager passes these functions to it), which keeps the
 * rotation Lambda's bundle, where the data path runs the canary, from carrying a format it never uses.
 */
import { CONTEXT_PATTERN, MAX_CONTEXT_LENGTH, validateContext } from './context';
import { FORMAT, IV_BYTES, MAX_PLAINTEXT_BYTES, type ParsedEnvelope, TAG_BYTES } from './envelope';
import { KeyManagementError } from './errors';

/** The first four bytes of every binary envelope: `AP2` and a NUL. */
const BINARY_MAGIC = Buffer.from(`${FORMAT}\0`, 'latin1');
/** The most a version takes in LEB128: 2^53 - 1 needs 53 bits, 8 groups of 7. */
const MAX_VERSION_BYTES = 8;
/** Largest binary envelope accepted: the largest plaintext, the longest header, the IV and the tag. */
export const MAX_BINARY_ENVELOPE_BYTES = BINARY_MAGIC.length + MAX_VERSION_BYTES + 1 + MAX_CONTEXT_LENGTH + IV_BYTES + TAG_BYTES + MAX_PLAINTEXT_BYTES;

/** True when `input` is bytes that start like a binary envelope (it may still fail to parse). */
export function isBinaryEnvelope(input: unknown): input is Uint8Array {
  return input instanceof Uint8Array && input.length >= 4 && input[0] === 0x41 && input[1] === 0x50 && input[2] === 0x32 && input[3] === 0;
}

/** The header for `version` and `context`, both already valid (the data path checked them; `toBinary` checks). */
export function binaryHeader(version: number, context: string): Buffer {
  const header = Buffer.allocUnsafe(BINARY_MAGIC.length + MAX_VERSION_BYTES + 1 + context.length);
  BINARY_MAGIC.copy(header, 0);
  let at = BINARY_MAGIC.length;
  let rest = version;
  while (rest >= 0x80) {
    header[at++] = (rest % 0x80) | 0x80;
    rest = Math.floor(rest / 0x80);
  }
  header[at++] = rest;
  header[at++] = context.length;
  at += header.write(context, at, 'latin1');
  return header.subarray(0, at);
}

/**
 * The binary envelope of a payload (iv ‖ tag ‖ ciphertext) taken from any form: a record or compact envelope as
 * `parseEnvelope` returns it becomes binary without being decrypted. Throws INVALID_ENVELOPE for a version that is
 * not a positive safe integer or a payload too short to hold the IV and tag, INVALID_CONTEXT for a bad context.
 */
export function toBinary(version: number, context: string, payload: Uint8Array): Buffer {
  if (!Number.isSafeInteger(version) || version < 1) throw invalid('the key version must be a positive integer below 2^53');
  validateContext(context);
  if (!(payload instanceof Uint8Array) || payload.length < IV_BYTES + TAG_BYTES) throw invalid(`the payload must be at least the ${IV_BYTES + TAG_BYTES}-byte IV and tag`);
  return Buffer.concat([binaryHeader(version, context), payload]);
}

/**
 * Context names already read and validated, by a hash of their bytes (at most 256): a warm decrypt compares a
 * few bytes instead of building and pattern-checking a string. A slot is reused only for the exact same bytes.
 */
const KNOWN_CONTEXTS: (string | undefined)[] = new Array(256);

function contextAt(bytes: Buffer, at: number, length: number): string {
  const slot = (length * 31 + bytes[at] * 7 + bytes[at + length - 1]) & 0xff;
  const known = KNOWN_CONTEXTS[slot];
  if (known !== undefined && known.length === length && sameBytes(known, bytes, at)) return known;
  const context = bytes.toString('latin1', at, at + length);
  if (!CONTEXT_PATTERN.test(context)) throw invalid('the context is not a valid context name');
  KNOWN_CONTEXTS[slot] = context;
  return context;
}

function sameBytes(text: string, bytes: Buffer, at: number): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) !== bytes[at + i]) return false;
  return true;
}

function invalid(message: string): KeyManagementError {
  return new KeyManagementError('INVALID_ENVELOPE', `${message}; expected a binary AP2 envelope ("AP2\\0", LEB128 version, context length, context, iv, tag, ciphertext)`);
}

/**
 * Parses a binary envelope. Its payload is a view of `input`, not a copy: keep `input` unchanged until the
 * payload is used. Throws INVALID_ENVELOPE, naming the first field that is wrong.
 */
export function parseBinaryEnvelope(input: Uint8Array): ParsedEnvelope {
  const bytes = Buffer.isBuffer(input) ? input : input instanceof Uint8Array ? Buffer.from(input.buffer, input.byteOffset, input.byteLength) : undefined;
  if (bytes === undefined) throw invalid('a binary envelope is a Buffer or Uint8Array');
  if (bytes.length > MAX_BINARY_ENVELOPE_BYTES) throw invalid(`the envelope is ${bytes.length} bytes, over the ${MAX_BINARY_ENVELOPE_BYTES}-byte limit`);
  if (!isBinaryEnvelope(bytes)) throw invalid('the envelope does not start with the magic bytes 41 50 32 00');
  let at = BINARY_MAGIC.length;
  let version = 0;
  // A version below 128, the usual case, is its one byte; the loop reads the rest.
  if (bytes[at] < 0x80) {
    version = bytes[at++];
  } else {
    for (let scale = 1, i = 0; ; scale *= 0x80, i++) {
      if (i === MAX_VERSION_BYTES || at === bytes.length) throw invalid('the key version is truncated or longer than 8 bytes');
      const byte = bytes[at++];
      version += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (byte === 0 && i > 0) throw invalid('the key version is not minimally encoded');
        break;
      }
    }
  }
  if (version < 1 || !Number.isSafeInteger(version)) throw invalid('the key version must be a positive integer below 2^53');
  const length = at < bytes.length ? bytes[at++] : 0;
  if (length < 1 || length > MAX_CONTEXT_LENGTH || at + length > bytes.length) throw invalid(`the context length must be 1-${MAX_CONTEXT_LENGTH} and within the envelope`);
  const context = contextAt(bytes, at, length);
  at += length;
  if (bytes.length - at < IV_BYTES + TAG_BYTES) throw invalid(`the envelope ends ${bytes.length - at} bytes after its header, short of the ${IV_BYTES + TAG_BYTES}-byte IV and tag`);
  return { kind: 'ap2', form: 'binary', version, context, payload: bytes.subarray(at) };
}
