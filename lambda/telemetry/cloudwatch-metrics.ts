/**
 * A `MetricsSink` that aggregates in memory and publishes to CloudWatch with `PutMetricData`.
 *
 * Recording (`count`, `gauge`) is a map update: no I/O, no allocation per call once a series exists,
 * and it never throws; a `counter` handle skips even the map lookup, finding its series once per window. Each flush window holds one aggregate per (metric, unit, dimension set):
 * counters are summed, gauges kept as statistic sets (SampleCount/Sum/Min/Max). A flush sends the
 * aggregates in as few `PutMetricData` calls as CloudWatch allows (at most 1,000 datums and about
 * 1 MB per request), so 100,000 operations over 100 series cost one call, not 100,000.
 *
 * Flushes happen on a background timer (default every 60 s, unref'd so it never keeps a process
 * alive), and explicitly through `flush()` / `close()`: a Lambda must flush before its invocation
 * returns, because a frozen execution environment runs no timers (`withMetricsFlush` does that).
 *
 * Every flush is bounded in time (`flushTimeoutMs`, or the caller's `timeoutMs`), retry included: at
 * the bound a request still running is aborted and its batch dropped, so a caller awaiting a flush
 * (a CLI before it exits, a Lambda before it returns) never waits on an unreachable CloudWatch. The
 * timers a flush waits on are ref'd: a process must not exit in the middle of a flush it is awaiting
 * (an unref'd wait would let Node's event loop drain and the process end with its work unfinished).
 *
 * Failure policy: a failed request is retried once after a backoff if the bound leaves time for it;
 * otherwise, or if the retry fails too, the batch is dropped, `MetricsPublishFailures` is counted (in
 * `stats()` and as a metric sent with the next successful flush, since CloudWatch is what is failing),
 * and `onError` is told. Nothing is ever thrown into callers. Memory is bounded: at most `maxSeries` distinct series (default 10,000,
 * a few MB) are buffered per window, and at most `MAX_PENDING_WINDOWS` windows wait behind a slow
 * send (so at most 3 × maxSeries series in all); observations of new series beyond the bound are
 * dropped and counted in `stats().droppedDatums`.
 */
import { CloudWatchClient, type MetricDatum, PutMetricDataCommand, type StandardUnit } from '@aws-sdk/client-cloudwatch';
import { awsRequestHandler } from '../stores/aws-client-options';
import { awsErrorName } from '../stores/secrets-manager-errors';
import { type BoundCounter, type Dimensions, type FlushOptions, METRICS_NAMESPACE, type MetricName, type MetricsSink, type MetricUnit } from './metrics';
import { DEFAULT_FLUSH_TIMEOUT_MS } from './metrics-flush';

/** CloudWatch's limit on datums per `PutMetricData` request. */
export const MAX_DATUMS_PER_REQUEST = 1_000;
/** CloudWatch's limit on a `PutMetricData` request body (1 MB); we plan batches against a budget under it. */
export const MAX_REQUEST_BYTES = 1_000_000;
/** Planned bytes per request: the limit less headroom for the envelope and the estimate's error. */
export const REQUEST_BYTES_BUDGET = 900_000;
/** CloudWatch's limit on dimensions per metric. */
export const MAX_DIMENSIONS = 30;
export const DEFAULT_FLUSH_INTERVAL_MS = 60_000;
/** Distinct series buffered per flush window. Each costs a few hundred bytes, so 10,000 is a few MB. */
export const DEFAULT_MAX_SERIES = 10_000;
export const DEFAULT_RETRY_DELAY_MS = 200;
export { DEFAULT_FLUSH_TIMEOUT_MS, type MetricsFlushOptions, withMetricsFlush } from './metrics-flush';
/** Windows waiting to be sent at once; with `maxSeries` this bounds the sink's memory during an outage. */
export const MAX_PENDING_WINDOWS = 2;

