/**
 * A `MetricsSink` for Lambda that writes its metrics to the function's log in CloudWatch's embedded metric format
 * (EMF), rather than calling `PutMetricData`. Lambda sends everything the function writes to standard output to its
 * CloudWatch Logs log group, and CloudWatch Logs extracts a metric from every log event that follows the EMF
 * specification (CloudWatch User Guide: "Specification: Embedded metric format", "Using the embedded metric format
 * with Lambda"). So a flush is one synchronous write per dimension set: no request, no retry, no throttling, no
 * CloudWatch client in the function's bundle (about 20 KB, 5% of its cold-start load), and no `cloudwatch:
 * PutMetricData` permission for the function. The lines are written with `process.stdout.write`, not `console.log`,
 * so Lambda's JSON log format keeps each one a log event of its own that is exactly the EMF document.
 *
 * Aggregation is the CloudWatch sink's: counters are summed per (metric, unit, dimension set) until the flush; a gauge
 * keeps its observations (the first 100 of a flush window, EMF's limit on values for one metric) and CloudWatch
 * extracts each one. Each flushed document holds one dimension set and at most 100 metrics (EMF's limit per
 * directive). A series whose dimension set has more than 30 dimensions, a value that is not a string, or a dimension
 * named `_aws` or after the metric cannot be spelled in EMF and is dropped and counted in `stats().droppedDatums`, as
 * are values that are not finite. Recording never throws, and neither does a flush: a failing write is counted in
 * `stats().writeFailures` and the documents it held are dropped.
 */
import { type BoundCounter, type Dimensions, METRICS_NAMESPACE, type MetricName, type MetricsSink, type MetricUnit } from './metrics';

/** EMF's limit on metrics in one directive, and on values of one metric in one document. */
export const EMF_MAX_METRICS = 100;
export const EMF_MAX_VALUES = 100;
/** EMF's limit on dimensions in one dimension set. */
export const EMF_MAX_DIMENSIONS = 30;
/** Distinct series buffered per flush window (a Lambda invocation emits a few dozen). */
export const DEFAULT_EMF_MAX_SERIES = 1_000;

export interface EmfMetricsSinkOptions {
  /** @default 'AlphaPulse/Encryption' */
  readonly namespace?: string;
  /** Writes one line (a document and its newline). @default `process.stdout.write` */
  readonly write?: (line: string) => void;
  /** Milliseconds since the epoch, for each document's `Timestamp`. @default Date.now */
  readonly now?: () => number;
  /** Distinct series kept per flush window; observations of new series past it are dropped and counted. @default 1000 */
  readonly maxSeries?: number;
}

export interface EmfMetricsSinkStats {
  readonly documentsWritten: number;
  readonly writeFailures: number;
  readonly droppedDatums: number;
  readonly bufferedSeries: number;
}

interface Series {
  readonly name: MetricName;
  readonly unit: MetricUnit;
  readonly dimensions: Dimensions;
  /** The dimension names, sorted: the document's dimension set. */
  readonly dimensionNames: readonly string[];
  /** The dimension set with its values, as one string: series with the same one share a document. */
  readonly dimensionKey: string;
  /** The counter's sum, or the gauge's observations (at least one: a series is made for its first). */
  readonly values: number[];
  readonly kind: 'counter' | 'gauge';
}

/** One EMF document's worth: a dimension set and its metrics. */
interface Group {
  readonly first: Series;
  readonly series: Series[];
}

export class EmfMetricsSink implements MetricsSink {
  readonly namespace: string;
  private readonly write: (line: string) => void;
  private readonly now: () => number;
  private readonly maxSeries: number;
  private window = new Map<string, Series>();
  private documentsWritten = 0;
  private writeFailures = 0;
  private droppedDatums = 0;

  constructor(options: EmfMetricsSinkOptions = {}) {
    this.namespace = options.namespace ?? METRICS_NAMESPACE;
    this.write = options.write ?? ((line) => void process.stdout.write(line));
    this.now = options.now ?? Date.now;
    this.maxSeries = Math.max(1, Math.floor(options.maxSeries ?? DEFAULT_EMF_MAX_SERIES));
  }

  count(name: MetricName, value = 1, dimensions?: Dimensions): void {
    this.observe('counter', name, value, 'Count', dimensions);
  }

  /** `count` bound to one series, which it finds once per flush window instead of on every call (as the CloudWatch sink's). */
  counter(name: MetricName, dimensions?: Dimensions): BoundCounter {
    let window: Map<string, Series> | undefined;
    let series: Series | undefined;
    return (value = 1) => {
      try {
        if (!Number.isFinite(value)) {
          this.droppedDatums++;
          return;
        }
        if (window !== this.window) series = this.series('counter', name, 'Count', dimensions ?? {});
        window = this.window;
        this.add(series, value);
      } catch {
        this.droppedDatums++;
      }
    };
  }

