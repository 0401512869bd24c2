/**
 * CloudWatch Logs log groups as event lists, searchable the way FilterLogEvents searches them.
 *
 * Modelled (Amazon CloudWatch Logs API Reference: FilterLogEvents, FilteredLogEvent; User Guide:
 * "Filter pattern syntax for metric filters, subscription filters, and filter log events"):
 * - `putEvents(logGroup, [{timestamp, message}], logStream?)` appends events (creating the group and
 *   stream), as a Lambda function's log output would land, and hands each to CloudWatch's EMF extraction
 *   (User Guide: "Ingesting high-cardinality logs and generating metrics with the embedded metric format").
 * - FilterLogEvents(logGroupName or logGroupIdentifier (name or ARN), logStreamNames?,
 *   logStreamNamePrefix?, startTime?, endTime? (epoch ms, both inclusive), filterPattern?, limit?
 *   (1-10000, default 10000), nextToken?): events sorted by timestamp with logStreamName, timestamp,
 *   message, ingestionTime and eventId; a nextToken while more remain (real pagination; a token from
 *   another query is refused); ResourceNotFoundException "The specified log group does not exist.".
 * - filterPattern: plain terms only. Every term must occur in the message (case-sensitive substring);
 *   a term in double quotes may contain spaces. Anything else the real syntax allows (`?term`, `-term`,
 *   JSON `{ $.x = ... }`, space-delimited `[a, b]`, regular expressions) is refused with
 *   InvalidParameterException, so a test never silently gets a wrong match.
 *
 * Not modelled: the other Logs APIs (GetLogEvents, Insights queries, PutLogEvents over HTTP, log group
 * management and retention), the deprecated `interleaved` flag and `searchedLogStreams`, the 1 MB page
 * limit, and matching terms on word boundaries (a term is a substring here).
 */
import { AwsServiceError, type Input, optionalNumber, optionalString, optionalStringList } from './errors';

export interface LogEvent {
  readonly logStreamName: string;
  readonly timestamp: number;
  readonly message: string;
  readonly ingestionTime: number;
  readonly eventId: string;
}

export class LogsModel {
  private readonly groups = new Map<string, LogEvent[]>();
  private sequence = 0;

  constructor(private readonly options: { readonly region: string; readonly accountId: string; readonly clock: () => Date; readonly metrics?: { extractEmf(message: string): void } }) {}

  createLogGroup(name: string): void {
    if (!this.groups.has(name)) this.groups.set(name, []);
  }

  putEvents(logGroup: string, events: ReadonlyArray<{ timestamp: number | Date; message: string }>, logStream = 'stand-in'): void {
    this.createLogGroup(logGroup);
    const list = this.groups.get(logGroup) as LogEvent[];
    const ingestionTime = this.options.clock().getTime();
    for (const e of events) {
      const timestamp = e.timestamp instanceof Date ? e.timestamp.getTime() : e.timestamp;
      list.push({ logStreamName: logStream, timestamp, message: e.message, ingestionTime, eventId: String(++this.sequence).padStart(20, '0') });
      // CloudWatch Logs extracts the metrics of every event in the embedded metric format (see cloudwatch.ts).
      this.options.metrics?.extractEmf(e.message);
    }
  }

  /** Every event of a group, as stored (oldest timestamp first). */
  events(logGroup: string): LogEvent[] {
    return [...(this.groups.get(logGroup) ?? [])].sort(byTime);
  }