export interface CloudWatchMetricsSinkOptions {
  /**
   * Client to send with. When absent one is built from `region` / `endpointUrl` with `maxAttempts: 1`
   * and the shared request timeouts,
   * so this sink's own policy (one retry with backoff) is the only retrying: a Lambda flushing at the
   * end of an invocation must not sit in the SDK's retry loop against an unavailable CloudWatch.
   * @default a new CloudWatchClient
   */
  readonly client?: CloudWatchClient;
  /** @default METRICS_NAMESPACE ('AlphaPulse/Encryption') */
  readonly namespace?: string;
  /** Background flush period; 0 disables the timer (flush explicitly). @default 60000 */
  readonly flushIntervalMs?: number;
  /** Region for the client built when `client` is absent. @default the SDK's resolution (AWS_REGION) */
  readonly region?: string;
  /** Endpoint for the client built when `client` is absent (VPC endpoint, local emulator). */
  readonly endpointUrl?: string;
  /** Bound on distinct series buffered per window; new series beyond it are dropped. @default 10000 */
  readonly maxSeries?: number;
  /** Wait before the one retry of a failed request (jittered ±50%). @default 200 */
  readonly retryDelayMs?: number;
  /** The most one flush may take, retry included, unless `flush({ timeoutMs })` says otherwise. @default 5000 */
  readonly flushTimeoutMs?: number;
  /** Publish at 1-second resolution (1) or standard 60-second resolution (60). @default 60 */
  readonly storageResolution?: 1 | 60;
  /** Timestamp source for datums. @default () => new Date() */
  readonly clock?: () => Date;
  /** Waits `ms`; injected so tests need not wait for backoff. @default a timer */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Told about each dropped batch (no datum values, no key material). @default one warning line on stderr */
  readonly onError?: (error: MetricsPublishError) => void;
}

/** What `onError` receives when a batch is dropped. */
export interface MetricsPublishError {
  readonly message: string;
  /** The SDK error's name (`ThrottlingException`, `TimeoutError`, ...), or a network error's code (`ECONNREFUSED`). */
  readonly errorName: string;
  readonly droppedDatums: number;
}

export interface CloudWatchMetricsSinkStats {
  /** `PutMetricData` requests that succeeded. */
  readonly requestsSent: number;
  /** Datums those requests carried. */
  readonly datumsSent: number;
  /** Batches dropped after their retry failed (the local `MetricsPublishFailures` count). */
  readonly publishFailures: number;
  /** Observations dropped: batches that failed, series over `maxSeries`, invalid values. */
  readonly droppedDatums: number;
  /** Series buffered now, waiting for the next flush. */
  readonly bufferedSeries: number;
}

type Kind = 'counter' | 'gauge';

interface Series {
  readonly name: MetricName;
  readonly unit: MetricUnit;
  readonly kind: Kind;
  readonly dimensions: readonly { Name: string; Value: string }[];
  readonly timestamp: Date;
  count: number;
  sum: number;
  min: number;
  max: number;
}

/** An alias refused this window because the series bound was reached. */
const DROPPED = 'dropped';

interface Window {
  /** Canonical key (sorted dimensions) -> series. */
  readonly series: Map<string, Series>;
  /**
   * Key in the caller's dimension order -> the same series, so the hot path never sorts; or DROPPED.
   * Holds at most 2 × maxSeries entries.
   */
  readonly aliases: Map<string, Series | typeof DROPPED>;
}

export class CloudWatchMetricsSink implements MetricsSink {
  readonly namespace: string;
  readonly flushIntervalMs: number;
  readonly maxSeries: number;
  readonly flushTimeoutMs: number;
  private readonly client: CloudWatchClient;
  private readonly retryDelayMs: number;
  private readonly storageResolution: 1 | 60;
  private readonly clock: () => Date;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly onError: (error: MetricsPublishError) => void;
  private window: Window = newWindow();
  private timer?: ReturnType<typeof setInterval>;
  /** Flushes run one after another, so a slow send never overlaps the next. */
  private chain: Promise<void> = Promise.resolve();
  private pendingWindows = 0;
  private requestsSent = 0;
  private datumsSent = 0;
  private publishFailures = 0;
  private droppedDatums = 0;

