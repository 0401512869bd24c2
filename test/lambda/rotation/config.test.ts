import { readRotationConfig } from '../../../lambda/rotation/config';

const env = { KEYSET_SECRET_ID: 'ks', ROTATION_LOG_SECRET_ID: 'log' };

describe('readRotationConfig', () => {
  it('applies the defaults', () => {
    expect(readRotationConfig(env)).toEqual({
      keysetSecretId: 'ks',
      rotationLogSecretId: 'log',
      metricsNamespace: 'AlphaPulse/Encryption',
      rotationPeriodDays: null,
      warningWindowDays: null,
      stage: 'unknown',
    });
  });
  it('reads every variable', () => {
    expect(readRotationConfig({ ...env, METRICS_NAMESPACE: 'X/Y', ROTATION_PERIOD_DAYS: '90', WARNING_WINDOW_DAYS: '7', STAGE: 'prod', STORAGE_KEY_ID: 'arn:aws:kms:us-east-1:1:key/k' })).toMatchObject({
      metricsNamespace: 'X/Y',
      rotationPeriodDays: 90,
      warningWindowDays: 7,
      stage: 'prod',
      storageKeyId: 'arn:aws:kms:us-east-1:1:key/k',
    });
  });
  it('defaults the warning window to 14 days, kept shorter than the period, and refuses one as long as the period', () => {
    expect(readRotationConfig({ ...env, ROTATION_PERIOD_DAYS: '90' }).warningWindowDays).toBe(14);
    expect(readRotationConfig({ ...env, ROTATION_PERIOD_DAYS: '7' }).warningWindowDays).toBe(6);
    expect(() => readRotationConfig({ ...env, ROTATION_PERIOD_DAYS: '30', WARNING_WINDOW_DAYS: '30' })).toThrow(/WARNING_WINDOW_DAYS must be a whole number from 0 to 29/);
  });

  it('treats an empty ROTATION_PERIOD_DAYS as manual only', () => {
    expect(readRotationConfig({ ...env, ROTATION_PERIOD_DAYS: '' }).rotationPeriodDays).toBeNull();
  });
  it.each([
    [{ ROTATION_LOG_SECRET_ID: 'log' }, /KEYSET_SECRET_ID is not set/],
    [{ ...env, ROTATION_PERIOD_DAYS: '400' }, /ROTATION_PERIOD_DAYS must be a whole number from 1 to 365/],
    [{ ...env, ROTATION_PERIOD_DAYS: '9.5' }, /ROTATION_PERIOD_DAYS/],
  ])('refuses %j', (e, message) => {
    expect(() => readRotationConfig(e)).toThrow(message);
  });
});
