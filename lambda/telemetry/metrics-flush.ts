/**
 * Flushing a metrics sink around each Lambda invocation (`withMetricsFlush`), whatever the sink: the rotation function's
 * EMF sink writes its lines at once, a `CloudWatchMetricsSink` sends its requests within the bound.
 */
import type { MetricsSink } from './metrics';

/** The most one flush takes by default: a few round trips, well under a Lambda's usual timeout. */
export const DEFAULT_FLUSH_TIMEOUT_MS = 5_000;

export interface MetricsFlushOptions {
  /** The most the flush after each invocation may take. @default DEFAULT_FLUSH_TIMEOUT_MS */
  readonly timeoutMs?: number;
  /**
   * With a Lambda context (one with `getRemainingTimeInMillis`), the flush also ends this many ms before
   * the invocation's own timeout, so a slow CloudWatch cannot turn a finished rotation into a timed-out
   * (and retried) invocation. @default the context is not consulted
   */
  readonly remainingTimeMarginMs?: number;
}

/**
 * Wraps a Lambda handler so the sink is flushed before each invocation returns or throws: the
 * execution environment may be frozen right after, and a frozen process runs no timers. The flush is
 * bounded by `timeoutMs` and, with `remainingTimeMarginMs`, by the invocation's remaining time.
 */
export function withMetricsFlush<E, C, R>(
  sink: MetricsSink,
  handler: (event: E, context: C) => Promise<R>,
  options: MetricsFlushOptions = {},
): (event: E, context: C) => Promise<R> {
  return async (event, context) => {
    try {
      return await handler(event, context);
    } finally {
      await sink.flush({ timeoutMs: flushBound(context, options) });
    }
  };
}

function flushBound(context: unknown, options: MetricsFlushOptions): number {
  const timeoutMs = options.timeoutMs ?? DEFAULT_FLUSH_TIMEOUT_MS;
  const clock = (context as { getRemainingTimeInMillis?: unknown } | undefined)?.getRemainingTimeInMillis;
  if (options.remainingTimeMarginMs === undefined || typeof clock !== 'function') return timeoutMs;
  const remaining = Number(clock.call(context)) - options.remainingTimeMarginMs;
  return Math.max(0, Math.min(timeoutMs, Number.isFinite(remaining) ? remaining : timeoutMs));
}