  constructor(options: CloudWatchMetricsSinkOptions = {}) {
    this.namespace = options.namespace ?? METRICS_NAMESPACE;
    this.flushIntervalMs = nonNegativeInteger(options.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS, 'flushIntervalMs');
    this.maxSeries = Math.max(1, nonNegativeInteger(options.maxSeries ?? DEFAULT_MAX_SERIES, 'maxSeries'));
    this.retryDelayMs = nonNegativeInteger(options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS, 'retryDelayMs');
    this.flushTimeoutMs = nonNegativeInteger(options.flushTimeoutMs ?? DEFAULT_FLUSH_TIMEOUT_MS, 'flushTimeoutMs');
    this.storageResolution = options.storageResolution ?? 60;
    this.clock = options.clock ?? (() => new Date());
    // Ref'd: a flush someone awaits must keep the process alive until it ends (it is bounded anyway).
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.onError = options.onError ?? warnOnStderr;
    this.client =
      options.client ??
      new CloudWatchClient({
        maxAttempts: 1,
        requestHandler: awsRequestHandler(),
        ...(options.region !== undefined ? { region: options.region } : {}),
        ...(options.endpointUrl !== undefined ? { endpoint: options.endpointUrl } : {}),
      });
    if (this.flushIntervalMs > 0) {
      this.timer = setInterval(() => void this.flush(), this.flushIntervalMs);
      this.timer.unref();
    }
  }

  count(name: MetricName, value = 1, dimensions?: Dimensions): void {
    this.observe('counter', name, value, 'Count', dimensions);
  }

  gauge(name: MetricName, value: number, unit: MetricUnit = 'None', dimensions?: Dimensions): void {
    this.observe('gauge', name, value, unit, dimensions);
  }

  /** `count` bound to one series, which it finds once per flush window instead of on every call. */
  counter(name: MetricName, dimensions?: Dimensions): BoundCounter {
    let window: Window | undefined;
    let series: Series | undefined;
    return (value = 1) => {
      try {
        if (!acceptable(value)) {
          this.droppedDatums++;
          return;
        }
        if (window !== this.window) series = this.series('counter', name, 'Count', dimensions);
        window = this.window;
        this.accumulate(series, value);
      } catch {
        this.droppedDatums++;
      }
    };
  }

  /**
   * Sends everything buffered so far and resolves when it has been sent or dropped, at the latest after
   * `timeoutMs` (default `flushTimeoutMs`). Never rejects. Observations recorded while a flush is sending
   * go into the next window.
   */
  flush(options: FlushOptions = {}): Promise<void> {
    const timeoutMs = Math.max(0, Math.floor(Number.isFinite(options.timeoutMs) ? (options.timeoutMs as number) : this.flushTimeoutMs));
    const deadline = Date.now() + timeoutMs;
    // While CloudWatch hangs, windows waiting to be sent are capped; past the cap the current window
    // simply keeps aggregating (bounded by maxSeries) until a send completes.
    if (this.pendingWindows >= MAX_PENDING_WINDOWS) return settleBy(this.chain, deadline);
    const window = this.window;
    if (window.series.size > 0) this.window = newWindow();
    this.pendingWindows++;
    // Waits for the flush before it (flushes never overlap) only until this one's own bound: past it, this
    // window is dropped and reported at once instead of being sent late.
    const run = settleBy(this.chain, deadline)
      .then(() => this.sendWindow(window, { deadline, timeoutMs }))
      .catch(() => {
        /* sendWindow handles its own failures; this keeps the chain (and every caller) from ever rejecting */
      })
      .finally(() => {
        this.pendingWindows--;
      });
    this.chain = run;
    return run;
  }

