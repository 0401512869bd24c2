/**
 * Audit events: one JSON line per key-management operation. Events carry names, versions and outcomes,
 * never key material or plaintext: the event type has no field that could hold either.
 */
import { constants } from 'node:fs';
import * as path from 'node:path';
import { checkPrivateDirectory, effectiveUid, insecure, octal, openPrivateFile, type OpenedPrivateFile, who } from '../stores/private-path';

export type AuditOutcome = 'success' | 'failure' | 'skipped';

export interface AuditEvent {
  /** ISO-8601 UTC. */
  readonly time: string;
  readonly action: string;
  /** OS user, or the AWS caller identity. */
  readonly actor?: string;
  /** Store kind: file, env, aws, vault, memory. */
  readonly store: string;
  /** The keyset's location (path or secret id). */
  readonly secret: string;
  readonly version?: number;
  readonly context?: string;
  readonly outcome: AuditOutcome;
  /** Error code on failure. */
  readonly code?: string;
  /** Short free text (a reason, a count); never key material. */
  readonly detail?: string;
}

/** The optional fields of an event, as operations report them. */
export type AuditFields = Partial<Pick<AuditEvent, 'version' | 'context' | 'code' | 'detail'>>;

/** Builds an event in the canonical field order, leaving out fields that are undefined. */
export function auditEvent(base: Pick<AuditEvent, 'time' | 'action' | 'actor' | 'store' | 'secret' | 'outcome'>, fields: AuditFields = {}): AuditEvent {
  return {
    time: base.time,
    action: base.action,
    actor: base.actor,
    store: base.store,
    secret: base.secret,
    ...(fields.version !== undefined ? { version: fields.version } : {}),
    ...(fields.context !== undefined ? { context: fields.context } : {}),
    outcome: base.outcome,
    ...(fields.code !== undefined ? { code: fields.code } : {}),
    ...(fields.detail !== undefined ? { detail: fields.detail } : {}),
  };
}

/**
 * At most `limit` events of one kind per fixed window of `windowMs`, for events whose number a caller
 * chooses (a legacy key derivation for every made-up context on a forged record): the trail keeps the first
 * ones and one summary, not one line per forged input. Pure: the caller passes the time.
 */
export class AuditRateLimit {
  private windowStart = Number.NEGATIVE_INFINITY;
  private seen = 0;

  constructor(
    readonly limit: number,
    readonly windowMs: number,
  ) {}

  /** `record` within the limit, `summarize` for the first event past it in a window, `drop` for the rest. */
  admit(nowMs: number): 'record' | 'summarize' | 'drop' {
    if (nowMs - this.windowStart >= this.windowMs) {
      this.windowStart = nowMs;
      this.seen = 0;
    }
    this.seen++;
    return this.seen <= this.limit ? 'record' : this.seen === this.limit + 1 ? 'summarize' : 'drop';
  }

  /** When the current window ends (ms since the epoch). */
  get windowEndMs(): number {
    return this.windowStart + this.windowMs;
  }
}

export interface AuditSink {
  write(event: AuditEvent): Promise<void>;
}

/** Drops events (library callers that audit elsewhere). */
export const noopAudit: AuditSink = { write: async () => undefined };

export class MemoryAuditSink implements AuditSink {
  readonly events: AuditEvent[] = [];
  async write(event: AuditEvent): Promise<void> {
    this.events.push(event);
  }
}

/** Writes JSON lines to a stream: stdout in Lambda, where CloudWatch Logs collects them. */
export class StreamAuditSink implements AuditSink {
  constructor(private readonly stream: NodeJS.WritableStream = process.stdout) {}
  async write(event: AuditEvent): Promise<void> {
    this.stream.write(`${JSON.stringify(event)}\n`);
  }
}

export interface FileAuditOptions {
  /**
   * The user the log and its directory must belong to (root's are accepted too); tests set it to act as
   * another user without being root. @default the effective uid
   */
  readonly uid?: number;
}

/**
 * Appends JSON lines to a file (mode 0600), fsync'd per event so an audit record survives a crash. The log
 * and its directory must be this user's and not writable by group or other, and neither may be a symlink
 * (STORE_INSECURE): otherwise another user could rewrite the trail, or aim our appends at a file of ours.
 */
export class FileAuditSink implements AuditSink {
  private chain: Promise<void> = Promise.resolve();
  private readonly uid: number | undefined;

  constructor(
    readonly filePath: string,
    options: FileAuditOptions = {},
  ) {
    this.uid = options.uid ?? effectiveUid();
  }

  write(event: AuditEvent): Promise<void> {
    const line = `${JSON.stringify(event)}\n`;
    const next = this.chain.then(() => this.append(line));
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async append(line: string): Promise<void> {
    // With O_CREAT the open either succeeds or throws: there is always a file.
    const opened = (await openAuditFile(this.filePath, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, this.uid)) as OpenedPrivateFile;
    try {
      await opened.handle.write(line);
      await opened.handle.sync();
    } finally {
      await opened.handle.close();
    }
  }
}

/** Opens the audit log after the checks `FileAuditSink` describes; undefined when it does not exist (and is not created). */
async function openAuditFile(filePath: string, flags: number, uid: number | undefined): Promise<OpenedPrivateFile | undefined> {
  const creating = (flags & constants.O_CREAT) !== 0;
  if (!(await checkPrivateDirectory(path.dirname(filePath), 'audit log', uid, creating))) return undefined;
  const opened = await openPrivateFile(filePath, 'audit log', flags, uid);
  if (opened !== undefined && opened.stat.mode & 0o022) {
    await opened.handle.close();
    throw insecure(`the audit log ${filePath} is mode ${octal(opened.stat.mode)}: ${who(opened.stat.mode & 0o022)} can write it and so rewrite the trail; run chmod 600 ${filePath}`);
  }
  return opened;
}

/**
 * Reads a JSON-lines audit file, with the sink's checks (a trail others could have written is no evidence);
 * malformed lines are reported by number, not dropped silently.
 */
export async function readAuditFile(filePath: string, options: FileAuditOptions = {}): Promise<{ events: AuditEvent[]; badLines: number[] }> {
  const opened = await openAuditFile(filePath, constants.O_RDONLY, options.uid ?? effectiveUid());
  if (opened === undefined) return { events: [], badLines: [] };
  let text: string;
  try {
    text = await opened.handle.readFile('utf8');
  } finally {
    await opened.handle.close();
  }
  const events: AuditEvent[] = [];
  const badLines: number[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      const value = JSON.parse(line) as AuditEvent;
      if (typeof value.time === 'string' && typeof value.action === 'string') events.push(value);
      else badLines.push(i + 1);
    } catch {
      badLines.push(i + 1);
    }
  });
  return { events, badLines };
}
