import type { Keyset } from '../keys/keyset';

/** A keyset as read, with the opaque handle a compare-and-set write must present. */
export interface KeysetSnapshot {
  readonly keyset: Keyset;
  /** Backend version of what was read: file content hash, Secrets Manager VersionId, Vault KV version. */
  readonly handle: string;
  /**
   * After a write: follow-up work the store could not finish although the keyset itself was written (e.g. Vault
   * refused to destroy old KV versions that still hold a destroyed version's material). Each says what to run.
   */
  readonly warnings?: readonly string[];
}

export type StoreKind = 'file' | 'env' | 'aws' | 'vault' | 'memory';

/**
 * Where a keyset lives. Implementations do I/O only; validation is `parseKeyset`'s job and every
 * read goes through it.
 */
export interface KeysetStore {
  readonly kind: StoreKind;
  /** Human-readable location for status, audit and errors (a path, a secret id), never a credential. */
  readonly location: string;
  readonly writable: boolean;
  /** Reads and validates the current keyset. Throws KEYSET_NOT_FOUND when there is none. */
  read(): Promise<KeysetSnapshot>;
  /**
   * Writes `next` only if the stored keyset is still the one `expected` names (`null`: only if none
   * exists). Throws CONFLICT (or KEYSET_EXISTS for `null`) when someone wrote since, and writes nothing.
   */
  write(next: Keyset, expected: string | null): Promise<KeysetSnapshot>;
}
