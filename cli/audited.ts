/**
 * Audit for CLI commands that are not a single key-manager transition (export, recover, reencrypt,
 * import-legacy): one event on success with what was done, one on failure with the error code.
 */
import { errorCode } from '../lambda/keys/errors';
import type { AuditEvent } from '../lambda/telemetry/audit';
import type { Runtime } from './runtime';

type AuditFields = Partial<Pick<AuditEvent, 'version' | 'context' | 'detail'>>;

/** Runs `body`; records `action` as success with the fields it returns, or as failure with the error's code. */
export async function audited<T>(rt: Runtime, action: string, onFailure: AuditFields, body: () => Promise<{ result: T; audit: AuditFields; outcome?: 'success' | 'skipped' }>): Promise<T> {
  let done: { result: T; audit: AuditFields; outcome?: 'success' | 'skipped' };
  try {
    done = await body();
  } catch (err) {
    // The command's own error is what the operator needs; a failing audit sink must not mask it.
    await rt.manager.record(action, 'failure', { ...onFailure, code: errorCode(err) }).catch(() => undefined);
    throw err;
  }
  await rt.manager.record(action, done.outcome ?? 'success', done.audit);
  return done.result;
}
