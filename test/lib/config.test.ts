import { ConfigError, resolveStageConfig, selectStages } from '../../lib/config';

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('selectStages', () => {
  it('synthesizes all three stages when no stage is named', () => {
    expect(selectStages(undefined)).toEqual(['prod', 'staging', 'dev']);
  });

  it('synthesizes only the named stage', () => {
    expect(selectStages('staging')).toEqual(['staging']);
  });

  it('rejects an unknown stage, naming the field', () => {
    const err = configError(() => selectStages('qa'));
    expect(err.field).toBe('stage');
    expect(err.message).toContain("got 'qa'");
  });
});

describe('resolveStageConfig', () => {
  it('gives prod a 90-day period, retain, and the unprefixed secret names', () => {
    const c = resolveStageConfig('prod');
    expect(c).toMatchObject({
      rotationPeriodDays: 90,
      warningWindowDays: 14,
      removalPolicy: 'retain',
      keysetSecretName: 'alphapulse/encryption/master_key',
      rotationLogSecretName: 'alphapulse/encryption/rotation_log',
      reservedConcurrency: true,
      rotationWindowHours: 4,
      logRetentionDays: 365,
      alarmEmails: [],
    });
  });

  it('gives staging a 30-day period, retain, and stage-prefixed secret names', () => {
    expect(resolveStageConfig('staging')).toMatchObject({
      rotationPeriodDays: 30,
      removalPolicy: 'retain',
      keysetSecretName: 'staging/alphapulse/encryption/master_key',
      rotationLogSecretName: 'staging/alphapulse/encryption/rotation_log',
    });
  });

  it('gives dev no schedule (manual rotation) and destroy on delete', () => {
    expect(resolveStageConfig('dev')).toMatchObject({ rotationPeriodDays: null, removalPolicy: 'destroy', keysetSecretName: 'dev/alphapulse/encryption/master_key' });
  });

  it('applies overrides', () => {
    const auditors = ['arn:aws:iam::123456789012:role/auditors'];
    const c = resolveStageConfig('prod', { rotationPeriodDays: 60, alarmEmails: ['oncall@example.com'], reservedConcurrency: false, roleTrust: { auditService: auditors }, keyAdministratorMfa: false, breakGlassPrincipalArn: 'arn:aws:iam::123456789012:role/break-glass' });
    expect(c).toMatchObject({ rotationPeriodDays: 60, alarmEmails: ['oncall@example.com'], reservedConcurrency: false, roleTrust: { auditService: auditors }, keyAdministratorMfa: false, breakGlassPrincipalArn: 'arn:aws:iam::123456789012:role/break-glass' });
  });

  it('fails a period over 365 days citing PCI DSS 3.6.4', () => {
    const err = configError(() => resolveStageConfig('prod', { rotationPeriodDays: 366 }));
    expect(err.field).toBe('rotationPeriodDays');
    expect(err.message).toMatch(/PCI DSS 3\.6\.4/);
    expect(err.message).toContain('366');
  });

  it('accepts exactly 365 days', () => {
    expect(resolveStageConfig('prod', { rotationPeriodDays: 365 }).rotationPeriodDays).toBe(365);
  });

  it.each([
    [{ rotationPeriodDays: 0 }, 'rotationPeriodDays'],
    [{ rotationPeriodDays: 1.5 }, 'rotationPeriodDays'],
    [{ rotationPeriodDays: '90' }, 'rotationPeriodDays'],
    [{ warningWindowDays: 0 }, 'warningWindowDays'],
    [{ warningWindowDays: 90 }, 'warningWindowDays'],
    [{ removalPolicy: 'snapshot' }, 'removalPolicy'],
    [{ alarmEmails: 'oncall@example.com' }, 'alarmEmails'],
    [{ alarmEmails: ['not-an-address'] }, 'alarmEmails[0]'],
    [{ keysetSecretName: 'has spaces' }, 'keysetSecretName'],
    [{ keysetSecretName: 'alphapulse/key-abc123' }, 'keysetSecretName'],
    [{ rotationLogSecretName: 'alphapulse/encryption/master_key' }, 'rotationLogSecretName'],
    [{ reservedConcurrency: 'yes' }, 'reservedConcurrency'],
    [{ rotationWindowHours: 0 }, 'rotationWindowHours'],
    [{ rotationWindowHours: 25 }, 'rotationWindowHours'],
    [{ logRetentionDays: 30 }, 'logRetentionDays'],
    [{ logRetentionDays: 366 }, 'logRetentionDays'],
    [{ roleTrust: { auditService: 'arn:aws:iam::123456789012:role/auditors' } }, 'roleTrust.auditService'],
    [{ roleTrust: { auditService: ['123456789012'] } }, 'roleTrust.auditService[0]'],
    [{ roleTrust: { auditService: ['arn:aws:iam::123456789012:root'] } }, 'roleTrust.auditService[0]'],
    [{ roleTrust: { auditService: ['arn:aws:iam::*:role/auditors'] } }, 'roleTrust.auditService[0]'],
    [{ roleTrust: { operator: ['arn:aws:iam::123456789012:role/x'] } }, 'roleTrust.operator'],
    [{ keyAdministratorMfa: 'no' }, 'keyAdministratorMfa'],
    [{ breakGlassPrincipalArn: 'arn:aws:iam::123456789012:role/break-*' }, 'breakGlassPrincipalArn'],
    [{ deploymentRoleArn: '123456789012' }, 'deploymentRoleArn'],
    [{ rotationPeriod: 90 }, 'rotationPeriod'],
  ])('rejects %j naming %s', (options, field) => {
    expect(configError(() => resolveStageConfig('prod', options)).field).toBe(field);
  });

  it('refuses a whole account as a trusted principal and says why', () => {
    expect(configError(() => resolveStageConfig('prod', { roleTrust: { keyAdministrator: ['123456789012'] } })).message).toMatch(/a whole account or its root is not accepted, since any principal there could then assume the role/);
  });

  it('says a removed setting was removed, and why, rather than that it is unknown', () => {
    const err = configError(() => resolveStageConfig('prod', { minRotationIntervalMinutes: 60 }));
    expect(err.field).toBe('minRotationIntervalMinutes');
    expect(err.message).toMatch(/was removed: Secrets Manager's rotation schedule/);
  });

  it('rejects settings that are not an object', () => {
    expect(configError(() => resolveStageConfig('prod', ['x'])).field).toBe('alphapulse:prod');
  });

  it('allows a warning window on a manual-only stage', () => {
    expect(resolveStageConfig('dev', { warningWindowDays: 400 }).warningWindowDays).toBe(400);
  });
});
