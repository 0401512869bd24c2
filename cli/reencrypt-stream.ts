/**
 * The streaming half of `reencrypt`: JSON Lines from `input` (read by `LineReader`, which fails a line longer than
 * the limit before it is buffered whole) through the rewrapper into a temp file beside `output` (0600), in bounded
 * batches; the
 * temp file is fsync'd and linked to `output` only when the whole input was read (a link, unlike a rename, fails
 * rather than replace a file created at `output` meanwhile). Constant memory; the input is never written.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { errorCode, KeyManagementError } from '../lambda/keys/errors';
import type { Rewrapper } from '../lambda/keys/rewrap';
import { syncDirectory } from '../lambda/stores/sync-directory';
import { findValueSpan, type Span } from './json-field';
import { LineReader } from './line-reader';

/** Default longest line: far above any row of envelopes, low enough that one line cannot exhaust memory. */
export const DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024;
/** Failed line numbers listed in the summary; the count is always exact. */
export const MAX_LISTED_FAILURES = 1_000;
const WRITE_BATCH_BYTES = 256 * 1024;

/**
 * Appends UTF-8 to a file handle in bounded batches: lines are encoded straight into one of two reused buffers (no
 * string joined, no per-line await); a full one is written, to the last byte, while lines fill the other.
 */
class BatchWriter {
  private batch = Buffer.allocUnsafe(WRITE_BATCH_BYTES);
  private spare = Buffer.allocUnsafe(WRITE_BATCH_BYTES);
  private size = 0;
  /** The write of the other buffer, under way. */
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly handle: fs.FileHandle) {}

  /** Queues `text`: undefined while the batch has room, else a promise settled once the previous batch is written. */
  write(text: string): Promise<void> | undefined {
    // UTF-8 takes at most 3 bytes per UTF-16 code unit.
    if (text.length * 3 > this.batch.length - this.size) return this.rotateThenWrite(text);
    this.size += this.batch.write(text, this.size);
    return undefined;
  }

  /** Writes everything queued; resolves once it is all written. */
  async flush(): Promise<void> {
    await this.rotate();
    await this.writing;
  }

  /** Waits for the previous batch to be written, then starts writing this one and fills the other. */
  private async rotate(): Promise<void> {
    await this.writing;
    const [full, size] = [this.batch, this.size];
    [this.batch, this.spare, this.size] = [this.spare, full, 0];
    this.writing = this.put(full, size);
    // Awaited by the next rotate or flush; a failure nobody awaits (the run stopped first) is not unhandled.
    this.writing.catch(() => undefined);
  }

  private async rotateThenWrite(text: string): Promise<void> {
    await this.rotate();
    if (text.length * 3 <= this.batch.length) this.size += this.batch.write(text, 0);
    else {
      await this.writing;
      this.writing = this.put(Buffer.from(text, 'utf8'));
    }
  }

  private async put(data: Buffer, length = data.length): Promise<void> {
    try {
      for (let done = 0; done < length; ) {
        const { bytesWritten } = await this.handle.write(data, done, length - done);
        if (bytesWritten === 0) throw Object.assign(new Error('short write'), { code: 'EIO' });
        done += bytesWritten;
      }
    } catch (err) {
      throw new KeyManagementError('STORE_UNAVAILABLE', `cannot write the output: ${(err as NodeJS.ErrnoException).code ?? 'write error'}; nothing was written to --out — check the disk`);
    }
  }
}

export type LineOutcome = { kind: 'pass' } | { kind: 'not-json' } | { kind: 'current' } | { kind: 'rewrapped'; text: string; fromVersion: number };

/**
 * One line through the rewrapper. `path` empty: the line itself is the envelope (a JSON record, a JSON
 * string holding a compact envelope, or a bare compact envelope). Otherwise the envelope is the value
 * at `path`: a record object, a compact string, or a string holding a record's JSON. A blank line and a
 * JSON line without an envelope pass; any other line is `not-json` (the caller decides what that means).
 */
export function processLine(line: string, fieldPath: readonly string[], rewrapper: Rewrapper): LineOutcome {
  const trimmed = line.trim();
  if (trimmed === '') return { kind: 'pass' };
  const whole = fieldPath.length === 0;
  if (whole && trimmed.startsWith('AP2:')) return outcome(rewrapper.rewrap(trimmed), (v) => v as string);
  const root = parsedJson(trimmed);
  if (root === NOT_JSON) return { kind: 'not-json' };
  if (whole ? !trimmed.includes('ciphertext') && !trimmed.startsWith('"AP2:') : !trimmed.startsWith('{')) return { kind: 'pass' };
  // The whole line is the value already parsed; a field is found by scanning the text, so it can be spliced back.
  const span = whole ? wholeLineSpan(line, trimmed) : findValueSpan(line, fieldPath);
  if (!span) return { kind: 'pass' };
  const value: unknown = whole ? root : JSON.parse(line.slice(span.start, span.end));
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
  // `json` holds no backslash or control character, so as a JSON string it needs only its quotes escaped.
  return outcome(result, (_v, json) => line.slice(0, at.start) + (nestedJson ? `"${json.replaceAll('"', '\\"')}"` : json) + line.slice(at.end));
}

const NOT_JSON = Symbol('not JSON');

/** `text` parsed, or NOT_JSON. V8's own error quotes the input, so it is never passed on. */
function parsedJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return NOT_JSON;
  }
}

/**
 * Where the JSON value `trimmed` (the line without its surrounding whitespace, known to parse) sits in `line`.
 * Whitespace JSON does not allow around a value (a no-break space, say) makes the line invalid, as for a field.
 */
