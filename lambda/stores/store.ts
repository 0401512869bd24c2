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

/** A rotation the backend runs itself (Secrets Manager's rotation protocol). */
export interface ManagedRotationRequest {
  /** The ClientRequestToken (VersionId) the rotation runs under. */
  readonly token: string;
  /** The next keyset, staged under `token` before asking (an emergency rotation); absent: the backend builds it. */
  readonly candidate?: Keyset;
}

/** What the backend reports about rotation: its schedule and whether a rotation is running or stuck. */
export interface ManagedRotationStatus {
  /** Whether the backend rotates the keyset (a rotation function is configured and enabled). */
  readonly enabled: boolean;
  /** `rate(90 days)`; absent for on-demand rotation only. */
  readonly schedule?: string;
  readonly window?: string;
  readonly lastRotated?: string;
  readonly nextRotation?: string;
  /** A rotation in progress: its version, since when, whether it has outlived the rotation window, and the command that clears it. */
  readonly pending?: { readonly versionId: string; readonly since?: string; readonly stuck: boolean; readonly clear: string };
  /**
   * Versions other than the current one still carrying the store's staging label: a write whose removal of the label
   * failed (or, for a moment, a write in progress). A labelled version never expires. Each with the command that
   * removes the label.
   */
  readonly leftoverLabels?: readonly { readonly versionId: string; readonly label: string; readonly clear: string }[];
}

export interface ManagedRotation {
  /** Asks the backend to rotate; refuses (ROTATION_IN_PROGRESS) while another rotation is outstanding. Does not wait. */
  start(request: ManagedRotationRequest): Promise<void>;
  /** Waits until the rotation under `token` made its version current, and returns the new keyset; throws when it did not. */
  waitFor(token: string, options: { readonly timeoutMs: number; readonly onProgress?: (message: string) => void }): Promise<KeysetSnapshot>;
  status(now: Date): Promise<ManagedRotationStatus>;
}

/**
 * Where a keyset lives. Implementations do I/O only; validation is `parseKeyset`'s job and every
 * read goes through it.
 */
export interface KeysetStore {
  readonly kind: StoreKind;
  /** Human-readable location for status, audit and errors (a path, a secret id), never a credential. */
  readonly location: string;
  readonly writable: boolean;
  /**
   * Present when the backend rotates the keyset itself: a rotation is then requested from it, never
   * written in-process with `write`.
   */
  readonly managedRotation?: ManagedRotation;
  /**
   * Present when the backend keeps earlier keysets it cannot be told to forget at once (Secrets Manager's older
   * versions): removes destroyed versions' material from them, and says how much it wrote and removed.
   */
  purgeHistory?(onProgress?: (message: string) => void): Promise<{ readonly written: number; readonly removed: number }>;
  /** Reads and validates the current keyset. Throws KEYSET_NOT_FOUND when there is none. */
  read(): Promise<KeysetSnapshot>;
  /**
   * Writes `next` only if the stored keyset is still the one `expected` names (`null`: only if none
   * exists). Throws CONFLICT (or KEYSET_EXISTS for `null`) when someone wrote since, and writes nothing.
   */
  write(next: Keyset, expected: string | null): Promise<KeysetSnapshot>;
}
