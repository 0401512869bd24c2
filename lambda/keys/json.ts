/** True for a JSON object (not null, not an array): what every parser here requires at the top of a document. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
