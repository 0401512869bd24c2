import { InvalidArgumentError } from 'commander';

/** Commander argument parser for a version number (positive integer). */
export function parseVersionArg(value: string): number {
  if (!/^[1-9]\d{0,8}$/.test(value)) throw new InvalidArgumentError('must be a positive integer');
  return Number(value);
}