  gauge(name: MetricName, value: number, unit: MetricUnit = 'None', dimensions?: Dimensions): void {
    this.observe('gauge', name, value, unit, dimensions);
  }

  /** Writes every buffered series as EMF documents, one line each, and starts a new window. Never rejects. */
  flush(): Promise<void> {
    const window = this.window;
    this.window = new Map();
    for (const group of groups(window)) {
      for (let at = 0; at < group.series.length; at += EMF_MAX_METRICS) {
        const line = `${JSON.stringify(this.document(group.first, group.series.slice(at, at + EMF_MAX_METRICS)))}\n`;
        try {
          this.write(line);
          this.documentsWritten++;
        } catch {
          // A metric must never fail the invocation it describes.
          this.writeFailures++;
        }
      }
    }
    return Promise.resolve();
  }

  stats(): EmfMetricsSinkStats {
    return { documentsWritten: this.documentsWritten, writeFailures: this.writeFailures, droppedDatums: this.droppedDatums, bufferedSeries: this.window.size };
  }

  private observe(kind: Series['kind'], name: MetricName, value: number, unit: MetricUnit, dimensions: Dimensions | undefined): void {
    try {
      this.add(Number.isFinite(value) ? this.series(kind, name, unit, dimensions ?? {}) : undefined, value);
    } catch {
      this.droppedDatums++;
    }
  }

  /** Adds a finite `value` to `series`; undefined (refused) and a gauge's 101st value count as dropped. */
  private add(series: Series | undefined, value: number): void {
    if (!series) this.droppedDatums++;
    else if (series.kind === 'counter') series.values[0] += value;
    else if (series.values.length < EMF_MAX_VALUES) series.values.push(value);
    else this.droppedDatums++;
  }

  /** The window's series for these arguments; undefined when EMF cannot spell it or the series bound refused it. */
  private series(kind: Series['kind'], name: MetricName, unit: MetricUnit, dimensions: Dimensions): Series | undefined {
    const dimensionNames = Object.keys(dimensions).sort();
    const dimensionKey = dimensionKeyOf(dimensions, dimensionNames);
    const key = `${kind}\u0000${name}\u0000${unit}\u0000${dimensionKey}`;
    const found = this.window.get(key);
    if (found) return found;
    if (this.window.size >= this.maxSeries || !spellable(name, dimensions, dimensionNames)) return undefined;
    const created: Series = { name, unit, dimensions, dimensionNames, dimensionKey, values: kind === 'counter' ? [0] : [], kind };
    this.window.set(key, created);
    return created;
  }

  /** The document of `series`, which all have the dimension set of `first`. */
  private document(first: Series, series: readonly Series[]): Record<string, unknown> {
    const doc: Record<string, unknown> = {
      _aws: {
        Timestamp: this.now(),
        CloudWatchMetrics: [{ Namespace: this.namespace, Dimensions: [first.dimensionNames], Metrics: series.map((s) => ({ Name: s.name, Unit: s.unit })) }],
      },
      ...first.dimensions,
    };
    for (const s of series) doc[s.name] = s.values.length === 1 ? s.values[0] : s.values;
    return doc;
  }
}

/**
 * EMF spells a dimension as a member of the document beside the metrics and `_aws`: at most 30 of them, string values,
 * and none named `_aws` or after the metric itself.
 */
function spellable(name: MetricName, dimensions: Dimensions, keys: readonly string[]): boolean {
  return keys.length <= EMF_MAX_DIMENSIONS && keys.every((k) => k !== '_aws' && k !== name && typeof dimensions[k] === 'string');
}

function dimensionKeyOf(dimensions: Dimensions, sortedKeys: readonly string[]): string {
  let key = '';
  for (const k of sortedKeys) key += `${k}\u0001${dimensions[k]}\u0000`;
  return key;
}

/**
 * The window's series by dimension set, each metric name at most once per document (a metric is a member of the
 * document): a second series of the same name and dimensions (the other unit or kind) goes into a document of its own.
 */
function groups(window: ReadonlyMap<string, Series>): Group[] {
  const out: Group[] = [];
  const byDimensions = new Map<string, Group[]>();
  for (const series of window.values()) {
    let candidates = byDimensions.get(series.dimensionKey);
    if (!candidates) byDimensions.set(series.dimensionKey, (candidates = []));
    let group = candidates.find((g) => !g.series.some((s) => s.name === series.name));
    if (!group) {
      group = { first: series, series: [] };
      candidates.push(group);
      out.push(group);
    }
    group.series.push(series);
  }
  return out;
}
