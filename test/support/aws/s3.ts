/**
 * S3 buckets and objects, enough for backup uploads and reads.
 *
 * Modelled (Amazon S3 API Reference: PutObject, GetObject, HeadObject, DeleteObject, "Error
 * responses"; User Guide: "Checking object integrity", "Setting default server-side encryption
 * behavior"):
 * - PutObject stores the bytes with Content-Type, `x-amz-meta-*` metadata and the encryption headers
 *   as sent (`x-amz-server-side-encryption`, `x-amz-server-side-encryption-aws-kms-key-id`, kept per
 *   object for tests to inspect). Without an encryption header the object is encrypted with SSE-S3
 *   (AES256), as every new object has been since January 2023. An `x-amz-checksum-<algorithm>` (header
 *   or aws-chunked trailer) is verified (BadDigest on mismatch) and stored; CRC32, CRC32C, SHA1, SHA256.
 * - GetObject / HeadObject return the bytes (HEAD: none) with ETag (quoted MD5), Content-Length,
 *   Last-Modified, the encryption headers, metadata, and the stored checksum when the request says
 *   `x-amz-checksum-mode: ENABLED`. DeleteObject is idempotent (204 for a missing key).
 * - NoSuchBucket / NoSuchKey (404) with the documented messages. Buckets exist only when a test
 *   creates them (`createBucket(name)`).
 *
 * Not modelled: listing, multipart uploads, versioning, object lock, bucket policies and default
 * encryption settings, SSE-C, conditional requests and ranges, presigned-URL expiry, and KMS key state
 * for aws:kms objects.
 */
import { createHash } from 'node:crypto';
import { AwsServiceError } from './errors';
import { type ChecksumAlgorithm, checksum } from './wire';

export interface StoredObject {
  readonly bucket: string;
  readonly key: string;
  readonly body: Buffer;
  readonly contentType: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly etag: string;
  readonly lastModified: Date;
  /** The encryption the object has: the requested one, else AES256 (SSE-S3). */
  readonly serverSideEncryption: string;
  readonly sseKmsKeyId?: string;
  /** What the PutObject request asked for (undefined = no header). */
  readonly requestedServerSideEncryption?: string;
  readonly checksum?: { readonly algorithm: ChecksumAlgorithm; readonly value: string };
}

export interface PutObjectInput {
  readonly Bucket: string;
  readonly Key: string;
  readonly Body: Buffer;
  readonly ContentType?: string;
  readonly Metadata?: Readonly<Record<string, string>>;
  readonly ServerSideEncryption?: string;
  readonly SSEKMSKeyId?: string;
  readonly Checksum?: { readonly algorithm: ChecksumAlgorithm; readonly value: string };
}

export class S3Model {
  private readonly buckets = new Map<string, Map<string, StoredObject>>();

  constructor(private readonly options: { readonly clock: () => Date }) {}

  createBucket(name: string): void {
    if (!this.buckets.has(name)) this.buckets.set(name, new Map());
  }

  /** The stored object, or undefined (no error: for tests' inspection). */
  object(bucket: string, key: string): StoredObject | undefined {
    return this.buckets.get(bucket)?.get(key);
  }

  keys(bucket: string): string[] {
    return [...(this.buckets.get(bucket)?.keys() ?? [])];
  }

  putObject(input: PutObjectInput): StoredObject {
    const objects = this.bucket(input.Bucket);
    if (input.Checksum) {
      const actual = checksum(input.Checksum.algorithm, input.Body);
      if (actual !== input.Checksum.value) {
        throw new AwsServiceError('BadDigest', `The ${input.Checksum.algorithm.toUpperCase()} you specified did not match the calculated checksum.`);
      }
    }
    if (input.ServerSideEncryption !== undefined && !['AES256', 'aws:kms', 'aws:kms:dsse'].includes(input.ServerSideEncryption)) {
      throw new AwsServiceError('InvalidArgument', 'The encryption method specified is not supported', 400, { ArgumentName: 'x-amz-server-side-encryption', ArgumentValue: input.ServerSideEncryption });
    }
    if (input.SSEKMSKeyId !== undefined && !input.ServerSideEncryption?.startsWith('aws:kms')) {
      throw new AwsServiceError('InvalidArgument', 'Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms', 400);
    }
    const stored: StoredObject = {
      bucket: input.Bucket,
      key: input.Key,
      body: Buffer.from(input.Body),
      contentType: input.ContentType ?? 'binary/octet-stream',
      metadata: { ...(input.Metadata ?? {}) },
      etag: `"${createHash('md5').update(input.Body).digest('hex')}"`,
      lastModified: new Date(Math.floor(this.options.clock().getTime() / 1000) * 1000),
      serverSideEncryption: input.ServerSideEncryption ?? 'AES256',
      sseKmsKeyId: input.SSEKMSKeyId,
      requestedServerSideEncryption: input.ServerSideEncryption,
      checksum: input.Checksum,
    };
    objects.set(input.Key, stored);
    return stored;
  }

  getObject(bucket: string, key: string): StoredObject {
    const found = this.bucket(bucket).get(key);
    if (!found) throw new AwsServiceError('NoSuchKey', 'The specified key does not exist.', 404, { Key: key });
    return found;
  }

  deleteObject(bucket: string, key: string): void {
    this.bucket(bucket).delete(key);
  }

  private bucket(name: string): Map<string, StoredObject> {
    const objects = this.buckets.get(name);
    if (!objects) throw new AwsServiceError('NoSuchBucket', 'The specified bucket does not exist', 404, { BucketName: name });
    return objects;
  }
}
