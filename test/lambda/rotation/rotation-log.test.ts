import { appendRotationLog, EMPTY_ROTATION_LOG, MAX_ROTATION_LOG_ENTRIES, parseRotationLog, type RotationLog, type RotationLogEntry, serializeRotationLog } from '../../../lambda/rotation/rotation-log';

const entry = (id: string, over: Partial<RotationLogEntry> = {}): RotationLogEntry => ({
  rotationId: id,
  fromVersion: 1,
  toVersion: 2,
  startedAt: '2026-04-01T00:00:00.000Z',
  finishedAt: '2026-04-01T00:00:01.000Z',
  outcome: 'success',
  trigger: 'schedule',
  ...over,
});

describe('parseRotationLog', () => {
  it('reads no value as the empty log', () => {
    expect(parseRotationLog(undefined)).toEqual(EMPTY_ROTATION_LOG);
    expect(parseRotationLog('')).toEqual(EMPTY_ROTATION_LOG);
  });
  it('round-trips', () => {
    const log = appendRotationLog(EMPTY_ROTATION_LOG, entry('a'));
    expect(parseRotationLog(serializeRotationLog(log))).toEqual(log);
  });
  it('names the bad field of an invalid log', () => {
    expect(() => parseRotationLog('not json')).toThrow(/\(document\) is not valid JSON/);
    expect(() => parseRotationLog('{"schema":1,"entries":[{"rotationId":"a"}]}')).toThrow(/entries\[0\]\.fromVersion/);
    expect(() => parseRotationLog(JSON.stringify({ schema: 1, entries: [{ ...entry('a'), outcome: 'maybe' }] }))).toThrow(/entries\[0\]\.outcome/);
  });
});

describe('appendRotationLog', () => {
  it('adds newest last', () => {
    const log = [entry('a'), entry('b')].reduce<RotationLog>((l, e) => appendRotationLog(l, e), EMPTY_ROTATION_LOG);
    expect(log.entries.map((e) => e.rotationId)).toEqual(['a', 'b']);
  });

  it('keeps one entry per rotation id: a retry replaces it, keeps the first start time and becomes newest', () => {
    let log = appendRotationLog(EMPTY_ROTATION_LOG, entry('a', { outcome: 'failure', startedAt: '2026-04-01T00:00:00.000Z' }));
    log = appendRotationLog(log, entry('b'));
    log = appendRotationLog(log, entry('a', { outcome: 'success', startedAt: '2026-04-01T00:05:00.000Z' }));
    expect(log.entries.map((e) => [e.rotationId, e.outcome])).toEqual([
      ['b', 'success'],
      ['a', 'success'],
    ]);
    expect(log.entries[1].startedAt).toBe('2026-04-01T00:00:00.000Z');
  });

  it(`is bounded to the newest ${MAX_ROTATION_LOG_ENTRIES} entries`, () => {
    let log = EMPTY_ROTATION_LOG;
    for (let i = 0; i < MAX_ROTATION_LOG_ENTRIES; i++) log = appendRotationLog(log, entry(`r${i}`));
    expect(log.entries).toHaveLength(MAX_ROTATION_LOG_ENTRIES);
    log = appendRotationLog(log, entry('newest'));
    expect(log.entries).toHaveLength(MAX_ROTATION_LOG_ENTRIES);
    expect(log.entries[0].rotationId).toBe('r1');
    expect(log.entries.at(-1)?.rotationId).toBe('newest');
  });
});
