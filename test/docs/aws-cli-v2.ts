/**
 * The docs write AWS CLI version 2 commands; this machine has version 1 (aws-cli/1.45). Two things in
 * them exist only in v2, and each has an exact v1 form that makes the same API call:
 *
 * - `aws logs tail GROUP [--since T] ...` is a v2 customization (aws-cli v2,
 *   awscli/customizations/logs/tail.py). Its ARG_TABLE is `group_name` (positional), `--since` (default
 *   10m; an ISO 8601 time, or a number and one unit of s m h d w: `(\d+)(s|m|h|d|w)$`), `--follow`,
 *   `--format` (detailed | short | json | none), `--filter-pattern`, `--log-stream-names`,
 *   `--log-stream-name-prefix`. Without `--follow` it pages through FilterLogEvents(logGroupName,
 *   interleaved: true, startTime = now - since in epoch milliseconds, ...) and prints the events. The v1
 *   form is `aws logs filter-log-events --log-group-name GROUP --interleaved --start-time MS`.
 * - `--cli-binary-format raw-in-base64-out` is a v2 global option; the AWS CLI v2 User Guide says that
 *   `raw-in-base64-out` is "the default for the AWS CLI version 1": a blob argument such as `--payload
 *   '{...}'` is sent as its raw bytes. v1 has no such option and already behaves that way, so its form of
 *   the command is the same line without the option.
 *
 * `toV1` checks a v2 line against these tables (an option v2 does not have, or `--follow`, which never
 * ends, is an error) and returns the v1 line, or undefined when the line needs no translation.
 */

const TAIL_OPTIONS = new Set(['--since', '--follow', '--format', '--filter-pattern', '--log-stream-names', '--log-stream-name-prefix']);
const TAIL_FORMATS = new Set(['detailed', 'short', 'json', 'none']);
const RELATIVE = /^(\d+)(s|m|h|d|w)$/;
const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

export interface V1Form {
  readonly command: string;
  /** What v2 feature the translation stands in for. */
  readonly v2Only: 'aws logs tail' | '--cli-binary-format';
}

/** Splits a simple command line on whitespace, keeping single-quoted words whole (no other shell syntax). */
function words(line: string): string[] {
  return [...line.matchAll(/'[^']*'|\S+/g)].map((m) => m[0]);
}

export function toV1(line: string, now: Date = new Date()): V1Form | undefined {
  const w = words(line);
  if (w[0] !== 'aws') return undefined;
  if (w[1] === 'logs' && w[2] === 'tail') return { command: tailToV1(w.slice(3), now), v2Only: 'aws logs tail' };
  const i = w.indexOf('--cli-binary-format');
  if (i < 0) return undefined;
  if (!['base64', 'raw-in-base64-out'].includes(w[i + 1])) throw new Error(`--cli-binary-format takes base64 or raw-in-base64-out in the AWS CLI v2, got '${w[i + 1]}': ${line}`);
  if (w[i + 1] === 'base64') throw new Error(`--cli-binary-format base64 has no AWS CLI v1 form (v1 sends blobs raw): ${line}`);
  return { command: [...w.slice(0, i), ...w.slice(i + 2)].join(' '), v2Only: '--cli-binary-format' };
}

function tailToV1(args: readonly string[], now: Date): string {
  let group: string | undefined;
  let since = '10m';
  const extra: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith('--')) {
      if (group !== undefined) throw new Error(`aws logs tail takes one log group name, got '${group}' and '${a}'`);
      group = a;
      continue;
    }
    if (!TAIL_OPTIONS.has(a)) throw new Error(`aws logs tail (AWS CLI v2) has no option ${a}`);
    if (a === '--follow') throw new Error('aws logs tail --follow never ends: not a command a test can run');
    const value = args[++i];
    if (value === undefined) throw new Error(`aws logs tail ${a} needs a value`);
    if (a === '--since') since = value;
    else if (a === '--format' && !TAIL_FORMATS.has(value)) throw new Error(`aws logs tail --format takes detailed, short, json or none, got '${value}'`);
    else if (a === '--filter-pattern') extra.push('--filter-pattern', value);
    else if (a === '--log-stream-names') extra.push('--log-stream-names', value);
    else if (a === '--log-stream-name-prefix') extra.push('--log-stream-name-prefix', value);
  }
  if (group === undefined) throw new Error('aws logs tail needs a log group name');
  return ['aws logs filter-log-events --log-group-name', group, '--interleaved --start-time', String(startMillis(since, now)), ...extra].join(' ');
}

function startMillis(since: string, now: Date): number {
  const relative = RELATIVE.exec(since);
  if (relative) return now.getTime() - Number(relative[1]) * UNIT_SECONDS[relative[2]] * 1000;
  const absolute = Date.parse(since);
  if (Number.isNaN(absolute)) throw new Error(`aws logs tail --since takes an ISO 8601 time or a number and one unit (s, m, h, d, w), got '${since}'`);
  return absolute;
}
