import { CloudWatchLogsClient, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { mockClient } from 'aws-sdk-client-mock';
import { promises as fs } from 'node:fs';
import { formatEvent, parseLoggedEvent } from '../../../cli/commands/audit';
import { AWS_REQUEST_HANDLER } from '../../../lambda/stores/aws-client-options';
import { auditEvents, type Workspace, workspace } from '../../support/lifecycle';
import { requestHandlerOptions } from '../../support/request-handler';

let ws: Workspace;
beforeEach(async () => {
  ws = await workspace();
});
afterEach(() => ws.cleanup());

describe('audit', () => {
  it('prints the seed\'s "timestamp: action - secret_name" line with version, outcome and actor', async () => {
    await ws.km(['init']);
    await ws.km(['rotate']);
    const r = await ws.km(['audit']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^\\d{4}-\\d{2}-\\d{2}T[\\d:.]+Z: init - ${ws.keysetFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} version=1 outcome=success actor=\\S+`));
    expect(lines[1]).toMatch(/: rotate - .* version=2 outcome=success/);
  });

  it('filters by --action and --since, and prints JSON with --json', async () => {
    await ws.km(['init']);
    await ws.km(['rotate']);
    await ws.km(['rotate', '--emergency', '--reason', 'leak']);
    const only = await ws.km(['--json', 'audit', '--action', 'emergency_rotate']);
    const doc = JSON.parse(only.stdout) as { count: number; events: Record<string, unknown>[] };
    expect(doc.count).toBe(1);
    expect(doc.events[0]).toMatchObject({ action: 'emergency_rotate', version: 3, outcome: 'success', store: 'file' });
    const future = await ws.km(['audit', '--since', '2999-01-01']);
    expect(future.stdout).toMatch(/no audit events .* matching the filter/);
    expect((await ws.km(['audit', '--since', 'yesterday'])).stderr).toMatch(/INVALID_INPUT.*--since/);
  });

  it('reports unreadable lines by count instead of dropping them silently', async () => {
    await ws.km(['init']);
    await fs.appendFile(ws.auditFile, 'not json\n');
    const r = await ws.km(['audit']);
    expect(r.stdout).toMatch(/\(1 unreadable line\(s\) in .* skipped\)/);
  });

  it('reading the log does not write into it', async () => {
    await ws.km(['init']);
    const before = await fs.readFile(ws.auditFile);
    expect((await ws.km(['audit'])).code).toBe(0);
    expect((await ws.km(['--json', 'audit', '--since', '2026-01-01'])).code).toBe(0);
    expect((await fs.readFile(ws.auditFile)).equals(before)).toBe(true);
  });

  it('--log-group reads CloudWatch Logs with FilterLogEvents, following pages, server-side action filter', async () => {
    const logs = mockClient(CloudWatchLogsClient);
    const event = (time: string, action: string) => ({ message: JSON.stringify({ time, action, actor: 'arn:aws:sts::123:assumed-role/rotation', store: 'aws', secret: 'alphapulse/encryption/master_key', version: 7, outcome: 'success' }) });
    logs
      .on(FilterLogEventsCommand)
      .resolvesOnce({ events: [event('2026-03-01T00:00:00.000Z', 'rotate'), { message: 'START RequestId: abc' }], nextToken: 'p2' })
      .resolvesOnce({ events: [{ message: `2026-03-02T00:00:00.000Z\tabc\tINFO\t${event('2026-03-02T00:00:00.000Z', 'rotate').message}` }] });
    try {
      const r = await ws.km(['--json', '--region', 'us-east-1', '--endpoint-url', 'http://127.0.0.1:4566', 'audit', '--log-group', '/aws/lambda/rotation', '--action', 'rotate', '--since', '2026-02-01T00:00:00Z']);
      expect(r.code).toBe(0);
      const doc = JSON.parse(r.stdout) as { source: string; count: number; skipped: number; events: { time: string }[] };
      expect(doc).toMatchObject({ source: 'cloudwatch:/aws/lambda/rotation', count: 2, skipped: 1 });
      expect(doc.events.map((e) => e.time)).toEqual(['2026-03-01T00:00:00.000Z', '2026-03-02T00:00:00.000Z']);
      expect(logs).toHaveReceivedCommandTimes(FilterLogEventsCommand, 2);
      expect(logs).toHaveReceivedNthCommandWith(1, FilterLogEventsCommand, { logGroupName: '/aws/lambda/rotation', startTime: Date.parse('2026-02-01T00:00:00Z'), filterPattern: '{ $.action = "rotate" }' });
      expect(logs).toHaveReceivedNthCommandWith(2, FilterLogEventsCommand, { nextToken: 'p2' });
      // --endpoint-url names the Secrets Manager endpoint: CloudWatch Logs must not follow it.
      const client = logs.commandCalls(FilterLogEventsCommand)[0].thisValue as CloudWatchLogsClient;
      expect(client.config.isCustomEndpoint).toBe(false);
      expect(await requestHandlerOptions(client)).toMatchObject(AWS_REQUEST_HANDLER);
    } finally {
      logs.restore();
    }
  });

  it('maps CloudWatch access denied to ACCESS_DENIED (exit 1)', async () => {
    const logs = mockClient(CloudWatchLogsClient);
    logs.on(FilterLogEventsCommand).rejects(Object.assign(new Error('no'), { name: 'AccessDeniedException' }));
    try {
      const r = await ws.km(['--region', 'us-east-1', 'audit', '--log-group', 'g']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/ACCESS_DENIED.*logs:FilterLogEvents/);
    } finally {
      logs.restore();
    }
  });

  it('maps expired credentials and throttling like Secrets Manager errors: ACCESS_DENIED naming the Audit Service role, THROTTLED', async () => {
    const logs = mockClient(CloudWatchLogsClient);
    logs
      .on(FilterLogEventsCommand)
      .rejectsOnce(Object.assign(new Error('expired'), { name: 'ExpiredTokenException', $metadata: { httpStatusCode: 400 } }))
      .rejectsOnce(Object.assign(new Error('slow'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } }));
    try {
      const expired = await ws.km(['--region', 'us-east-1', 'audit', '--log-group', 'g']);
      expect(expired).toMatchObject({ code: 1, stderr: expect.stringMatching(/^error \[ACCESS_DENIED\]: the AWS credentials have expired \(ExpiredTokenException\) for logs:FilterLogEvents on log group g; refresh them \(aws sso login, or assume the stack's Audit Service role \(output AuditServiceRoleArn\) again\) and retry\n$/) });
      const throttled = await ws.km(['--region', 'us-east-1', 'audit', '--log-group', 'g']);
      expect(throttled.stderr).toMatch(/^error \[THROTTLED\]: CloudWatch Logs throttled logs:FilterLogEvents/);
    } finally {
      logs.restore();
    }
  });

  it('formats and parses single events', () => {
    expect(formatEvent({ time: 't', action: 'decrypt', secret: 's', store: 'file', context: 'user_pii', version: 2, outcome: 'failure', code: 'VERSION_DISABLED' })).toBe(
      't: decrypt - s version=2 context=user_pii outcome=failure code=VERSION_DISABLED',
    );
    expect(parseLoggedEvent('{"no":"time"}')).toBeUndefined();
    expect(parseLoggedEvent('plain text')).toBeUndefined();
  });
});

describe('the audit trail', () => {
  const actions = async () => (await auditEvents(ws.auditFile)).map((e) => ({ action: e.action, outcome: e.outcome, ...(e.code ? { code: e.code } : {}) }));

  it('records status, and every command that failed on the keyset, with its error code', async () => {
    await ws.km(['init']);
    await ws.km(['status']);
    await ws.km(['derive', '--context', 'trading_data', '--version', '99']);
    await fs.writeFile(ws.keysetFile, '{"schema":1}');
    await ws.km(['status']);
    await ws.km(['encrypt', '--context', 'trading_data'], { stdin: 'x' });
    await ws.km(['rotate']);
    expect(await actions()).toEqual([
      { action: 'init', outcome: 'success' },
      { action: 'status', outcome: 'success' },
      { action: 'derive_key', outcome: 'failure', code: 'UNKNOWN_VERSION' },
      { action: 'status', outcome: 'failure', code: 'KEYSET_INVALID' },
      { action: 'encrypt', outcome: 'failure', code: 'KEYSET_INVALID' },
      { action: 'rotate', outcome: 'failure', code: 'KEYSET_INVALID' },
    ]);
  });
});
