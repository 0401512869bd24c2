/**
 * The targets of issues 6 and 15, as data: each is a ratio (or a count) computed from figures of the
 * same run, so the machine's speed cancels out.
 */
import type { Figure } from './stats';

export interface Target {
  /** What is compared, e.g. `encrypt_1k_ops / raw_aesgcm_1k_ops`. */
  readonly name: string;
  readonly op: '>=' | '<=' | '==';
  readonly target: number;
  /** The measured value; undefined when a figure it needs is missing. */
  readonly value?: number;
  readonly pass: boolean;
  readonly note?: string;
}

const KiB = 1024;

function check(name: string, op: Target['op'], target: number, value: number | undefined, note?: string): Target {
  const pass = value !== undefined && Number.isFinite(value) && (op === '>=' ? value >= target : op === '<=' ? value <= target : value === target);
  return { name, op, target, ...(value !== undefined ? { value: round(value) } : {}), pass, ...(note ? { note } : {}) };
}

function ratio(figures: Record<string, Figure>, a: string, b: string): number | undefined {
  return figures[a] && figures[b] ? figures[a].median / figures[b].median : undefined;
}

/** Every run, not just the median, must hit an exact count. */
function worst(figures: Record<string, Figure>, name: string): number | undefined {
  return figures[name] ? Math.max(...figures[name].runs) : undefined;
}

export function evaluateTargets(figures: Record<string, Figure>, putMetricDataCallsAllowed: number | undefined): Target[] {
  return [
    check('encrypt_1k_ops / raw_aesgcm_1k_ops', '>=', 0.8, ratio(figures, 'encrypt_1k_ops', 'raw_aesgcm_1k_ops')),
    check('decrypt_1k_ops / raw_aesgcm_decrypt_1k_ops', '>=', 0.75, ratio(figures, 'decrypt_1k_ops', 'raw_aesgcm_decrypt_1k_ops')),
    check('encrypt_64k_ops / raw_aesgcm_b64_64k_ops', '>=', 0.9, ratio(figures, 'encrypt_64k_ops', 'raw_aesgcm_b64_64k_ops'), 'record form against AES-GCM then base64'),
    check('decrypt_64k_ops / raw_aesgcm_b64_decrypt_64k_ops', '>=', 0.9, ratio(figures, 'decrypt_64k_ops', 'raw_aesgcm_b64_decrypt_64k_ops'), 'record form against base64 decode then AES-GCM'),
    check('encrypt_binary_1k_ops / raw_aesgcm_1k_ops', '>=', 0.9, ratio(figures, 'encrypt_binary_1k_ops', 'raw_aesgcm_1k_ops')),
    check('decrypt_binary_1k_ops / raw_aesgcm_decrypt_1k_ops', '>=', 0.9, ratio(figures, 'decrypt_binary_1k_ops', 'raw_aesgcm_decrypt_1k_ops')),
    check('encrypt_binary_64k_ops / raw_aesgcm_64k_ops', '>=', 0.9, ratio(figures, 'encrypt_binary_64k_ops', 'raw_aesgcm_64k_ops')),
    check('decrypt_binary_64k_ops / raw_aesgcm_decrypt_64k_ops', '>=', 0.9, ratio(figures, 'decrypt_binary_64k_ops', 'raw_aesgcm_decrypt_64k_ops')),
    check(
      'reencrypt_1k_records_per_s / raw_aesgcm_reencrypt_1k_records_per_s',
      '>=',
      0.5,
      ratio(figures, 'reencrypt_1k_records_per_s', 'raw_aesgcm_reencrypt_1k_records_per_s'),
      'the reencrypt command\'s streaming over a file of 1 KiB records, against raw decrypt then encrypt of their payloads',
    ),
    check(
      'encrypt_1k_ops / esdk_encrypt_1k_ops',
      '>=',
      25,
      ratio(figures, 'encrypt_1k_ops_beside_esdk', 'esdk_encrypt_1k_ops'),
      'encrypt measured in slices alternating with the ESDK (encrypt_1k_ops_beside_esdk)',
    ),
    check('legacy_pbkdf2_derive_us / derive_uncached_us', '>=', 1000, ratio(figures, 'legacy_pbkdf2_derive_us', 'derive_uncached_us')),
    check('keyset_reads_per_100k_ops', '==', 1, worst(figures, 'keyset_reads_per_100k_ops'), 'worst of the runs'),
    check('keyset_reads_unknown_version_1000_concurrent', '==', 1, worst(figures, 'keyset_reads_unknown_version_1000_concurrent'), 'worst of the runs'),
    check(
      'putmetricdata_calls_per_100k_ops',
      '<=',
      putMetricDataCallsAllowed ?? 0,
      worst(figures, 'putmetricdata_calls_per_100k_ops'),
      'target = ceil(distinct datums / 1,000); worst of the runs',
    ),
    check('rss_growth_mb_1m_ops_100k_contexts', '<=', 64, figures.rss_growth_mb_1m_ops_100k_contexts?.median),
    check('lambda_bundle_bytes', '<=', 350 * KiB, figures.lambda_bundle_bytes?.median, '350 KiB'),
    check('lambda_load_ms / sdk3_load_ms', '<=', 1.1, ratio(figures, 'lambda_load_ms', 'sdk3_load_ms')),
  ];
}

export function round(value: number): number {
  if (!Number.isFinite(value)) return value;
  const magnitude = Math.abs(value);
  const digits = magnitude >= 1000 ? 0 : magnitude >= 10 ? 2 : 4;
  return Number(value.toFixed(digits));
}
