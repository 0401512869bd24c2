import { CloudWatchClient, type MetricDatum, PutMetricDataCommand, type PutMetricDataCommandInput } from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import {
  CloudWatchMetricsSink,
  type CloudWatchMetricsSinkOptions,
  estimateDatumBytes,
  MAX_DATUMS_PER_REQUEST,
  MAX_PENDING_WINDOWS,
  type MetricsPublishError,
  planBatches,
  REQUEST_BYTES_BUDGET,
  withMetricsFlush,
} from '../../../lambda/telemetry/cloudwatch-metrics';
import { AWS_REQUEST_HANDLER } from '../../../lambda/stores/aws-client-options';
import { METRICS_NAMESPACE } from '../../../lambda/telemetry/metrics';
import { requestHandlerOptions } from '../../support/request-handler';

const cw = mockClient(CloudWatchClient);
const NOW = new Date('2026-03-01T12:00:00.000Z');

function sink(options: CloudWatchMetricsSinkOptions = {}): { sink: CloudWatchMetricsSink; errors: MetricsPublishError[]; sleeps: number[] } {
  const errors: MetricsPublishError[] = [];
  const sleeps: number[] = [];
  const s = new CloudWatchMetricsSink({
    client: new CloudWatchClient({ region: 'eu-west-1' }),
    flushIntervalMs: 0,
    clock: () => NOW,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    onError: (e) => errors.push(e),
    ...options,
  });
  return { sink: s, errors, sleeps };
}

function sent(): PutMetricDataCommandInput[] {
  return cw.commandCalls(PutMetricDataCommand).map((c) => c.args[0].input);
}

function allDatums(): MetricDatum[] {
  return sent().flatMap((input) => input.MetricData ?? []);
}

beforeEach(() => {
  cw.reset();
  cw.on(PutMetricDataCommand).resolves({});
});

describe('CloudWatchMetricsSink aggregation', () => {
  it('sums a counter into one datum per metric and dimension set', async () => {
    const { sink: s } = sink();
    for (let i = 0; i < 100_000; i++) s.count('KeyDerivations', 1, { KeyVersion: '3', Context: i % 2 ? 'trading_data' : 'user_pii' });
    await s.flush();

    expect(sent()).toHaveLength(1);
    expect(sent()[0].Namespace).toBe(METRICS_NAMESPACE);
    const datums = allDatums();
    expect(datums).toHaveLength(2);
    expect(datums).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          MetricName: 'KeyDerivations',
          Unit: 'Count',
          Value: 50_000,
          Timestamp: NOW,
          Dimensions: [
            { Name: 'Context', Value: 'trading_data' },
            { Name: 'KeyVersion', Value: '3' },
          ],
        }),
        expect.objectContaining({ MetricName: 'KeyDerivations', Value: 50_000, Dimensions: [{ Name: 'Context', Value: 'user_pii' }, { Name: 'KeyVersion', Value: '3' }] }),
      ]),
    );
  });

  it('treats the same dimensions given in a different order as one series', async () => {
    const { sink: s } = sink();
    s.count('KeyDerivations', 1, { KeyVersion: '1', Context: 'user_pii' });
    s.count('KeyDerivations', 2, { Context: 'user_pii', KeyVersion: '1' });
    await s.flush();
    expect(allDatums()).toEqual([expect.objectContaining({ Value: 3 })]);
  });

  it('keeps a gauge as a statistic set (SampleCount, Sum, Minimum, Maximum) with its unit', async () => {
    const { sink: s } = sink();
    s.gauge('KeyAgeDays', 10);
    s.gauge('KeyAgeDays', 4);
    s.gauge('KeyAgeDays', 7);
    s.gauge('EnabledKeyVersions', 2, 'Count');
    await s.flush();
    expect(allDatums()).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ MetricName: 'KeyAgeDays', Unit: 'None', StatisticValues: { SampleCount: 3, Sum: 21, Minimum: 4, Maximum: 10 } }),
        expect.objectContaining({ MetricName: 'EnabledKeyVersions', Unit: 'Count', StatisticValues: { SampleCount: 1, Sum: 2, Minimum: 2, Maximum: 2 } }),
      ]),
    );
    expect(allDatums().find((d) => d.MetricName === 'KeyAgeDays')).not.toHaveProperty('Dimensions');
  });

  it('sends nothing when nothing was recorded, and starts a fresh window after each flush', async () => {
    const { sink: s } = sink();
    await s.flush();
    expect(sent()).toHaveLength(0);
    s.count('DecryptionFailures');
    await s.flush();
    await s.flush();
    s.count('DecryptionFailures', 4);
    await s.flush();
    expect(sent().map((i) => i.MetricData?.[0].Value)).toEqual([1, 4]);
  });

  it('drops non-finite values instead of sending a request CloudWatch would reject', async () => {
    const { sink: s } = sink();
    s.gauge('KeyAgeDays', Number.NaN);
    s.gauge('KeyAgeDays', Infinity);
    s.count('KeyDerivations', 1);
    await s.flush();
    expect(allDatums()).toEqual([expect.objectContaining({ MetricName: 'KeyDerivations' })]);
    expect(s.stats().droppedDatums).toBe(2);
  });

  it('uses the configured namespace and storage resolution', async () => {
    const { sink: s } = sink({ namespace: 'Test/Ns', storageResolution: 1 });
    s.count('RotationSucceeded');
    await s.flush();
    expect(sent()[0].Namespace).toBe('Test/Ns');
    expect(allDatums()[0].StorageResolution).toBe(1);
  });
});

