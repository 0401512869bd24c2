/**
 * The one error type the models throw: an AWS error code, its message and the HTTP status AWS answers
 * it with. The HTTP layer turns it into each protocol's error shape (JSON `__type`, awsQuery
 * `<ErrorResponse>`, S3 `<Error>`); in-process callers catch it and look at `code`.
 */
export class AwsServiceError extends Error {
  /** `Sender` for a client error, `Receiver` for a service fault (awsQuery's `<Type>`). */
  readonly fault: 'Sender' | 'Receiver';

  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
    /** Extra members of the error body (S3's `<Key>`, `<BucketName>`). */
    readonly extra: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = code;
    this.fault = status >= 500 ? 'Receiver' : 'Sender';
  }
}

/** AWS's "1 validation error detected" wording for a member that breaks a length or presence constraint. */
export function validationError(member: string, value: unknown, constraint: string): AwsServiceError {
  const shown = value === undefined || value === null ? 'null' : `'${String(value)}'`;
  return new AwsServiceError('ValidationException', `1 validation error detected: Value ${shown} at '${member}' failed to satisfy constraint: ${constraint}`);
}

/** The model's view of an input document: strings, numbers, booleans, arrays and nested objects. */
export type Input = Readonly<Record<string, unknown>>;

export function optionalString(input: Input, name: string): string | undefined {
  const v = input[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new AwsServiceError('SerializationException', `${name} must be a string`);
  return v;
}

export function requiredString(input: Input, name: string): string {
  const v = optionalString(input, name);
  if (v === undefined) throw validationError(name.charAt(0).toLowerCase() + name.slice(1), undefined, 'Member must not be null');
  return v;
}

export function optionalNumber(input: Input, name: string): number | undefined {
  const v = input[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new AwsServiceError('SerializationException', `${name} must be a number`);
  return v;
}

export function optionalBoolean(input: Input, name: string): boolean | undefined {
  const v = input[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw new AwsServiceError('SerializationException', `${name} must be a boolean`);
  return v;
}

export function optionalObject(input: Input, name: string): Input | undefined {
  const v = input[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw new AwsServiceError('SerializationException', `${name} must be an object`);
  return v as Input;
}

export function optionalStringList(input: Input, name: string): string[] | undefined {
  const v = input[name];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) throw new AwsServiceError('SerializationException', `${name} must be a list of strings`);
  return [...(v as string[])];
}

/** A timestamp as the wire sends it (epoch seconds in awsJson) or as an in-process caller passes it (a Date). */
export function toDate(v: unknown, unit: 'seconds' | 'milliseconds' = 'seconds'): Date | undefined {
  if (v === undefined || v === null) return undefined;
  if (v instanceof Date) return v;
  if (typeof v === 'number') return new Date(unit === 'seconds' ? v * 1000 : v);
  if (typeof v === 'string' && !Number.isNaN(Date.parse(v))) return new Date(v);
  throw new AwsServiceError('SerializationException', `not a timestamp: ${String(v)}`);
}