  filterLogEvents(input: Input): { events: LogEvent[]; nextToken?: string } {
    const identifier = optionalString(input, 'logGroupIdentifier');
    const name = optionalString(input, 'logGroupName') ?? (identifier === undefined ? undefined : groupName(identifier));
    if (name === undefined) throw new AwsServiceError('InvalidParameterException', 'Either logGroupName or logGroupIdentifier must be specified.');
    const group = this.groups.get(name);
    if (!group) throw new AwsServiceError('ResourceNotFoundException', 'The specified log group does not exist.');
    const streams = optionalStringList(input, 'logStreamNames');
    const prefix = optionalString(input, 'logStreamNamePrefix');
    const start = optionalNumber(input, 'startTime');
    const end = optionalNumber(input, 'endTime');
    const limit = optionalNumber(input, 'limit') ?? 10_000;
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) {
      throw new AwsServiceError('InvalidParameterException', `1 validation error detected: Value '${limit}' at 'limit' failed to satisfy constraint: Member must have value between 1 and 10000`);
    }
    const terms = parsePattern(optionalString(input, 'filterPattern') ?? '');
    const matched = group
      .filter((e) => (streams === undefined || streams.includes(e.logStreamName)) && (prefix === undefined || e.logStreamName.startsWith(prefix)))
      .filter((e) => (start === undefined || e.timestamp >= start) && (end === undefined || e.timestamp <= end))
      .filter((e) => terms.every((t) => e.message.includes(t)))
      .sort(byTime);
    const query = JSON.stringify([name, streams, prefix, start, end, terms]);
    const token = optionalString(input, 'nextToken');
    let offset = 0;
    if (token !== undefined) {
      const decoded = decodeToken(token);
      if (!decoded || decoded.query !== query || decoded.offset > matched.length) throw new AwsServiceError('InvalidParameterException', 'The specified nextToken is invalid.');
      offset = decoded.offset;
    }
    const page = matched.slice(offset, offset + limit);
    const more = offset + limit < matched.length;
    return { events: page, ...(more ? { nextToken: Buffer.from(JSON.stringify({ query, offset: offset + limit })).toString('base64url') } : {}) };
  }

  invoke(operation: string, input: Input): unknown {
    if (operation === 'FilterLogEvents') return this.filterLogEvents(input);
    throw new AwsServiceError('UnknownOperationException', `The stand-in does not implement logs:${operation}`);
  }

  resourceArn(input: Input): string {
    const name = optionalString(input, 'logGroupName') ?? optionalString(input, 'logGroupIdentifier') ?? '*';
    return name.startsWith('arn:') ? name : `arn:aws:logs:${this.options.region}:${this.options.accountId}:log-group:${name}:log-stream:`;
  }
}

function byTime(a: LogEvent, b: LogEvent): number {
  return a.timestamp - b.timestamp || a.eventId.localeCompare(b.eventId);
}

function groupName(identifier: string): string {
  const m = /^arn:[^:]+:logs:[^:]*:[^:]*:log-group:([^:]+)/.exec(identifier);
  return m ? m[1] : identifier;
}

/** Plain terms and "quoted phrases"; everything else in the filter syntax is refused. */
function parsePattern(pattern: string): string[] {
  const terms: string[] = [];
  const re = /\s*(?:"((?:[^"\\]|\\.)*)"|([^\s"]+))/gy;
  let m: RegExpExecArray | null;
  let consumed = 0;
  while ((m = re.exec(pattern)) !== null) {
    consumed = re.lastIndex;
    if (m[1] !== undefined) {
      terms.push(m[1].replace(/\\(.)/g, '$1'));
      continue;
    }
    const term = m[2];
    if (/^[?\-{[%]/.test(term) || /[{}[\]=<>]/.test(term)) {
      throw new AwsServiceError('InvalidParameterException', `The stand-in supports plain filter terms only, not '${term}'.`);
    }
    terms.push(term);
  }
  if (pattern.slice(consumed).trim() !== '') throw new AwsServiceError('InvalidParameterException', 'Invalid filter pattern (unbalanced quotes).');
  return terms;
}

function decodeToken(token: string): { query: string; offset: number } | undefined {
  try {
    const t = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { query?: unknown; offset?: unknown };
    if (typeof t.query === 'string' && typeof t.offset === 'number' && Number.isInteger(t.offset) && t.offset >= 0) return { query: t.query, offset: t.offset };
  } catch {
    // fall through
  }
  return undefined;
}