describe('CloudWatchMetricsSink batching', () => {
  it('sends at most 1,000 datums per PutMetricData call', async () => {
    const { sink: s } = sink();
    for (let i = 0; i < 2_500; i++) s.count('KeyDerivations', 1, { KeyVersion: '1', Context: `ctx_${i}` });
    await s.flush();
    expect(sent().map((i) => i.MetricData?.length)).toEqual([1_000, 1_000, 500]);
    expect(s.stats()).toMatchObject({ requestsSent: 3, datumsSent: 2_500, bufferedSeries: 0 });
  });

  it('splits requests that would pass the 1 MB body limit before reaching 1,000 datums', () => {
    const bigDimensions = Array.from({ length: 30 }, (_, i) => ({ Name: `Dimension${i}`, Value: 'v'.repeat(1_000) }));
    const datums: MetricDatum[] = Array.from({ length: 100 }, () => ({ MetricName: 'KeyDerivations', Value: 1, Dimensions: bigDimensions }));
    const batches = planBatches(datums);
    expect(batches.length).toBeGreaterThan(1);
    for (const batch of batches) {
      expect(batch.length).toBeLessThanOrEqual(MAX_DATUMS_PER_REQUEST);
      expect(batch.reduce((n, d) => n + estimateDatumBytes(d), 0)).toBeLessThanOrEqual(REQUEST_BYTES_BUDGET);
    }
    expect(batches.flat()).toHaveLength(100);
  });

  it('estimates at least the JSON size of a datum, so the budget is conservative', () => {
    const datum: MetricDatum = { MetricName: 'KeyDerivations', Value: 1, Unit: 'Count', Timestamp: NOW, Dimensions: [{ Name: 'Context', Value: 'é'.repeat(200) }] };
    expect(estimateDatumBytes(datum)).toBeGreaterThan(Buffer.byteLength(JSON.stringify(datum)));
  });

  it('flushes from an unref\'d background timer, once per interval', async () => {
    jest.useFakeTimers();
    try {
      const { sink: s } = sink({ flushIntervalMs: 60_000 });
      for (let i = 0; i < 1_000; i++) s.count('KeyDerivations', 1, { KeyVersion: '1', Context: 'trading_data' });
      await jest.advanceTimersByTimeAsync(59_999);
      expect(sent()).toHaveLength(0);
      await jest.advanceTimersByTimeAsync(1);
      expect(sent()).toHaveLength(1);
      s.count('KeyDerivations');
      await jest.advanceTimersByTimeAsync(60_000);
      expect(sent()).toHaveLength(2);
      await jest.advanceTimersByTimeAsync(60_000);
      expect(sent()).toHaveLength(2);
      await s.close();
      s.count('KeyDerivations');
      await jest.advanceTimersByTimeAsync(120_000);
      expect(sent()).toHaveLength(2);
    } finally {
      jest.useRealTimers();
    }
  });

  it('does not keep the process alive with its timer', () => {
    const spy = jest.spyOn(global, 'setInterval');
    try {
      const { sink: s } = sink({ flushIntervalMs: 1_000 });
      const timer = spy.mock.results[0].value as NodeJS.Timeout;
      expect(timer.hasRef()).toBe(false);
      void s.close();
    } finally {
      spy.mockRestore();
    }
  });

  it('close() sends what is buffered', async () => {
    const { sink: s } = sink({ flushIntervalMs: 60_000 });
    s.count('RotationSucceeded');
    await s.close();
    expect(allDatums()).toEqual([expect.objectContaining({ MetricName: 'RotationSucceeded', Value: 1 })]);
  });

  it('runs flushes one after another, and data recorded during a send goes into the next request', async () => {
    let release!: () => void;
    cw.on(PutMetricDataCommand).resolvesOnce(new Promise((resolve) => (release = () => resolve({})))).resolves({});
    const { sink: s } = sink();
    s.count('KeyDerivations', 1);
    const first = s.flush();
    s.count('KeyDerivations', 5);
    const second = s.flush();
    await new Promise((resolve) => setImmediate(resolve));
    expect(sent()).toHaveLength(1);
    release();
    await Promise.all([first, second]);
    expect(sent().map((i) => i.MetricData?.[0].Value)).toEqual([1, 5]);
  });
});

