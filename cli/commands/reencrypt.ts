/**
 * `reencrypt`: JSON Lines in, JSON Lines out. Every envelope not under the primary (old AP2 versions,
 * disabled ones and legacy AlphaPulse records included) is rewrapped to the primary; every other JSON
 * line is copied byte for byte. A line that is not JSON means the input is not what we think it is (the
 * wrong file, a torn write), so the run stops there and commits nothing, unless --pass-through-invalid.
 * A rerun over its own output rewraps nothing.
 *
 * Streaming and constant memory: lines are read with readline behind a guard that fails a line longer
 * than --max-line-bytes before it is buffered whole; output goes out in bounded batches to a temp file
 * beside --out (0600), which is fsync'd and linked to --out only when the whole input was read (a link,
 * unlike a rename, fails rather than replace a file created at --out while the run was going).
 * The input is never written.
 */
import { SingleBar } from 'cli-progress';
import { randomBytes } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { Transform, type TransformCallback } from 'node:stream';
import { errorCode, KeyManagementError } from '../../lambda/keys/errors';
import { PooledRandom } from '../../lambda/keys/random';
import { Rewrapper } from '../../lambda/keys/rewrap';
import { syncDirectory } from '../../lambda/stores/sync-directory';
import { audited } from '../audited';
import { findValueSpan, parseFieldPath } from '../json-field';
import { parsePositiveWholeNumber, usage } from '../parse';
import { EXIT_FAILED, EXIT_OK, usageError } from '../failure';
import { type CommandRegistrar, emit } from '../runtime';

/** Default longest line: far above any row of envelopes, low enough that one line cannot exhaust memory. */
export const DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024;
/** Failed line numbers listed in the summary; the count is always exact. */
export const MAX_LISTED_FAILURES = 1_000;
const WRITE_BATCH_BYTES = 256 * 1024;

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

/** Fails the stream as soon as a line grows past `max` bytes, and counts bytes for the progress bar. */
class LineGuard extends Transform {
  bytes = 0;
  private current = 0;
  line = 1;

  constructor(private readonly max: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    let from = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, from);
      const segment = (nl === -1 ? chunk.length : nl) - from;
      if (this.current + segment > this.max) {
        done(new KeyManagementError('INVALID_INPUT', `line ${this.line} is longer than ${this.max} bytes (--max-line-bytes); nothing was written — is the input JSON Lines? raise the limit if such lines are expected`));
        return;
      }
      if (nl === -1) {
        this.current += segment;
        break;
      }
      this.current = 0;
      this.line++;
      from = nl + 1;
    }
    this.bytes += chunk.length;
    done(null, chunk);
  }
}

/** Appends to a file handle in bounded batches. */
class BatchWriter {
  private parts: string[] = [];
  private size = 0;

  constructor(private readonly handle: fs.FileHandle) {}

  async write(text: string): Promise<void> {
    this.parts.push(text);
    this.size += text.length;
    if (this.size >= WRITE_BATCH_BYTES) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.parts.length === 0) return;
    const text = this.parts.join('');
    this.parts = [];
    this.size = 0;
    try {
      await this.handle.write(text);
    } catch (err) {
      throw new KeyManagementError('STORE_UNAVAILABLE', `cannot write the output: ${(err as NodeJS.ErrnoException).code ?? 'write error'}; nothing was written to --out — check the disk`);
    }
  }
}

type LineOutcome = { kind: 'pass' } | { kind: 'not-json' } | { kind: 'current' } | { kind: 'rewrapped'; text: string; fromVersion: number };

/**
 * One line through the rewrapper. `path` empty: the line itself is the envelope (a JSON record, a JSON
 * string holding a compact envelope, or a bare compact envelope). Otherwise the envelope is the value
 * at `path`: a record object, a compact string, or a string holding a record's JSON. A blank line and a
 * JSON line without an envelope pass; any other line is `not-json` (the caller decides what that means).
 */
export function processLine(line: string, fieldPath: readonly string[], rewrapper: Rewrapper): LineOutcome {
  const trimmed = line.trim();
  if (trimmed === '') return { kind: 'pass' };
  if (fieldPath.length === 0 && trimmed.startsWith('AP2:')) return outcome(rewrapper.rewrap(trimmed), (v) => v as string);
  if (!isJson(trimmed)) return { kind: 'not-json' };
  if (fieldPath.length === 0 ? !trimmed.includes('ciphertext') && !trimmed.startsWith('"AP2:') : !trimmed.startsWith('{')) return { kind: 'pass' };
  const span = findValueSpan(line, fieldPath);
  if (!span) return { kind: 'pass' };
  const value: unknown = JSON.parse(line.slice(span.start, span.end));
  const at = span;
  let result;
  let nestedJson = false;
  if (typeof value === 'string' && value.trimStart().startsWith('{') && value.includes('ciphertext')) {
    nestedJson = true;
    let inner: unknown;
    try {
      inner = JSON.parse(value);
    } catch {
      throw new KeyManagementError('INVALID_ENVELOPE', 'the field holds text that starts like a JSON record but does not parse');
    }
    result = rewrapper.rewrap(inner);
  } else {
    result = rewrapper.rewrap(value);
  }
  return outcome(result, (v) => line.slice(0, at.start) + JSON.stringify(nestedJson ? JSON.stringify(v) : v) + line.slice(at.end));
}