function wholeLineSpan(line: string, trimmed: string): Span {
  const start = line.length - line.trimStart().length;
  const end = start + trimmed.length;
  if (!isJsonWhitespace(line, 0, start) || !isJsonWhitespace(line, end, line.length)) throw new KeyManagementError('INVALID_INPUT', 'the line is not valid JSON');
  return { start, end };
}

function isJsonWhitespace(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return false;
  }
  return true;
}

function outcome(result: ReturnType<Rewrapper['rewrap']>, render: (value: string | object, json: string) => string): LineOutcome {
  if (result.status === 'not-envelope') return { kind: 'pass' };
  if (result.status === 'current') return { kind: 'current' };
  return { kind: 'rewrapped', text: render(result.value, result.json), fromVersion: result.fromVersion };
}

export interface ReencryptJob {
  readonly input: string;
  readonly output: string;
  /** Where the envelope sits in each line; empty: the whole line. */
  readonly fieldPath: readonly string[];
  readonly maxLineBytes: number;
  /** Copy lines that are not JSON instead of stopping at the first one. */
  readonly passThroughInvalid: boolean;
  readonly rewrapper: Rewrapper;
  /** Called every 1,000 lines with the bytes read so far and the counts. */
  readonly onProgress?: (bytes: number, counts: ReencryptCounts) => void;
}

export interface ReencryptCounts {
  read: number;
  rewrapped: number;
  alreadyCurrent: number;
  passedThrough: number;
  notJson: number;
  failed: number;
}

export interface ReencryptOutcome {
  readonly counts: ReencryptCounts;
  /** The first MAX_LISTED_FAILURES failures: 1-based line number and error code. */
  readonly failedLines: readonly { readonly line: number; readonly code: string }[];
  /** How many envelopes came from each version. */
  readonly rewrappedFrom: Readonly<Record<string, number>>;
}

/** Streams `job.input` into `job.output`; the output exists only if the whole input was read and written. */
export async function reencryptFile(job: ReencryptJob): Promise<ReencryptOutcome> {
  const tmp = path.join(path.dirname(job.output), `.${path.basename(job.output)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const handle = await fs.open(tmp, 'wx', 0o600);
  const reader = new LineReader(job.input, job.maxLineBytes);
  const tally = new Tally();
  let committed = false;
  try {
    const writer = new BatchWriter(handle);
    try {
      for await (const lines of reader.batches()) {
        for (const line of lines) {
          const written = writer.write(`${tally.line(line, job)}\n`);
          if (written) await written;
          if (job.onProgress && tally.counts.read % 1000 === 0) job.onProgress(reader.bytes, tally.counts);
        }
      }
    } catch (err) {
      // An input that fails mid-read (a directory, an I/O error, a line over the limit) ends the run here.
      if (err instanceof KeyManagementError) throw err;
      throw new KeyManagementError('INVALID_INPUT', `cannot read ${job.input}: ${(err as NodeJS.ErrnoException).code ?? 'read error'}; nothing was written`);
    }
    await writer.flush();
    await handle.sync();
    await handle.close();
    await linkIntoPlace(tmp, job.output);
    committed = true;
    await fs.unlink(tmp);
    await syncDirectory(path.dirname(job.output));
  } finally {
    if (!committed) {
      await handle.close().catch(() => undefined);
      await fs.rm(tmp, { force: true });
    }
  }
  return { counts: tally.counts, failedLines: tally.failedLines, rewrappedFrom: tally.rewrappedFrom };
}

/** What happened to each line, and the line to write for it. */
class Tally {
  readonly counts: ReencryptCounts = { read: 0, rewrapped: 0, alreadyCurrent: 0, passedThrough: 0, notJson: 0, failed: 0 };
  readonly failedLines: { line: number; code: string }[] = [];
  readonly rewrappedFrom: Record<string, number> = {};

  line(line: string, job: ReencryptJob): string {
    const counts = this.counts;
    counts.read++;
    let result: LineOutcome | undefined;
    try {
      result = processLine(line, job.fieldPath, job.rewrapper);
    } catch (err) {
      // The line is kept as it was, so no data is lost; the summary names it.
      counts.failed++;
      if (this.failedLines.length < MAX_LISTED_FAILURES) this.failedLines.push({ line: counts.read, code: errorCode(err) });
      return line;
    }
    switch (result.kind) {
      case 'not-json':
        // Not JSON Lines at all (the wrong file, a truncated write): stop rather than copy what is not understood.
        if (!job.passThroughInvalid) {
          throw new KeyManagementError('INVALID_INPUT', `line ${counts.read} of ${job.input} is not valid JSON; nothing was written — reencrypt reads JSON Lines (rerun with --pass-through-invalid to copy such lines unchanged)`);
        }
        counts.notJson++;
        counts.passedThrough++;
        return line;
      case 'pass':
        counts.passedThrough++;
        return line;
      case 'current':
        counts.alreadyCurrent++;
        return line;
      case 'rewrapped':
        counts.rewrapped++;
        this.rewrappedFrom[result.fromVersion] = (this.rewrappedFrom[result.fromVersion] ?? 0) + 1;
        return result.text;
    }
  }
}

async function linkIntoPlace(tmp: string, output: string): Promise<void> {
  try {
    await fs.link(tmp, output);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new KeyManagementError('INVALID_INPUT', `${output} was created while reencrypt ran; it was not overwritten — choose a new --out`);
    }
    throw err;
  }
}