describe('CloudWatchMetricsSink failures', () => {
  it('retries a failed request once after a backoff, and then succeeds', async () => {
    cw.on(PutMetricDataCommand).rejectsOnce(Object.assign(new Error('slow down'), { name: 'ThrottlingException' })).resolves({});
    const { sink: s, errors, sleeps } = sink({ retryDelayMs: 200 });
    s.count('KeyDerivations', 7);
    await s.flush();
    expect(sent()).toHaveLength(2);
    expect(sent()[1].MetricData).toEqual(sent()[0].MetricData);
    expect(sleeps).toHaveLength(1);
    expect(sleeps[0]).toBeGreaterThanOrEqual(100);
    expect(sleeps[0]).toBeLessThanOrEqual(300);
    expect(errors).toEqual([]);
    expect(s.stats()).toMatchObject({ requestsSent: 1, publishFailures: 0, droppedDatums: 0 });
  });

  it('drops the batch after the retry fails, counts MetricsPublishFailures and never rejects', async () => {
    cw.on(PutMetricDataCommand).rejects(Object.assign(new Error('down'), { name: 'ServiceUnavailable' }));
    const { sink: s, errors } = sink();
    for (let i = 0; i < 1_500; i++) s.count('KeyDerivations', 1, { KeyVersion: '1', Context: `ctx_${i}` });
    await expect(s.flush()).resolves.toBeUndefined();
    expect(sent()).toHaveLength(4);
    expect(s.stats()).toMatchObject({ requestsSent: 0, publishFailures: 2, droppedDatums: 1_500, bufferedSeries: 1 });
    expect(errors).toEqual([
      { message: expect.stringContaining('dropped 1000 datum(s)'), errorName: 'ServiceUnavailable', droppedDatums: 1_000 },
      { message: expect.stringContaining('dropped 500 datum(s)'), errorName: 'ServiceUnavailable', droppedDatums: 500 },
    ]);
  });

  it("names a network failure by its code (ECONNREFUSED), not by the plain Error's name", async () => {
    cw.on(PutMetricDataCommand).rejects(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }));
    const { sink: s, errors } = sink();
    s.count('KeyDerivations');
    await s.flush();
    expect(errors).toEqual([expect.objectContaining({ errorName: 'ECONNREFUSED', droppedDatums: 1 })]);
  });

  it('reports the publish failures to CloudWatch once it is reachable again', async () => {
    cw.on(PutMetricDataCommand).rejectsOnce(new Error('down')).rejectsOnce(new Error('down')).resolves({});
    const { sink: s } = sink();
    s.count('KeyDerivations');
    await s.flush();
    await s.flush();
    expect(sent()[2].MetricData).toEqual([expect.objectContaining({ MetricName: 'MetricsPublishFailures', Value: 1 })]);
  });

  it('never throws into the caller when recording, even from a throwing error hook', async () => {
    cw.on(PutMetricDataCommand).rejects(new Error('down'));
    const { sink: s } = sink({
      onError: () => {
        throw new Error('hook broke');
      },
    });
    expect(() => s.count('KeyDerivations', 1, { KeyVersion: '1', Context: 'x' })).not.toThrow();
    await expect(s.flush()).resolves.toBeUndefined();
    await expect(s.close()).resolves.toBeUndefined();
  });

  it('bounds the buffer: series beyond maxSeries are dropped and counted, existing ones keep aggregating', async () => {
    const { sink: s } = sink({ maxSeries: 100 });
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 1_000; i++) s.count('KeyDerivations', 1, { KeyVersion: '1', Context: `ctx_${i}` });
    }
    expect(s.stats()).toMatchObject({ bufferedSeries: 100, droppedDatums: 2_700 });
    await s.flush();
    const datums = allDatums();
    expect(datums).toHaveLength(100);
    expect(datums.every((d) => d.Value === 3)).toBe(true);
  });

  it('while CloudWatch hangs, queues at most MAX_PENDING_WINDOWS windows and keeps aggregating the rest', async () => {
    let release!: () => void;
    cw.on(PutMetricDataCommand).resolvesOnce(new Promise((resolve) => (release = () => resolve({})))).resolves({});
    const { sink: s } = sink();
    const flushes: Promise<void>[] = [];
    for (let i = 0; i < 10; i++) {
      s.count('KeyDerivations', 1);
      flushes.push(s.flush());
    }
    expect(s.stats().bufferedSeries).toBe(1);
    release();
    await Promise.all(flushes);
    await s.flush();
    expect(sent().map((i) => i.MetricData?.[0].Value)).toEqual([1, 1, 8]);
    expect(MAX_PENDING_WINDOWS).toBe(2);
  });

  it('ends a flush at its bound while CloudWatch never answers, and reports the dropped batch without its values', async () => {
    cw.on(PutMetricDataCommand).callsFake(() => new Promise(() => undefined));
    const { sink: s, errors } = sink();
    s.gauge('KeyAgeDays', 4242);
    const started = Date.now();
    await s.flush({ timeoutMs: 200 });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(errors).toEqual([{ message: 'PutMetricData did not finish within the 200 ms flush bound; dropped 1 datum(s) for AlphaPulse/Encryption', errorName: 'TimeoutError', droppedDatums: 1 }]);
    expect(JSON.stringify(errors)).not.toContain('4242');
    expect(s.stats()).toMatchObject({ publishFailures: 1, droppedDatums: 1 });
  });

  it('bounds every flush by flushTimeoutMs when the caller gives no bound', async () => {
    cw.on(PutMetricDataCommand).callsFake(() => new Promise(() => undefined));
    const { sink: s, errors } = sink({ flushTimeoutMs: 150 });
    s.count('RotationSucceeded');
    const started = Date.now();
    await s.flush();
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(errors).toHaveLength(1);
  });

  it('does not retry when the backoff would outlast the bound', async () => {
    cw.on(PutMetricDataCommand).rejects(Object.assign(new Error('expired'), { name: 'ExpiredTokenException' }));
    const { sink: s, errors, sleeps } = sink({ retryDelayMs: 10_000 });
    s.count('RotationFailed');
    await s.flush({ timeoutMs: 1_000 });
    expect(sent()).toHaveLength(1);
    expect(sleeps).toEqual([]);
    expect(errors).toEqual([expect.objectContaining({ message: expect.stringContaining('failed and the 1000 ms flush bound left no time to retry'), errorName: 'ExpiredTokenException' })]);
  });

  it('refuses a metric with more than 30 dimensions (CloudWatch would reject the request)', async () => {
    const { sink: s } = sink();
    const dims = Object.fromEntries(Array.from({ length: 31 }, (_, i) => [`D${i}`, 'x']));
    s.count('KeyDerivations', 1, dims);
    await s.flush();
    expect(sent()).toHaveLength(0);
    expect(s.stats().droppedDatums).toBe(1);
  });
});

