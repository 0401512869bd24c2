/**
 * Typed errors for every key-management failure.
 *
 * Each error carries a stable `code` that callers and the CLI can switch on, and a message that says
 * what was wrong and what to do. No message ever contains key material or plaintext.
 */
export type ErrorCode =
  | 'KEYSET_NOT_FOUND'
  | 'KEYSET_EXISTS'
  | 'KEYSET_INVALID'
  | 'KEYSET_TOO_LARGE'
  | 'UNKNOWN_VERSION'
  | 'VERSION_DISABLED'
  | 'VERSION_DESTROYED'
  | 'INVALID_TRANSITION'
  | 'DECRYPT_FAILED'
  | 'INVALID_ENVELOPE'
  | 'INVALID_CONTEXT'
  | 'INVALID_INPUT'
  | 'PLAINTEXT_TOO_LARGE'
  | 'CONFLICT'
  | 'STORE_READ_ONLY'
  | 'STORE_BUSY'
  | 'STORE_UNAVAILABLE'
  /** A local store or audit file (or its directory) that another user could have planted, read or changed. */
  | 'STORE_INSECURE'
  | 'ACCESS_DENIED'
  | 'THROTTLED'
  | 'KMS_FAILURE'
  | 'BACKUP_INVALID'
  | 'ROTATION_FAILED'
  /** A rotation is running (or stuck) on the store, so another cannot start; or one was not seen to finish. */
  | 'ROTATION_IN_PROGRESS'
  /** The rotation function was invoked by something other than Secrets Manager, the monitor schedule or deployment. */
  | 'ROTATION_REFUSED';

export class KeyManagementError extends Error {
  public readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KeyManagementError';
    this.code = code;
  }
}

/** A keyset that fails validation. `field` is the JSON path of the first bad field, e.g. `versions[2].material`. */
export class KeysetInvalidError extends KeyManagementError {
  public readonly field: string;

  constructor(field: string, problem: string) {
    super('KEYSET_INVALID', `invalid keyset: ${field} ${problem}; the keyset was not changed — restore it from a backup or fix the field by hand`);
    this.name = 'KeysetInvalidError';
    this.field = field;
  }
}

/** Someone else wrote the keyset between our read and our write; nothing was written. */
export class ConflictError extends KeyManagementError {
  constructor(detail: string) {
    super('CONFLICT', `${detail}; nothing was written — read the keyset again and retry if the change is still needed`);
    this.name = 'ConflictError';
  }
}

export function isKeyManagementError(err: unknown): err is KeyManagementError {
  return err instanceof KeyManagementError;
}

/** Names an error for logs and audit without echoing anything it might carry. */
export function errorCode(err: unknown): string {
  return isKeyManagementError(err) ? err.code : 'INTERNAL';
}
