/**
 * Data-path throughput: the key manager's encrypt and decrypt against their limit (node `crypto`
 * AES-256-GCM with a fresh `randomBytes(12)` IV) and against the AWS Encryption SDK, plus the cost
 * of an uncached derivation (HKDF) against the legacy PBKDF2 one.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import {
  AlgorithmSuiteIdentifier,
  buildClient,
  CommitmentPolicy,
  getLocalCryptographicMaterialsCache,
  NodeCachingMaterialsManager,
  RawAesKeyringNode,
  RawAesWrappingSuiteIdentifier,
} from '@aws-crypto/client-node';
import { KeyManager } from '../lambda/key-manager';
import { deriveHkdf, deriveLegacyPbkdf2 } from '../lambda/keys/derive';
import type { EnvelopeRecord } from '../lambda/keys/envelope';
import { createKeyset } from '../lambda/keys/keyset';
import { MemoryStore } from '../lambda/stores/memory-store';
import { CloudWatchMetricsSink } from '../lambda/telemetry/cloudwatch-metrics';
import { type Figure, interleaved, timeAsync, timeSync, type Workload } from './stats';

export const SIZES = { '64b': 64, '1k': 1024, '64k': 64 * 1024 } as const;
export type SizeName = keyof typeof SIZES;

/**
 * Operations per slice, per size (a run is `SLICES` slices): 15-30 ms a slice here, long enough for a workload to
 * fill the young generation as a service would before a scavenge. Slices of 500 (2-3 ms), each ended by its
 * collection (see `interleaved`), kept the young generation a few hundred KiB, in cache, which flattered whichever
 * workload allocated the most (raw AES-GCM's views and `Buffer.concat`: 4.2 µs a 1 KiB decrypt in a long loop, 4.0
 * in short slices, while `decryptBinary` stayed at 4.1-4.2 in both).
 */
const OPS: Record<SizeName, number> = { '64b': 5000, '1k': 5000, '64k': 500 };
const SLICES = 3;
const CONTEXT = 'trading_data';

/** A counting CloudWatch client stand-in, so the benchmarked key manager pays for its real metrics sink. */
export function countingCloudWatch(): { client: CloudWatchClient; calls: () => number; datums: () => number } {
  let calls = 0;
  let datums = 0;
  const client = {
    send: async (command: { input: { MetricData?: unknown[] } }) => {
      calls++;
      datums += command.input.MetricData?.length ?? 0;
      return {};
    },
  } as unknown as CloudWatchClient;
  return { client, calls: () => calls, datums: () => datums };
}

/** A warm key manager over a memory store, new-format (HKDF) keyset, with the CloudWatch sink wired in. */
export async function warmKeyManager(options: { maxCachedKeys?: number } = {}): Promise<{ km: KeyManager; store: MemoryStore; sink: CloudWatchMetricsSink }> {
  const store = new MemoryStore('bench', createKeyset({ material: randomBytes(32).toString('base64'), now: new Date().toISOString() }));
  const sink = new CloudWatchMetricsSink({ client: countingCloudWatch().client, flushIntervalMs: 60_000 });
  const km = new KeyManager({ store, metrics: sink, actor: 'bench', ...options });
  await km.decrypt(await km.encrypt('warm', CONTEXT));
  return { km, store, sink };
}

export function rawEncrypt(key: Buffer, plaintext: Buffer): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = cipher.update(plaintext);
  const final = cipher.final();
  return Buffer.concat([iv, cipher.getAuthTag(), body, final]);
}

export function rawDecrypt(key: Buffer, payload: Buffer): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', key, payload.subarray(0, 12), { authTagLength: 16 });
  decipher.setAuthTag(payload.subarray(12, 28));
  return Buffer.concat([decipher.update(payload.subarray(28)), decipher.final()]);
}

/**
 * The workloads of one size, interleaved: the key manager's record form against raw AES-GCM (encrypt and decrypt),
 * at 1 KiB and 64 KiB its binary form too, and at 64 KiB the floor of a text format, AES-GCM and base64 of the same
 * bytes (`raw_aesgcm_b64_…`: encrypt then base64; base64 decode then decrypt).
 */