/** Whether `text` parses as JSON. V8's own error quotes the input, so it is never passed on. */
function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

function outcome(result: ReturnType<Rewrapper['rewrap']>, render: (value: string | object) => string): LineOutcome {
  if (result.status === 'not-envelope') return { kind: 'pass' };
  if (result.status === 'current') return { kind: 'current' };
  return { kind: 'rewrapped', text: render(result.value), fromVersion: result.fromVersion };
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
    .action(async (opts: { in: string; out: string; field?: string[]; maxLineBytes?: number; passThroughInvalid?: boolean }) => {
      const input = path.resolve(opts.in);
      const output = path.resolve(opts.out);
      // Usage errors (exit 2), found before the store is opened or anything is audited.
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
      return run(async (rt) => {
        const summary = await audited(rt, 'reencrypt', { detail: `${input} -> ${output}` }, async () => {
          const fieldPath = opts.field ?? [];
          const maxLine = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
          const { keyset } = await rt.manager.readFresh();
          const rewrapper = new Rewrapper(keyset, new PooledRandom());
          const tmp = path.join(path.dirname(output), `.${path.basename(output)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
          const handle = await fs.open(tmp, 'wx', 0o600);
          const guard = new LineGuard(maxLine);
          const source = createReadStream(input);
          let streamError: unknown;
          source.on('error', (err) => guard.destroy(err));
          guard.on('error', (err) => {
            streamError = err;
          });
          const bar = rt.io.isTTY && !rt.options.json
            ? new SingleBar({ stream: rt.io.stderr, noTTYOutput: true, format: 'reencrypt [{bar}] {percentage}% | {lines} lines | {rewrapped} rewrapped | {failed} failed', hideCursor: true })
            : undefined;
          const counts = { read: 0, rewrapped: 0, alreadyCurrent: 0, passedThrough: 0, notJson: 0, failed: 0 };
          const failedLines: { line: number; code: string }[] = [];
          const rewrappedFrom: Record<string, number> = {};
          let committed = false;
          try {
            bar?.start(Math.max(size, 1), 0, { lines: 0, rewrapped: 0, failed: 0 });
            const writer = new BatchWriter(handle);
            const lines = createInterface({ input: source.pipe(guard), crlfDelay: Infinity });
            try {
              for await (const line of lines) {
                counts.read++;
                let out = line;
                let result: LineOutcome | undefined;
                try {
                  result = processLine(line, fieldPath, rewrapper);
                } catch (err) {
                  // The line is kept as it was, so no data is lost; the summary names it.
                  counts.failed++;
                  if (failedLines.length < MAX_LISTED_FAILURES) failedLines.push({ line: counts.read, code: errorCode(err) });
                }
                if (result?.kind === 'not-json') {
                  // Not JSON Lines at all (the wrong file, a truncated write): stop rather than copy what is not understood.
                  if (!opts.passThroughInvalid) {
                    throw new KeyManagementError('INVALID_INPUT', `line ${counts.read} of ${input} is not valid JSON; nothing was written — reencrypt reads JSON Lines (rerun with --pass-through-invalid to copy such lines unchanged)`);
                  }
                  counts.notJson++;
                  counts.passedThrough++;
                } else if (result?.kind === 'pass') counts.passedThrough++;
                else if (result?.kind === 'current') counts.alreadyCurrent++;
                else if (result?.kind === 'rewrapped') {
                  counts.rewrapped++;
                  rewrappedFrom[result.fromVersion] = (rewrappedFrom[result.fromVersion] ?? 0) + 1;
                  out = result.text;
                }
                await writer.write(`${out}\n`);
                if (bar && counts.read % 1000 === 0) bar.update(guard.bytes, { lines: counts.read, rewrapped: counts.rewrapped, failed: counts.failed });
              }
            } catch (err) {
              // An input that fails mid-read (a directory, an I/O error, the line guard) ends the run here.
              streamError = streamError ?? err;
            }
            if (streamError) {
              if (streamError instanceof KeyManagementError) throw streamError;
              throw new KeyManagementError('INVALID_INPUT', `cannot read ${input}: ${(streamError as NodeJS.ErrnoException).code ?? 'read error'}; nothing was written`);
            }
            await writer.flush();
            await handle.sync();
            bar?.update(Math.max(size, 1), { lines: counts.read, rewrapped: counts.rewrapped, failed: counts.failed });
            await handle.close();
            try {
              await fs.link(tmp, output);
            } catch (err) {
              if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
                throw new KeyManagementError('INVALID_INPUT', `${output} was created while reencrypt ran; it was not overwritten — choose a new --out`);
              }
              throw err;
            }
            committed = true;
            await fs.unlink(tmp);
            await syncDirectory(path.dirname(output));
          } finally {
            bar?.stop();
            rewrapper.destroy();
            source.destroy();
            if (!committed) {
              await handle.close().catch(() => undefined);
              await fs.rm(tmp, { force: true });
            }
          }
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
        });
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
