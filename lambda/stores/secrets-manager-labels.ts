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
