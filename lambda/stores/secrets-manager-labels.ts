/**
 * Secrets Manager's staging labels and ClientRequestToken bounds, apart from the client code so that
 * pure modules (the rotation decisions) can use them without loading the AWS SDK.
 */
export const AWSCURRENT = 'AWSCURRENT';
export const AWSPENDING = 'AWSPENDING';
export const AWSPREVIOUS = 'AWSPREVIOUS';

/** ClientRequestToken (= VersionId) length bounds imposed by Secrets Manager. */
export const MIN_TOKEN_LENGTH = 32;
export const MAX_TOKEN_LENGTH = 64;

/** Whether Secrets Manager accepts `token` as a ClientRequestToken (and so as a VersionId). */
export function isValidToken(token: string): boolean {
  return token.length >= MIN_TOKEN_LENGTH && token.length <= MAX_TOKEN_LENGTH && /^[A-Za-z0-9_-]+$/.test(token);
}