  /** Stops the background timer and flushes. Call at shutdown; recording afterwards still buffers. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  stats(): CloudWatchMetricsSinkStats {
    return {
      requestsSent: this.requestsSent,
      datumsSent: this.datumsSent,
      publishFailures: this.publishFailures,
      droppedDatums: this.droppedDatums,
      bufferedSeries: this.window.series.size,
    };
  }

  private observe(kind: Kind, name: MetricName, value: number, unit: MetricUnit, dimensions: Dimensions | undefined): void {
    try {
      if (acceptable(value)) this.accumulate(this.series(kind, name, unit, dimensions), value);
      else this.droppedDatums++;
    } catch {
      // A metric must never fail the operation it describes.
      this.droppedDatums++;
    }
  }

  /** The window's series for these arguments, undefined when the series bound refused it. */
  private series(kind: Kind, name: MetricName, unit: MetricUnit, dimensions: Dimensions | undefined): Series | undefined {
    let alias = `${kind}\u0000${name}\u0000${unit}`;
    if (dimensions) for (const k in dimensions) alias += `\u0000${k}\u0001${dimensions[k]}`;
    const window = this.window;
    const known = window.aliases.get(alias);
    if (known !== undefined) return known === DROPPED ? undefined : known;
    const series = this.findOrCreate(kind, name, unit, dimensions);
    // A refusal is remembered too (boundedly), so a flood of new series past the bound stays cheap.
    if (series || window.aliases.size < 2 * this.maxSeries) window.aliases.set(alias, series ?? DROPPED);
    return series;
  }

  private accumulate(series: Series | undefined, value: number): void {
    if (!series) {
      this.droppedDatums++;
      return;
    }
    series.count++;
    series.sum += value;
    if (value < series.min) series.min = value;
    if (value > series.max) series.max = value;
  }

  private findOrCreate(kind: Kind, name: MetricName, unit: MetricUnit, dimensions: Dimensions | undefined): Series | undefined {
    const dims = Object.keys(dimensions ?? {})
      .sort()
      .map((k) => ({ Name: k, Value: String((dimensions as Dimensions)[k]) }));
    if (dims.length > MAX_DIMENSIONS) return undefined;
    const key = `${kind}\u0000${name}\u0000${unit}${dims.map((d) => `\u0000${d.Name}\u0001${d.Value}`).join('')}`;
    const existing = this.window.series.get(key);
    if (existing) return existing;
    if (this.window.series.size >= this.maxSeries) return undefined;
    const series: Series = { name, unit, kind, dimensions: dims, timestamp: this.clock(), count: 0, sum: 0, min: Infinity, max: -Infinity };
    this.window.series.set(key, series);
    return series;
  }

  private async sendWindow(window: Window, bound: FlushBound): Promise<void> {
    if (window.series.size === 0) return;
    const datums = [...window.series.values()].map((s) => this.toDatum(s));
    for (const batch of planBatches(datums)) {
      await this.sendBatch(batch, bound);
    }
  }

  private async sendBatch(batch: MetricDatum[], bound: FlushBound): Promise<void> {
    const command = new PutMetricDataCommand({ Namespace: this.namespace, MetricData: batch });
    let lastError: unknown;
    let why = 'failed twice';
    for (let attempt = 0; attempt < 2; attempt++) {
      if (attempt > 0) {
        const delay = Math.round(this.retryDelayMs * (0.5 + Math.random()));
        if (Date.now() + delay >= bound.deadline) {
          why = `failed and the ${bound.timeoutMs} ms flush bound left no time to retry`;
          break;
        }
        await this.sleep(delay);
      }
      try {
        await this.sendWithin(command, bound.deadline - Date.now());
        this.requestsSent++;
        this.datumsSent += batch.length;
        return;
      } catch (err) {
        lastError = err;
        if (err instanceof FlushTimeoutError) {
          why = `did not finish within the ${bound.timeoutMs} ms flush bound`;
          break;
        }
      }
    }
    this.publishFailures++;
    this.droppedDatums += batch.length;
    // Counted into the next window too, so the outage shows in CloudWatch once it is reachable again.
    this.count('MetricsPublishFailures');
    // A network failure is a plain Error whose code says what happened (ECONNREFUSED): its name alone would say nothing.
    const errorName = lastError instanceof Error ? awsErrorName(lastError) : typeof lastError;
    try {
      this.onError({ message: `PutMetricData ${why}; dropped ${batch.length} datum(s) for ${this.namespace}`, errorName, droppedDatums: batch.length });
    } catch {
      /* a failing error hook must not break flushing */
    }
  }

