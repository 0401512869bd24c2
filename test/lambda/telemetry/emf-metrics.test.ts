import { EMF_MAX_METRICS, EMF_MAX_VALUES, EmfMetricsSink } from '../../../lambda/telemetry/emf-metrics';
import type { MetricName } from '../../../lambda/telemetry/metrics';
import { CloudWatchModel } from '../../support/aws/cloudwatch';

const NOW = Date.parse('2026-12-02T03:00:00Z');

function sink(options: { maxSeries?: number; write?: (line: string) => void } = {}) {
  const lines: string[] = [];
  const s = new EmfMetricsSink({ namespace: 'AlphaPulse/Encryption', now: () => NOW, write: options.write ?? ((line) => lines.push(line)), ...(options.maxSeries ? { maxSeries: options.maxSeries } : {}) });
  return { s, lines, docs: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

/** What CloudWatch Logs extracts from the lines (the stand-in models the EMF specification). */
function extracted(lines: readonly string[]): CloudWatchModel {
  const cw = new CloudWatchModel({ clock: () => new Date(NOW) });
  for (const line of lines) cw.extractEmf(line.replace(/\n$/, ''));
  return cw;
}

describe('EmfMetricsSink', () => {
  it('writes one embedded-metric-format line per dimension set, which CloudWatch Logs extracts as the metrics', async () => {
    const { s, lines, docs } = sink();
    s.count('RotationSucceeded');
    s.count('RotationSucceeded');
    s.count('KeyDerivations', 3, { KeyVersion: '2', Context: 'rotation_canary' });
    const bound = s.counter('KeyDerivations', { Context: 'rotation_canary', KeyVersion: '2' });
    bound();
    s.gauge('KeyAgeDays', 12.5, 'None');
    await s.flush();

    expect(lines).toHaveLength(2);
    expect(lines.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n'))).toBe(true);
    expect(docs()[0]).toEqual({
      _aws: { Timestamp: NOW, CloudWatchMetrics: [{ Namespace: 'AlphaPulse/Encryption', Dimensions: [[]], Metrics: [{ Name: 'RotationSucceeded', Unit: 'Count' }, { Name: 'KeyAgeDays', Unit: 'None' }] }] },
      RotationSucceeded: 2,
      KeyAgeDays: 12.5,
    });
    const cw = extracted(lines);
    expect(cw.emfRejected).toBe(0);
    expect(cw.sum('AlphaPulse/Encryption', 'RotationSucceeded', {})).toBe(2);
    // The same dimensions in any order are one series.
    expect(cw.sum('AlphaPulse/Encryption', 'KeyDerivations', { KeyVersion: '2', Context: 'rotation_canary' })).toBe(4);
    expect(cw.sum('AlphaPulse/Encryption', 'KeyAgeDays', {})).toBe(12.5);
    expect(s.stats()).toEqual({ documentsWritten: 2, writeFailures: 0, droppedDatums: 0, bufferedSeries: 0 });
  });

  it('a bound counter adds what count would, window after window, and a refused series stays refused for it', async () => {
    const { s, lines } = sink({ maxSeries: 1 });
    const bound = s.counter('KeyDerivations', { Context: 'a' });
    bound();
    bound(2);
    s.count('KeyDerivations', 1, { Context: 'a' });
    const refused = s.counter('KeyDerivations', { Context: 'b' });
    refused();
    bound(Number.NaN);
    await s.flush();
    bound(5);
    await s.flush();
    expect(lines).toHaveLength(2);
    expect(lines.map((l) => (JSON.parse(l) as { KeyDerivations: number }).KeyDerivations)).toEqual([4, 5]);
    expect(s.stats().droppedDatums).toBe(2);
  });

  it('writes nothing when nothing was recorded, and each flush only what came after the last', async () => {
    const { s, lines } = sink();
    await s.flush();
    expect(lines).toEqual([]);
    s.count('RotationFailed');
    await s.flush();
    await s.flush();
    expect(lines).toHaveLength(1);
    expect(extracted(lines).sum('AlphaPulse/Encryption', 'RotationFailed')).toBe(1);
  });

  it('keeps each observation of a gauge, up to the 100 values EMF allows for one metric, and counts the rest dropped', async () => {
    const { s, lines, docs } = sink();
    for (let i = 0; i < EMF_MAX_VALUES + 5; i++) s.gauge('EnabledKeyVersions', i);
    await s.flush();
    expect((docs()[0].EnabledKeyVersions as number[]).length).toBe(EMF_MAX_VALUES);
    expect(extracted(lines).emfRejected).toBe(0);
    expect(s.stats().droppedDatums).toBe(5);
  });

  it('splits a dimension set with more than 100 metrics into documents of at most 100', async () => {
    const { s, lines, docs } = sink();
    // More names than the metric union has, to reach EMF's limit of 100 metrics in one directive.
    for (let i = 0; i < EMF_MAX_METRICS + 1; i++) s.count(`Metric${i}` as MetricName, i, { Context: 'c' });
    await s.flush();
    const counts = docs().map((d) => (d._aws as { CloudWatchMetrics: { Metrics: unknown[] }[] }).CloudWatchMetrics[0].Metrics.length);
    expect(counts).toEqual([EMF_MAX_METRICS, 1]);
    const cw = extracted(lines);
    expect(cw.emfRejected).toBe(0);
    expect(cw.sum('AlphaPulse/Encryption', 'Metric100', { Context: 'c' })).toBe(100);
    expect(cw.datums()).toHaveLength(EMF_MAX_METRICS + 1);
  });

  it('puts a second series of the same name and dimensions (another unit or kind) into a document of its own', async () => {
    const { s, lines } = sink();
    s.count('KeyAgeDays');
    s.gauge('KeyAgeDays', 30, 'None');
    await s.flush();
    expect(lines).toHaveLength(2);
    const cw = extracted(lines);
    expect(cw.emfRejected).toBe(0);
    expect(cw.sum('AlphaPulse/Encryption', 'KeyAgeDays')).toBe(31);
  });

  it('drops what EMF cannot spell, counted, and writes the rest: 31 dimensions, a dimension named _aws or after the metric, a non-finite value', async () => {
    const { s, lines } = sink();
    const many = Object.fromEntries(Array.from({ length: 31 }, (_, i) => [`D${i}`, 'x']));
    s.count('KeyDerivations', 1, many);
    s.count('KeyDerivations', 1, { _aws: 'x' });
    s.count('KeyDerivations', 1, { KeyDerivations: 'x' });
    s.gauge('KeyAgeDays', Number.NaN);
    s.count('RotationSucceeded');
    await s.flush();
    expect(s.stats().droppedDatums).toBe(4);
    expect(lines).toHaveLength(1);
    const cw = extracted(lines);
    expect(cw.emfRejected).toBe(0);
    expect(cw.datums().map((d) => d.MetricName)).toEqual(['RotationSucceeded']);
  });

  it('never throws: a failing write is counted and the flush still resolves', async () => {
    const { s } = sink({
      write: () => {
        throw new Error('EPIPE');
      },
    });
    s.count('RotationFailed');
    await expect(s.flush()).resolves.toBeUndefined();
    expect(s.stats()).toMatchObject({ documentsWritten: 0, writeFailures: 1 });
  });

  it('holds at most maxSeries distinct series per flush window; observations of new series past it are dropped and counted', async () => {
    const { s, lines } = sink({ maxSeries: 2 });
    s.count('KeyDerivations', 1, { Context: 'a' });
    s.count('KeyDerivations', 1, { Context: 'b' });
    s.count('KeyDerivations', 1, { Context: 'c' });
    s.count('KeyDerivations', 1, { Context: 'a' });
    await s.flush();
    expect(s.stats().droppedDatums).toBe(1);
    expect(extracted(lines).sum('AlphaPulse/Encryption', 'KeyDerivations')).toBe(3);
  });

  it('writes to stdout by default, with process.stdout.write (one log event per line under Lambda\'s JSON log format)', async () => {
    const write = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      const s = new EmfMetricsSink({ namespace: 'AlphaPulse/Encryption/test' });
      s.count('RotationSucceeded');
      await s.flush();
      expect(write).toHaveBeenCalledTimes(1);
      expect(JSON.parse(String(write.mock.calls[0][0]))).toMatchObject({ RotationSucceeded: 1, _aws: { CloudWatchMetrics: [{ Namespace: 'AlphaPulse/Encryption/test' }] } });
    } finally {
      write.mockRestore();
    }
  });
});
