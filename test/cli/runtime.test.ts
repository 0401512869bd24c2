import * as path from 'node:path';
import { auditLogPath, rotationDays } from '../../cli/runtime';

describe('auditLogPath', () => {
  it('prefers --audit-log, then KEY_MANAGER_AUDIT_LOG, then beside a file keyset, then ./.alphapulse', () => {
    expect(auditLogPath({ auditLog: '/a.jsonl' }, { KEY_MANAGER_AUDIT_LOG: '/b.jsonl' }, 'file:/k/keyset.json')).toBe('/a.jsonl');
    expect(auditLogPath({}, { KEY_MANAGER_AUDIT_LOG: '/b.jsonl' }, 'file:/k/keyset.json')).toBe('/b.jsonl');
    expect(auditLogPath({}, {}, 'file:/k/keyset.json')).toBe(path.join('/k', 'audit.jsonl'));
    expect(auditLogPath({}, {}, 'env:')).toBe(path.join('.alphapulse', 'audit.jsonl'));
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
