/**
 * Option parsers. Each runs while commander reads the command line, so a bad argument is a usage error
 * (exit 2) before any store is opened, read or written, and before anything is audited.
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { validateContext } from '../lambda/keys/context';
import { isKeyManagementError, KeyManagementError } from '../lambda/keys/errors';
import { MAX_REASON_LENGTH } from '../lambda/keys/keyset';
import { usageError } from './failure';

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

/** An ISO-8601 date or date-time for `flag` (2026-01-31, 2026-01-31T12:00:00Z); a time without a zone is UTC. */
export function parseIsoTime(value: string, flag: string): Date {
  const zoned = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(value) ? `${value}Z` : value;
  const t = Date.parse(zoned);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(t)) {
    throw new KeyManagementError('INVALID_INPUT', `${flag} must be an ISO-8601 date or time such as 2026-01-31 or 2026-01-31T12:00:00Z, got '${value.slice(0, 40)}'`);
  }
  return new Date(t);
}

/** A reason recorded on a version and in the audit log: not blank, and short enough for the keyset. */
export function parseReason(value: string): string {
  if (value.trim() === '') throw new KeyManagementError('INVALID_INPUT', '--reason must say why (an incident id, what happened); it is recorded in the audit log');
  if (value.length > MAX_REASON_LENGTH) throw new KeyManagementError('INVALID_INPUT', `--reason is ${value.length} characters; keep it to at most ${MAX_REASON_LENGTH}`);
  return value;
}

/** A context name, checked as the key manager checks it. */
export function parseContext(value: string): string {
  return validateContext(value);
}

/** Wraps a parser that throws KeyManagementError so that its failure is a usage error (exit 2) with that code. */
export function usage<T>(parse: (value: string) => T): (value: string) => T {
  return (value) => {
    try {
      return parse(value);
    } catch (err) {
      throw isKeyManagementError(err) ? usageError(err) : err;
    }
  };
}

/**
 * Accepts an option's old spelling (`--output` for `--out`) without showing it in help: it sets the same
 * value, so a required option given by its old name is satisfied.
 */
export function hiddenAlias(command: Command, flags: string, target: string): Command {
  const alias = new Option(flags).hideHelp();
  command.addOption(alias);
  command.on(`option:${alias.name()}`, (value: string) => command.setOptionValueWithSource(target, value, 'cli'));
  return command;
}
