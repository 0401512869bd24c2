/**
 * Byte-level helpers for the wire protocols the SDK v3 clients speak: the JSON document encoding
 * (timestamps as epoch seconds, blobs as base64), XML escaping, the SigV4 `Authorization` header, the
 * `aws-chunked` content encoding S3 uploads use, and the checksums S3 answers with.
 */
import { createHash } from 'node:crypto';

/** awsJson encoding of a model's output: Date → epoch seconds, bytes → base64, undefined members dropped. */
export function toJsonWire(value: unknown): unknown {
  if (value instanceof Date) return value.getTime() / 1000;
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (Array.isArray(value)) return value.map(toJsonWire);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (v !== undefined) out[k] = toJsonWire(v);
    }
    return out;
  }
  return value;
}

export function xmlEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** `<Name>value</Name>` for each defined member, in order; nested objects become nested elements. */
export function xmlMembers(members: Readonly<Record<string, unknown>>): string {
  return Object.entries(members)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => {
      if (v instanceof Date) return `<${k}>${v.toISOString()}</${k}>`;
      if (v !== null && typeof v === 'object') return `<${k}>${xmlMembers(v as Record<string, unknown>)}</${k}>`;
      return `<${k}>${xmlEscape(String(v))}</${k}>`;
    })
    .join('');
}

export interface SigV4Credential {
  readonly accessKeyId: string;
  readonly date: string;
  readonly region: string;
  readonly service: string;
}

/**
 * The credential scope of a SigV4-signed request: from `Authorization: AWS4-HMAC-SHA256
 * Credential=AKID/20260101/us-east-1/secretsmanager/aws4_request, ...`, or from a presigned URL's
 * `X-Amz-Credential`. Undefined when the request is not signed at all. The signature is not checked.
 */
export function parseSigV4(authorization: string | undefined, query: URLSearchParams): SigV4Credential | undefined {
  let credential: string | undefined;
  if (authorization !== undefined) {
    credential = /Credential=([^,\s]+)/.exec(authorization)?.[1];
    if (credential === undefined) return { accessKeyId: '', date: '', region: '', service: '' };
  } else {
    credential = query.get('X-Amz-Credential') ?? undefined;
  }
  if (credential === undefined) return undefined;
  const [accessKeyId = '', date = '', region = '', service = ''] = credential.split('/');
  return { accessKeyId, date, region, service };
}

/**
 * Decodes an `aws-chunked` body: `<hex size>[;chunk-signature=...]\r\n<bytes>\r\n` repeated, then a
 * zero-size chunk, then trailer lines (`x-amz-checksum-crc32:...`) and an empty line. The SDK sends
 * this for stream bodies (`x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER`), with the
 * checksum in a trailer instead of a header.
 */
export function decodeAwsChunked(body: Buffer): { payload: Buffer; trailers: Record<string, string> } {
  const parts: Buffer[] = [];
  const trailers: Record<string, string> = {};
  let pos = 0;
  const readLine = (): string => {
    const end = body.indexOf('\r\n', pos, 'latin1');
    if (end < 0) throw new Error('aws-chunked: truncated body');
    const line = body.subarray(pos, end).toString('latin1');
    pos = end + 2;
    return line;
  };
  for (;;) {
    const header = readLine();
    const size = Number.parseInt(header.split(';')[0], 16);
    if (!Number.isInteger(size) || size < 0) throw new Error(`aws-chunked: bad chunk header '${header.slice(0, 40)}'`);
    if (size === 0) break;
    if (pos + size > body.length) throw new Error('aws-chunked: chunk runs past the body');
    parts.push(body.subarray(pos, pos + size));
    pos += size;
    if (body.subarray(pos, pos + 2).toString('latin1') !== '\r\n') throw new Error('aws-chunked: chunk not followed by CRLF');
    pos += 2;
  }
  while (pos < body.length) {
    const line = readLine();
    if (line === '') break;
    const colon = line.indexOf(':');
    if (colon > 0) trailers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { payload: Buffer.concat(parts), trailers };
}

function crcTable(polynomial: number): Uint32Array {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? polynomial ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

const CRC32_TABLE = crcTable(0xedb88320);
const CRC32C_TABLE = crcTable(0x82f63b78);

function crc(table: Uint32Array, data: Uint8Array): Buffer {
  let c = 0xffffffff;
  for (const byte of data) c = table[(c ^ byte) & 0xff] ^ (c >>> 8);
  const out = Buffer.alloc(4);
  out.writeUInt32BE((c ^ 0xffffffff) >>> 0);
  return out;
}

/** The S3 flexible-checksum algorithms the stand-in verifies, by their header suffix. */
export const CHECKSUM_ALGORITHMS = ['crc32', 'crc32c', 'sha1', 'sha256'] as const;
export type ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number];

/** The base64 checksum S3 puts in `x-amz-checksum-<algorithm>`. */
export function checksum(algorithm: ChecksumAlgorithm, data: Uint8Array): string {
  switch (algorithm) {
    case 'crc32':
      return crc(CRC32_TABLE, data).toString('base64');
    case 'crc32c':
      return crc(CRC32C_TABLE, data).toString('base64');
    case 'sha1':
    case 'sha256':
      return createHash(algorithm).update(data).digest('base64');
  }
}
