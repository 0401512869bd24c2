import * as path from 'node:path';
import { auditLogPath, rotationDays } from '../../cli/runtime';

describe('auditLogPath', () => {
  it('prefers --audit-log, then KEY_MANAGER_AUDIT_LOG, then beside a file keyset', () => {
    expect(auditLogPath({ auditLog: '/a.jsonl' }, { KEY_MANAGER_AUDIT_LOG: '/b.jsonl' }, 'file:/k/keyset.json')).toBe('/a.jsonl');
    expect(auditLogPath({}, { KEY_MANAGER_AUDIT_LOG: '/b.jsonl' }, 'file:/k/keyset.json')).toBe('/b.jsonl');
    expect(auditLogPath({}, {}, 'file:/k/keyset.json')).toBe(path.join('/k', 'audit.jsonl'));
  });

  it('keeps the log of any other store in a file named for that store under the user\'s state directory, never in the working directory', () => {
    expect(auditLogPath({}, { XDG_STATE_HOME: '/state', HOME: '/home/op' }, 'aws:alphapulse/encryption/master_key')).toBe('/state/alphapulse-keys/audit/aws-alphapulse%2Fencryption%2Fmaster_key.jsonl');
    expect(auditLogPath({}, { HOME: '/home/op' }, 'aws:staging/alphapulse/encryption/master_key')).toBe('/home/op/.local/state/alphapulse-keys/audit/aws-staging%2Falphapulse%2Fencryption%2Fmaster_key.jsonl');
    expect(auditLogPath({}, { HOME: '/home/op' }, 'vault:alphapulse/encryption/master_key')).toBe('/home/op/.local/state/alphapulse-keys/audit/vault-alphapulse%2Fencryption%2Fmaster_key.jsonl');
    expect(auditLogPath({}, { HOME: '/home/op' }, 'env:')).toBe('/home/op/.local/state/alphapulse-keys/audit/env.jsonl');
  });
});

describe('rotationDays', () => {
  it('defaults to 90 and accepts 1..365', () => {
    expect(rotationDays({})).toBe(90);
    expect(rotationDays({ rotationDays: '30' })).toBe(30);
  });

  it.each(['0', '366', '12.5', 'ninety'])('refuses %s, citing PCI DSS', (v) => {
    expect(() => rotationDays({ rotationDays: v })).toThrow(expect.objectContaining({ code: 'INVALID_INPUT', message: expect.stringMatching(/PCI DSS/) }));
  });
});
