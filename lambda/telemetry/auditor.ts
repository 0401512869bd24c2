/**
 * The one auditor: every audit event of the key manager (data path, administration, status and health) and of the
 * CLI's own commands is written here, stamped with the clock, the actor and the store.
 */
import { errorCode } from '../keys/errors';
import { auditEvent, type AuditFields, type AuditOutcome, type AuditSink } from './audit';

export interface AuditorOptions {
  readonly sink: AuditSink;
  readonly clock: () => Date;
  /** Who is acting. */
  readonly actor: string;
  /** The store's kind and location (never a credential). */
  readonly store: { readonly kind: string; readonly location: string };
}

/** What an audited operation reports once it succeeded. */
export interface AuditedResult<T> {
  readonly result: T;
  /** What the event records: the version, context and detail of what was done. */
  readonly audit: AuditFields;
  /** @default 'success' */
  readonly outcome?: AuditOutcome;
}

export class Auditor {
  constructor(private readonly options: AuditorOptions) {}

  /** Writes an event; a failing sink fails the caller (a management operation must be audited). */
  async record(action: string, outcome: AuditOutcome, fields: AuditFields = {}): Promise<void> {
    const { sink, clock, actor, store } = this.options;
    await sink.write(auditEvent({ time: clock().toISOString(), action, actor, store: store.kind, secret: store.location, outcome }, fields));
  }

  /** Writes an event on the data path or for a read: a failing sink must not fail an encrypt, a decrypt or a status. */
  async quietly(action: string, outcome: AuditOutcome, fields: AuditFields): Promise<void> {
    try {
      await this.record(action, outcome, fields);
    } catch {
      /* the failure is visible in the sink's own errors; the data path goes on */
    }
  }

  /**
   * Runs `run` and records `action`: its outcome with the fields it returned, or `failure` with `onFailure` and the
   * error's code. The operation's own error is what the caller needs: a failing sink does not replace it.
   */
  async audited<T>(action: string, onFailure: AuditFields, run: () => Promise<AuditedResult<T>>): Promise<T> {
    let done: AuditedResult<T>;
    try {
      done = await run();
    } catch (err) {
      await this.quietly(action, 'failure', { ...onFailure, code: errorCode(err) });
      throw err;
    }
    await this.record(action, done.outcome ?? 'success', done.audit);
    return done.result;
  }
}