async function sizeWorkloads(km: KeyManager, rawKey: Buffer, size: SizeName): Promise<Record<string, Workload>> {
  const plaintext = randomBytes(SIZES[size]);
  const envelope: EnvelopeRecord = await km.encrypt(plaintext, CONTEXT);
  const binary = await km.encryptBinary(plaintext, CONTEXT);
  const rawPayload = rawEncrypt(rawKey, plaintext);
  const rawBase64 = rawPayload.toString('base64');
  const ops = OPS[size];
  const workloads: Record<string, Workload> = {
    [`encrypt_${size}_ops`]: { ops, unit: 'ops/s', time: (n) => timeAsync(() => km.encrypt(plaintext, CONTEXT), n) },
    [`raw_aesgcm_${size}_ops`]: { ops, unit: 'ops/s', time: (n) => timeSync(() => rawEncrypt(rawKey, plaintext), n) },
    [`decrypt_${size}_ops`]: { ops, unit: 'ops/s', time: (n) => timeAsync(() => km.decrypt(envelope), n) },
    [`raw_aesgcm_decrypt_${size}_ops`]: { ops, unit: 'ops/s', time: (n) => timeSync(() => rawDecrypt(rawKey, rawPayload), n) },
  };
  if (size !== '64b') {
    workloads[`encrypt_binary_${size}_ops`] = { ops, unit: 'ops/s', time: (n) => timeAsync(() => km.encryptBinary(plaintext, CONTEXT), n) };
    workloads[`decrypt_binary_${size}_ops`] = { ops, unit: 'ops/s', time: (n) => timeAsync(() => km.decryptBinary(binary), n) };
  }
  if (size === '64k') {
    workloads.raw_aesgcm_b64_64k_ops = { ops, unit: 'ops/s', time: (n) => timeSync(() => rawEncrypt(rawKey, plaintext).toString('base64'), n) };
    workloads.raw_aesgcm_b64_decrypt_64k_ops = { ops, unit: 'ops/s', time: (n) => timeSync(() => rawDecrypt(rawKey, Buffer.from(rawBase64, 'base64')), n) };
  }
  return workloads;
}

export async function measureThroughput(runs: number): Promise<Record<string, Figure>> {
  const { km } = await warmKeyManager();
  const rawKey = randomBytes(32);
  const out: Record<string, Figure> = {};
  for (const size of Object.keys(SIZES) as SizeName[]) Object.assign(out, await interleaved(runs, SLICES, await sizeWorkloads(km, rawKey, size)));
  return out;
}

/**
 * The AWS Encryption SDK anchor: raw AES keyring, committing suite without signature, caching
 * materials manager (the SDK at its fastest for this shape of work), 1 KiB messages.
 */
export async function measureEsdk(runs: number): Promise<Record<string, Figure>> {
  const { encrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
  const keyring = new RawAesKeyringNode({
    keyName: 'bench-key',
    keyNamespace: 'alphapulse-bench',
    unencryptedMasterKey: new Uint8Array(randomBytes(32)),
    wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
  });
  const cmm = new NodeCachingMaterialsManager({
    backingMaterials: keyring,
    cache: getLocalCryptographicMaterialsCache(100),
    maxAge: 5 * 60_000,
    maxMessagesEncrypted: 2 ** 32,
  });
  const plaintext = randomBytes(SIZES['1k']);
  const once = () => encrypt(cmm, plaintext, { suiteId: AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY, plaintextLength: plaintext.length });
  // Interleaved with the key manager's 1 KiB encrypt, so the ratio of the two sees the same machine.
  const { km } = await warmKeyManager();
  return interleaved(runs, SLICES, {
    esdk_encrypt_1k_ops: { ops: 40, unit: 'ops/s', time: (n) => timeAsync(once, n) },
    encrypt_1k_ops_beside_esdk: { ops: 5000, unit: 'ops/s', time: (n) => timeAsync(() => km.encrypt(plaintext, CONTEXT), n) },
  });
}

/** Uncached derivations: HKDF (every version this system creates) and the legacy PBKDF2 (100k iterations). */
export async function measureDerivation(runs: number): Promise<Record<string, Figure>> {
  const material = randomBytes(32);
  let n = 0;
  // A fresh context per call, so nothing below the function can cache.
  return interleaved(runs, 8, {
    derive_uncached_us: { ops: 2000, unit: 'us', time: (ops) => timeSync(() => deriveHkdf(material, `ctx_${n++}`, 1), ops) },
    legacy_pbkdf2_derive_us: { ops: 1, unit: 'us', time: (ops) => timeSync(() => deriveLegacyPbkdf2(material, `ctx_${n++}`, 1), ops) },
  });
}