describe('CloudWatchMetricsSink construction', () => {
  it('rejects a negative or fractional flush interval', () => {
    expect(() => new CloudWatchMetricsSink({ client: new CloudWatchClient({}), flushIntervalMs: -1 })).toThrow('flushIntervalMs must be a non-negative integer, got -1');
    expect(() => new CloudWatchMetricsSink({ client: new CloudWatchClient({}), flushIntervalMs: 1.5 })).toThrow(RangeError);
  });

  it('builds its own client from region and endpoint when none is given', async () => {
    const s = new CloudWatchMetricsSink({ region: 'eu-central-1', endpointUrl: 'http://localhost:4566', flushIntervalMs: 0, onError: () => undefined });
    s.count('KeyDerivations');
    await s.flush();
    expect(sent()).toHaveLength(1);
    const client = cw.commandCalls(PutMetricDataCommand)[0].thisValue as CloudWatchClient;
    expect(await requestHandlerOptions(client)).toMatchObject(AWS_REQUEST_HANDLER);
  });
});

describe('withMetricsFlush', () => {
  it('flushes after the handler returns and after it throws', async () => {
    const { sink: s } = sink();
    const ok = withMetricsFlush(s, async (event: { n: number }) => {
      s.count('RotationSucceeded', event.n);
      return 'done';
    });
    await expect(ok({ n: 2 }, {})).resolves.toBe('done');
    expect(allDatums()).toEqual([expect.objectContaining({ MetricName: 'RotationSucceeded', Value: 2 })]);

    const failing = withMetricsFlush(s, async () => {
      s.count('RotationFailed');
      throw new Error('rotation broke');
    });
    await expect(failing({}, {})).rejects.toThrow('rotation broke');
    expect(allDatums()).toContainEqual(expect.objectContaining({ MetricName: 'RotationFailed', Value: 1 }));
  });

  it('ends the flush before the Lambda times out: within its remaining time less the margin', async () => {
    cw.on(PutMetricDataCommand).callsFake(() => new Promise(() => undefined));
    const { sink: s, errors } = sink();
    const handler = withMetricsFlush(
      s,
      async () => {
        s.count('RotationSucceeded');
        return 'rotated';
      },
      { timeoutMs: 30_000, remainingTimeMarginMs: 1_000 },
    );
    const started = Date.now();
    await expect(handler({}, { getRemainingTimeInMillis: () => 1_250 })).resolves.toBe('rotated');
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(errors).toEqual([expect.objectContaining({ message: expect.stringContaining('within the 250 ms flush bound') })]);
  });
});
