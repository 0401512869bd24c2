/**
 * Audit for CLI commands that are not a single key-manager operation (export, recover, reencrypt, import-legacy):
 * one event on success with what was done, one on failure with the error code, through the key manager's auditor.
 */
import type { AuditEvent } from '../lambda/telemetry/audit';
import type { Runtime } from './runtime';

type AuditFields = Partial<Pick<AuditEvent, 'version' | 'context' | 'detail'>>;

/** Runs `body`; records `action` as success with the fields it returns, or as failure with the error's code. */
export function audited<T>(rt: Runtime, action: string, onFailure: AuditFields, body: () => Promise<{ result: T; audit: AuditFields; outcome?: 'success' | 'skipped' }>): Promise<T> {
  return rt.manager.auditor.audited(action, onFailure, body);
}
