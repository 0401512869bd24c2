/**
 * `audit`: reads the audit log and prints the seed's line format, `timestamp: action - secret_name`,
 * followed by version, context, outcome and actor. The local log by default (the file the CLI appends
 * to); with --log-group, a CloudWatch Logs group (where the rotation Lambda's events land), read with
 * FilterLogEvents through the caller's credentials.
 */
import { KeyManagementError } from '../../lambda/keys/errors';
import { awsRequestHandler } from '../../lambda/stores/aws-client-options';
import { isResourceNotFound } from '../../lambda/stores/secrets-manager-errors';
import { type AuditEvent, readAuditFile } from '../../lambda/telemetry/audit';
import { roleFor } from '../advice';
import { mapAwsError } from '../aws-errors';
import { parseIsoTime, usage } from '../parse';
import { auditLogPath, type CommandRegistrar, emit, type Runtime } from '../runtime';

/** Events read from CloudWatch Logs at most, so a wide --since cannot run unbounded. */
export const MAX_CLOUDWATCH_EVENTS = 100_000;
const ACTION_PATTERN = /^[a-z][a-z0-9_]{0,63}$/;

export interface AuditQuery {
  readonly since?: Date;
  readonly action?: string;
}

export function matches(event: AuditEvent, query: AuditQuery): boolean {
  if (query.action !== undefined && event.action !== query.action) return false;
  if (query.since !== undefined) {
    const t = Date.parse(event.time);
    if (Number.isNaN(t) || t < query.since.getTime()) return false;
  }
  return true;
}

/** The seed's `timestamp: action - secret_name`, then what this system adds. */
export function formatEvent(e: AuditEvent): string {
  const extra = [
    e.version !== undefined ? `version=${e.version}` : undefined,
    e.context !== undefined ? `context=${e.context}` : undefined,
    `outcome=${e.outcome}`,
    e.code !== undefined ? `code=${e.code}` : undefined,
    e.actor !== undefined ? `actor=${e.actor}` : undefined,
    e.detail !== undefined ? `(${e.detail})` : undefined,
  ].filter((x) => x !== undefined);
  return `${e.time}: ${e.action} - ${e.secret} ${extra.join(' ')}`;
}

/** An audit event from a log line: the JSON itself, or JSON after a log prefix (Lambda's text format). */
export function parseLoggedEvent(message: string): AuditEvent | undefined {
  const start = message.indexOf('{');
  if (start === -1) return undefined;
  try {
    const value = JSON.parse(message.slice(start)) as AuditEvent;
    return typeof value === 'object' && value !== null && typeof value.time === 'string' && typeof value.action === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

async function readCloudWatch(rt: Runtime, logGroup: string, query: AuditQuery): Promise<{ events: AuditEvent[]; skipped: number; truncated: boolean }> {
  // Loaded only here: no other command pays for the CloudWatch Logs client.
  const { CloudWatchLogsClient, FilterLogEventsCommand } = await import('@aws-sdk/client-cloudwatch-logs');
  // Not --endpoint-url: that names the Secrets Manager endpoint. The SDK itself honours AWS_ENDPOINT_URL_CLOUDWATCH_LOGS / AWS_ENDPOINT_URL.
  const client = new CloudWatchLogsClient({ region: rt.options.region, requestHandler: awsRequestHandler(rt.io.env) });
  const events: AuditEvent[] = [];
  let skipped = 0;
  let read = 0;
  let nextToken: string | undefined;
  try {
    do {
      const page = await client.send(
        new FilterLogEventsCommand({
          logGroupName: logGroup,
          startTime: query.since?.getTime(),
          // Server-side narrowing; the same filter is applied again here.
          filterPattern: query.action !== undefined ? `{ $.action = "${query.action}" }` : undefined,
          nextToken,
        }),
      );
      for (const e of page.events ?? []) {
        read++;
        const event = parseLoggedEvent(e.message ?? '');
        if (!event) skipped++;
        else if (matches(event, query)) events.push(event);
      }
      nextToken = page.nextToken;
    } while (nextToken !== undefined && read < MAX_CLOUDWATCH_EVENTS);
  } catch (err) {
    if (isResourceNotFound(err)) throw new KeyManagementError('INVALID_INPUT', `log group ${logGroup} does not exist; check --log-group and --region`);
    throw mapAwsError(err, { service: 'CloudWatch Logs', action: 'logs:FilterLogEvents', resource: `log group ${logGroup}`, role: roleFor('audit'), endpointVariable: 'AWS_ENDPOINT_URL_CLOUDWATCH_LOGS' });
  } finally {
    client.destroy();
  }
  events.sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
  return { events, skipped, truncated: nextToken !== undefined };
}

function parseAction(value: string): string {
  if (!ACTION_PATTERN.test(value)) throw new KeyManagementError('INVALID_INPUT', `--action must be an action name such as emergency_rotate (lowercase letters, digits, '_')`);
  return value;
}

export const registerAudit: CommandRegistrar = (program, run) => {
  program
    .command('audit')
    .description('show the audit log: "timestamp: action - secret" with version, context, outcome and actor')
    .option('--since <iso>', 'only events at or after this time (a time without a zone is UTC)', usage((v) => parseIsoTime(v, '--since')))
    .option('--action <name>', 'only this action (e.g. emergency_rotate, disable_version, destroy_version, reencrypt)', usage(parseAction))
    .option('--log-group <name>', 'read CloudWatch Logs (the Lambda\'s audit events) instead of the local audit file')
    .action((opts: { since?: Date; action?: string; logGroup?: string }) =>
      run(async (rt) => {
        const query: AuditQuery = { since: opts.since, action: opts.action };
        const source = opts.logGroup !== undefined ? `cloudwatch:${opts.logGroup}` : auditLogPath(rt.options, rt.io.env, rt.storeUri);
        // Not audited: reading the log must not change it (and touches no key).
        let found: { events: AuditEvent[]; skipped: number; truncated: boolean };
        if (opts.logGroup !== undefined) {
          found = await readCloudWatch(rt, opts.logGroup, query);
        } else {
          const file = await readAuditFile(source);
          found = { events: file.events.filter((e) => matches(e, query)), skipped: file.badLines.length, truncated: false };
        }
        const human = found.events.map(formatEvent);
        if (found.skipped) human.push(`(${found.skipped} unreadable line(s) in ${source} skipped)`);
        if (found.truncated) human.push(`(stopped after ${MAX_CLOUDWATCH_EVENTS} log events; narrow --since)`);
        if (found.events.length === 0) human.unshift(`no audit events in ${source}${opts.action || opts.since ? ' matching the filter' : ''}`);
        emit(rt, { source, count: found.events.length, skipped: found.skipped, truncated: found.truncated, events: found.events }, human);
      }),
    );
};
