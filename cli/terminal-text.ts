/**
 * Text for a terminal. Reasons, details, actors and locations come from the keyset, the audit log or the
 * command line, and any of them may have been written by someone else: printed raw, a newline could fake a
 * status row or an audit line, and an escape sequence could rewrite the screen. So every line the CLI
 * prints shows such characters as escapes instead.
 */

/** C0 and C1 controls (tab and newline included), line and paragraph separators, bidirectional overrides. */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Readonly<Record<string, string>> = { '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** `text` with every unprintable character as `\n`, `\t`, `\r` or `\uXXXX`. */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => NAMED[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
