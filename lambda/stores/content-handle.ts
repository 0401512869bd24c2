import { createHash } from 'node:crypto';

/** The compare-and-set handle of a store that keeps the keyset as text: a hash of that text. */
export function contentHandle(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 32);
}
