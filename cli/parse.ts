import { InvalidArgumentError } from 'commander';
import { KeyManagementError } from '../lambda/keys/errors';

/** Commander argument parser for a version number (positive integer). */
export function parseVersionArg(value: string): number {
  if (!/^[1-9]\d{0,8}$/.test(value)) throw new InvalidArgumentError('must be a positive integer');
  return Number(value);
}

/** A positive whole number of at most `maxDigits` digits for `flag`; INVALID_INPUT otherwise. `unit` reads after "number". */
export function parsePositiveWholeNumber(value: string, flag: string, maxDigits: number, unit = ''): number {
  if (!new RegExp(`^[1-9]\\d{0,${maxDigits - 1}}$`).test(value)) {
    throw new KeyManagementError('INVALID_INPUT', `${flag} must be a positive whole number${unit}, got '${value.slice(0, 20)}'`);
  }
  return Number(value);
}

/** Commander argument parser for a duration in whole seconds (1 to 86400). */
export function parseSecondsArg(value: string): number {
  if (!/^[1-9]\d{0,4}$/.test(value) || Number(value) > 86_400) throw new InvalidArgumentError('must be a whole number of seconds from 1 to 86400');
  return Number(value);
}
