/**
 * Secrets Manager's staging labels and ClientRequestToken bounds, apart from the client code so that
 * pure modules (the rotation decisions) can use them without loading the AWS SDK.
 */
export const AWSCURRENT = 'AWSCURRENT';
export const AWSPENDING = 'AWSPENDING';
export const AWSPREVIOUS = 'AWSPREVIOUS';
/**
 * The label a compare-and-set write (init, disable, recover, ...) holds between its PutSecretValue and its
 * AWSCURRENT move. Not AWSPENDING: to Secrets Manager an AWSPENDING on a version other than AWSCURRENT means a
 * rotation is in progress, so RotateSecret would refuse (and "reattempt" a rotation with our write's value) while a
 * plain write is in flight or after one crashed between its two calls.
 */
export const STAGED_WRITE = 'ALPHAPULSE_STAGED';

/** ClientRequestToken (= VersionId) length bounds imposed by Secrets Manager. */
export const MIN_TOKEN_LENGTH = 32;
export const MAX_TOKEN_LENGTH = 64;

/** Whether Secrets Manager accepts `token` as a ClientRequestToken (and so as a VersionId). */
export function isValidToken(token: string): boolean {
  return token.length >= MIN_TOKEN_LENGTH && token.length <= MAX_TOKEN_LENGTH && /^[A-Za-z0-9_-]+$/.test(token);
}