  /** One request, aborted at `ms`: the SDK's own timeouts are per attempt and far longer than a flush's bound. */
  private async sendWithin(command: PutMetricDataCommand, ms: number): Promise<void> {
    if (ms <= 0) throw new FlushTimeoutError();
    const abort = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        abort.abort();
        reject(new FlushTimeoutError());
      }, ms);
    });
    try {
      // The race, not only the abort: credential and endpoint resolution before the request do not see the signal.
      await Promise.race([this.client.send(command, { abortSignal: abort.signal }), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private toDatum(s: Series): MetricDatum {
    const base = {
      MetricName: s.name,
      Unit: s.unit as StandardUnit,
      Timestamp: s.timestamp,
      StorageResolution: this.storageResolution,
      ...(s.dimensions.length > 0 ? { Dimensions: s.dimensions.map((d) => ({ Name: d.Name, Value: d.Value })) } : {}),
    };
    if (s.kind === 'counter') return { ...base, Value: s.sum };
    return { ...base, StatisticValues: { SampleCount: s.count, Sum: s.sum, Minimum: s.min, Maximum: s.max } };
  }
}

/**
 * Splits datums into requests of at most `MAX_DATUMS_PER_REQUEST` datums and about
 * `REQUEST_BYTES_BUDGET` bytes each, in order.
 */
export function planBatches(datums: readonly MetricDatum[], maxDatums = MAX_DATUMS_PER_REQUEST, budgetBytes = REQUEST_BYTES_BUDGET): MetricDatum[][] {
  const batches: MetricDatum[][] = [];
  let current: MetricDatum[] = [];
  let bytes = 0;
  for (const datum of datums) {
    const size = estimateDatumBytes(datum);
    if (current.length > 0 && (current.length >= maxDatums || bytes + size > budgetBytes)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(datum);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/**
 * An upper estimate of a datum's share of a request body. Sized for the most verbose wire format the
 * SDK may use (awsQuery form encoding, where every field repeats its path such as
 * `MetricData.member.1000.Dimensions.member.30.Value=`); CBOR and JSON are smaller.
 */
export function estimateDatumBytes(datum: MetricDatum): number {
  const path = 'MetricData.member.1000.'.length;
  let bytes = path + 'MetricName='.length + encodedLength(datum.MetricName ?? '');
  bytes += 4 * (path + 40); // Unit, Timestamp, StorageResolution, Value or one statistic
  if (datum.StatisticValues) bytes += 4 * (path + 60);
  for (const d of datum.Dimensions ?? []) {
    bytes += 2 * (path + 'Dimensions.member.30.Value='.length) + encodedLength(d.Name ?? '') + encodedLength(d.Value ?? '');
  }
  return bytes;
}

/** Length after percent-encoding (worst case: every non-ASCII UTF-8 byte becomes `%XX`). */
function encodedLength(text: string): number {
  const utf8 = Buffer.byteLength(text, 'utf8');
  return utf8 === text.length ? text.length * (/^[A-Za-z0-9_.~-]*$/.test(text) ? 1 : 3) : utf8 * 3;
}

interface FlushBound {
  /** Date.now() by which the flush must be over. */
  readonly deadline: number;
  /** The bound as given, for messages. */
  readonly timeoutMs: number;
}

/** A request cut off at its flush's bound. */
class FlushTimeoutError extends Error {
  constructor() {
    super('the flush bound was reached');
    this.name = 'TimeoutError';
  }
}

/** `work`, or nothing once `deadline` passes (the timer is ref'd and cleared as soon as `work` settles). */
function settleBy(work: Promise<void>, deadline: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const bound = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
  });
  return Promise.race([work, bound]).finally(() => clearTimeout(timer));
}

/** CloudWatch rejects NaN, ±Infinity and magnitudes outside 8.5e-109..1.2e108 (other than 0). */
function acceptable(value: number): boolean {
  return Number.isFinite(value) && Math.abs(value) <= 1e108;
}

function newWindow(): Window {
  return { series: new Map(), aliases: new Map() };
}

function warnOnStderr(error: MetricsPublishError): void {
  process.stderr.write(`${JSON.stringify({ level: 'warn', source: 'CloudWatchMetricsSink', ...error })}\n`);
}

function nonNegativeInteger(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
  return value;
}
