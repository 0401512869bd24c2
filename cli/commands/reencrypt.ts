/**
 * `reencrypt`: JSON Lines in, JSON Lines out. Every envelope not under the primary (old AP2 versions,
 * disabled ones and legacy AlphaPulse records included) is rewrapped to the primary; every other JSON
 * line is copied byte for byte. A line that is not JSON means the input is not what we think it is (the
 * wrong file, a torn write), so the run stops there and commits nothing, unless --pass-through-invalid.
 * A rerun over its own output rewraps nothing.
 *
 * Streaming and constant memory (cli/reencrypt-stream.ts): the output is linked into place only when the whole input
 * was read. The input is never written.
 */
import { SingleBar } from 'cli-progress';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { PooledRandom } from '../../lambda/keys/random';
import { Rewrapper } from '../../lambda/keys/rewrap';
import { audited } from '../audited';
import { parseFieldPath } from '../json-field';
import { parsePositiveWholeNumber, usage } from '../parse';
import { EXIT_FAILED, EXIT_OK, usageError } from '../failure';
import { DEFAULT_MAX_LINE_BYTES, reencryptFile } from '../reencrypt-stream';
import { type CommandRegistrar, emit, type Runtime } from '../runtime';

export { DEFAULT_MAX_LINE_BYTES, MAX_LISTED_FAILURES, processLine } from '../reencrypt-stream';

export interface ReencryptSummary {
  readonly input: string;
  readonly output: string;
  readonly primary: number;
  readonly read: number;
  readonly rewrapped: number;
  readonly alreadyCurrent: number;
  readonly passedThrough: number;
  /** Of those passed through, lines that were not JSON (only with --pass-through-invalid). */
  readonly notJson: number;
  readonly failed: number;
  /** The first MAX_LISTED_FAILURES failures: 1-based line number and error code. */
  readonly failedLines: readonly { readonly line: number; readonly code: string }[];
  /** How many envelopes came from each version. */
  readonly rewrappedFrom: Readonly<Record<string, number>>;
  /** Disabled versions whose data was moved off them. */
  readonly disabledVersionsRead: readonly number[];
}

interface ReencryptOptions {
  readonly in: string;
  readonly out: string;
  readonly field?: string[];
  readonly maxLineBytes?: number;
  readonly passThroughInvalid?: boolean;
}

