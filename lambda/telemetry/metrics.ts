/**
 * Metrics the key manager emits (namespace `AlphaPulse/Encryption`). Sinks aggregate in memory and send
 * in batches; recording a datum never does I/O and never throws into the caller.
 */
export { METRICS_NAMESPACE } from '../contract';

export type MetricName =
  | 'KeyDerivations'
  | 'KeyRetrievalFailures'
  | 'DecryptionFailures'
  | 'KeyVersionMismatch'
  | 'RotationSucceeded'
  | 'RotationFailed'
  | 'EmergencyRotations'
  | 'KeyAgeDays'
  | 'DaysUntilRotationDue'
  | 'EnabledKeyVersions'
  /** 1 while an AWSPENDING has outlived the rotation window (the daily monitor). */
  | 'RotationStuck'
  /** 1 while the primary is inside the warning window with no rotation scheduled to meet its deadline. */
  | 'RotationDeadlineAtRisk'
  /** 1 while the storage KMS key is enabled with its own rotation on. */
  | 'StorageKeyHealthy'
  | 'MetricsPublishFailures';

export type MetricUnit = 'Count' | 'None';
export type Dimensions = Readonly<Record<string, string>>;

/** How long a flush may take. */
export interface FlushOptions {
  /**
   * The most the whole flush may take, retries included; what is not sent by then is dropped (and reported
   * by the sink), so a caller waiting on the flush never waits on an unreachable metrics service.
   * @default the sink's own bound
   */
  readonly timeoutMs?: number;
}

/** Adds `value` (default 1) to one counter series: what `count` does, with the name and dimensions bound. */
export type BoundCounter = (value?: number) => void;

export interface MetricsSink {
  /** Adds `value` (default 1) to a counter. */
  count(name: MetricName, value?: number, dimensions?: Dimensions): void;
  /**
   * Optional: `count` bound to one series, for a caller that counts it on every operation (the data path,
   * once per encrypt or decrypt). Each call must add exactly what `count(name, value, dimensions)` would;
   * a sink that can find the series once instead of on each call implements it. See `boundCounter`.
   */
  counter?(name: MetricName, dimensions?: Dimensions): BoundCounter;
  /** Records one observation of a gauge (age, days, versions). */
  gauge(name: MetricName, value: number, unit?: MetricUnit, dimensions?: Dimensions): void;
  /** Sends what is buffered, within `options.timeoutMs`. Never rejects. */
  flush(options?: FlushOptions): Promise<void>;
}

/** `sink.counter` where the sink has one, else `count` with the arguments bound. */
export function boundCounter(sink: MetricsSink, name: MetricName, dimensions?: Dimensions): BoundCounter {
  return sink.counter ? sink.counter(name, dimensions) : (value) => sink.count(name, value, dimensions);
}

export const noopMetrics: MetricsSink = { count: () => undefined, gauge: () => undefined, flush: async () => undefined };

export interface RecordedDatum {
  readonly name: MetricName;
  readonly value: number;
  readonly unit: MetricUnit;
  readonly dimensions: Dimensions;
}

/** Keeps every datum, for tests and leak scans. */
export class MemoryMetricsSink implements MetricsSink {
  readonly data: RecordedDatum[] = [];
  count(name: MetricName, value = 1, dimensions: Dimensions = {}): void {
    this.data.push({ name, value, unit: 'Count', dimensions });
  }
  gauge(name: MetricName, value: number, unit: MetricUnit = 'None', dimensions: Dimensions = {}): void {
    this.data.push({ name, value, unit, dimensions });
  }
  async flush(): Promise<void> {}
  /** Sum of a metric's values, optionally only where the given dimensions match. */
  total(name: MetricName, dimensions: Dimensions = {}): number {
    return this.data
      .filter((d) => d.name === name && Object.entries(dimensions).every(([k, v]) => d.dimensions[k] === v))
      .reduce((sum, d) => sum + d.value, 0);
  }
}
