/**
 * `--field` for reencrypt: a dotted JSONPath (`$.payload.secret`, or `payload.secret`) naming where in
 * each JSON line the envelope sits. The value is found by scanning the line's text, so the rewrapped
 * envelope is spliced in and every other byte of the line (key order, spacing, numbers too large for a
 * double) is kept exactly.
 */
import { KeyManagementError } from '../lambda/keys/errors';

const SEGMENT = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/** `$.a.b` → ['a', 'b']; `$` → [] (the whole line). Only object member names; no arrays or wildcards. */
export function parseFieldPath(path: string): string[] {
  const text = path.startsWith('$') ? path.slice(1) : `.${path}`;
  if (text === '') return [];
  const segments = text.split('.').slice(1);
  if (!text.startsWith('.') || segments.length === 0 || !segments.every((s) => SEGMENT.test(s))) {
    throw new KeyManagementError('INVALID_INPUT', `--field '${path.slice(0, 100)}' is not a dotted path of member names such as $.payload.secret (array indexes and wildcards are not supported)`);
  }
  return segments;
}

export interface Span {
  readonly start: number;
  readonly end: number;
}

/** Thrown for a line that is not valid JSON. */
class NotJson extends Error {}

/**
 * The [start, end) of the value at `path` in the JSON text `line`, or undefined when the path is absent
 * (or crosses a non-object). Throws INVALID_INPUT if the line is not JSON.
 */
export function findValueSpan(line: string, path: readonly string[]): Span | undefined {
  try {
    const root = skipWs(line, 0);
    const rootEnd = valueEnd(line, root);
    if (skipWs(line, rootEnd) !== line.length) throw new NotJson();
    return locate(line, root, rootEnd, path, 0);
  } catch (err) {
    if (err instanceof NotJson || err instanceof SyntaxError) throw new KeyManagementError('INVALID_INPUT', 'the line is not valid JSON');
    throw err;
  }
}

function locate(s: string, start: number, end: number, path: readonly string[], depth: number): Span | undefined {
  if (depth === path.length) return { start, end };
  if (s[start] !== '{') return undefined;
  let i = skipWs(s, start + 1);
  if (s[i] === '}') return undefined;
  let found: Span | undefined;
  for (;;) {
    if (s[i] !== '"') throw new NotJson();
    const keyEnd = stringEnd(s, i);
    const name = JSON.parse(s.slice(i, keyEnd)) as string;
    i = skipWs(s, keyEnd);
    if (s[i] !== ':') throw new NotJson();
    const valueStart = skipWs(s, i + 1);
    const valueStop = valueEnd(s, valueStart);
    // JSON.parse keeps the last of duplicate members; so does this.
    if (name === path[depth]) found = locate(s, valueStart, valueStop, path, depth + 1);
    i = skipWs(s, valueStop);
    if (s[i] === ',') {
      i = skipWs(s, i + 1);
      continue;
    }
    if (s[i] === '}') return found;
    throw new NotJson();
  }
}

function skipWs(s: string, i: number): number {
  while (i < s.length && (s[i] === ' ' || s[i] === '\t' || s[i] === '\n' || s[i] === '\r')) i++;
  return i;
}

function stringEnd(s: string, i: number): number {
  for (let j = i + 1; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (c === 0x5c) j++;
    else if (c === 0x22) return j + 1;
  }
  throw new NotJson();
}

const SCALAR = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y;
/** Deeper nesting is refused rather than risking the stack on a hostile line. */
const MAX_DEPTH = 256;

/** End (exclusive) of the JSON value starting at `i`, checking its syntax. */
function valueEnd(s: string, i: number, depth = 0): number {
  if (depth > MAX_DEPTH) throw new NotJson();
  const c = s[i];
  if (c === '"') return stringEnd(s, i);
  if (c === '{' || c === '[') {
    const close = c === '{' ? '}' : ']';
    let j = skipWs(s, i + 1);
    if (s[j] === close) return j + 1;
    for (;;) {
      if (c === '{') {
        if (s[j] !== '"') throw new NotJson();
        j = skipWs(s, stringEnd(s, j));
        if (s[j] !== ':') throw new NotJson();
        j = skipWs(s, j + 1);
      }
      j = skipWs(s, valueEnd(s, j, depth + 1));
      if (s[j] === ',') {
        j = skipWs(s, j + 1);
        continue;
      }
      if (s[j] === close) return j + 1;
      throw new NotJson();
    }
  }
  SCALAR.lastIndex = i;
  const m = SCALAR.exec(s);
  if (!m) throw new NotJson();
  return i + m[0].length;
}
