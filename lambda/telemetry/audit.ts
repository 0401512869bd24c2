/**
 * Audit events: one JSON line per key-management operation. Events carry names, versions and outcomes,
 * never key material or plaintext: the event type has no field that could hold either.
 */
import { constants, promises as fs } from 'node:fs';
import * as path from 'node:path';

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

/** Appends JSON lines to a file (mode 0600), fsync'd per event so an audit record survives a crash. */
export class FileAuditSink implements AuditSink {
  private chain: Promise<void> = Promise.resolve();

  constructor(readonly filePath: string) {}

  write(event: AuditEvent): Promise<void> {
    const line = `${JSON.stringify(event)}\n`;
    const next = this.chain.then(() => this.append(line));
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async append(line: string): Promise<void> {
    await fs.mkdir(path.dirname(this.filePath), { recursive: true, mode: 0o700 });
    const handle = await fs.open(this.filePath, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
    try {
      await handle.write(line);
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}

/** Reads a JSON-lines audit file; malformed lines are reported by number, not dropped silently. */
export async function readAuditFile(filePath: string): Promise<{ events: AuditEvent[]; badLines: number[] }> {
  let text: string;
  try {
    text = await fs.readFile(filePath, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { events: [], badLines: [] };
    throw err;
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