async function sameFile(a: string, b: string): Promise<boolean> {
  try {
    const [x, y] = await Promise.all([fs.stat(a), fs.stat(b)]);
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}

export const registerReencrypt: CommandRegistrar = (program, run) => {
  program
    .command('reencrypt')
    .description('rewrap every envelope in a JSON Lines file that is not under the primary (legacy and disabled versions included); JSON lines without one pass through, a line that is not JSON stops the run')
    .requiredOption('--in <file>', 'JSON Lines input (never modified)')
    .requiredOption('--out <file>', 'JSON Lines output (must not exist; written to a temp file, then linked into place)')
    .option('--field <jsonpath>', 'where the envelope sits in each line, e.g. $.payload.secret (default: the whole line)', usage(parseFieldPath))
    .option('--max-line-bytes <n>', `longest line accepted (default ${DEFAULT_MAX_LINE_BYTES})`, usage((v) => parsePositiveWholeNumber(v, '--max-line-bytes', 10)))
    .option('--pass-through-invalid', 'copy lines that are not JSON unchanged instead of stopping at the first one')
    .action(async (opts: ReencryptOptions) => {
      const input = path.resolve(opts.in);
      const output = path.resolve(opts.out);
      const size = await checkPaths(input, output);
      return run(async (rt) => {
        const summary = await audited(rt, 'reencrypt', { detail: `${input} -> ${output}` }, () => reencrypt(rt, opts, input, output, size));
        const failures = summary.failedLines.map((f) => `${f.line} (${f.code})`).join(', ');
        emit(rt, summary, [
          `read ${summary.read} lines from ${summary.input}`,
          `rewrapped ${summary.rewrapped} to version ${summary.primary}${Object.keys(summary.rewrappedFrom).length ? ` (from ${Object.entries(summary.rewrappedFrom).map(([v, n]) => `version ${v}: ${n}`).join(', ')})` : ''}`,
          `already current ${summary.alreadyCurrent}, not envelopes ${summary.passedThrough}${summary.notJson ? ` (${summary.notJson} of them not JSON)` : ''}`,
          `failed ${summary.failed}${summary.failed ? `: line ${failures}${summary.failed > summary.failedLines.length ? ', …' : ''} (copied unchanged)` : ''}`,
          `wrote ${summary.output}`,
        ]);
        return summary.failed > 0 ? EXIT_FAILED : EXIT_OK;
      });
    });
};

/** Usage errors (exit 2), found before the store is opened or anything is audited; returns the input's size. */
async function checkPaths(input: string, output: string): Promise<number> {
  let size: number;
  try {
    size = (await fs.stat(input)).size;
  } catch (err) {
    throw usageError('INVALID_INPUT', `cannot read --in ${input}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : ((err as NodeJS.ErrnoException).code ?? 'read error')}`);
  }
  if (input === output || (await sameFile(input, output))) {
    throw usageError('INVALID_INPUT', 'reencrypt never writes in place: give --out a new file, then swap it in once checked');
  }
  if (await fs.lstat(output).then(() => true, () => false)) {
    throw usageError('INVALID_INPUT', `${output} already exists; it was not overwritten — choose a new --out`);
  }
  return size;
}

/** The run itself, with a progress bar on a terminal; its summary and audit fields. */
async function reencrypt(rt: Runtime, opts: ReencryptOptions, input: string, output: string, size: number) {
  const { keyset } = await rt.manager.readFresh();
  const rewrapper = new Rewrapper(keyset, new PooledRandom());
  const bar = rt.io.isTTY && !rt.options.json
    ? new SingleBar({ stream: rt.io.stderr, noTTYOutput: true, format: 'reencrypt [{bar}] {percentage}% | {lines} lines | {rewrapped} rewrapped | {failed} failed', hideCursor: true })
    : undefined;
  let done;
  try {
    bar?.start(Math.max(size, 1), 0, { lines: 0, rewrapped: 0, failed: 0 });
    done = await reencryptFile({
      input,
      output,
      fieldPath: opts.field ?? [],
      maxLineBytes: opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES,
      passThroughInvalid: Boolean(opts.passThroughInvalid),
      rewrapper,
      ...(bar ? { onProgress: (bytes: number, c: { read: number; rewrapped: number; failed: number }) => bar.update(bytes, { lines: c.read, rewrapped: c.rewrapped, failed: c.failed }) } : {}),
    });
    bar?.update(Math.max(size, 1), { lines: done.counts.read, rewrapped: done.counts.rewrapped, failed: done.counts.failed });
  } finally {
    bar?.stop();
    rewrapper.destroy();
  }
  const { counts, failedLines, rewrappedFrom } = done;
  const result: ReencryptSummary = {
    input,
    output,
    primary: keyset.primary,
    ...counts,
    failedLines,
    rewrappedFrom,
    disabledVersionsRead: [...rewrapper.disabledVersionsRead].sort((a, b) => a - b),
  };
  const from = Object.entries(rewrappedFrom).map(([v, n]) => `v${v}:${n}`).join(' ');
  const disabled = result.disabledVersionsRead.length ? `, read disabled version(s) ${result.disabledVersionsRead.join(', ')}` : '';
  const detail = `${input} -> ${output}: read ${counts.read}, rewrapped ${counts.rewrapped}${from ? ` (${from})` : ''}, current ${counts.alreadyCurrent}, passed ${counts.passedThrough}, failed ${counts.failed}${disabled}`;
  return { result, audit: { version: keyset.primary, detail: detail.slice(0, 1000) } };
}
