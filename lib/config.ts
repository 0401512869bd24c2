/**
 * Per-stage settings for the AlphaPulse key management stack, with the defaults DESIGN.md names and the
 * checks that must fail `cdk synth` rather than a deploy (or an audit) later.
 */
import type { AccessRoleTrust } from './access-roles';
import { DEFAULT_ROTATION_WINDOW_HOURS, DEFAULT_WARNING_WINDOW_DAYS, MAX_ROTATION_PERIOD_DAYS } from '../lambda/contract';

export { MAX_ROTATION_PERIOD_DAYS } from '../lambda/contract';

export const STAGES = ['prod', 'staging', 'dev'] as const;
export type StageName = (typeof STAGES)[number];

/**
 * Who may assume each of the four access roles (AccessRoles' trust): IAM role or user ARNs (a `*` may stand for part
 * of a name, as in IAM Identity Center's `AWSReservedSSO_KeyAdmin_*`). A role with none configured trusts no one.
 */
export type RoleTrust = AccessRoleTrust;

/** What an operator may set per stage (cdk.json context `alphapulse:<stage>`); everything has a default. */
export interface StageConfigOptions {
  /**
   * Days between scheduled rotations; `null` turns the schedule off (manual rotation only).
   * @default 90 for prod, 30 for staging, null for dev
   */
  readonly rotationPeriodDays?: number | null;
  /**
   * Days before the rotation deadline from which the "deadline approaching" alarm fires if no rotation is scheduled
   * to meet it (rotation disabled, or a rotation stuck).
   * @default 14
   */
  readonly warningWindowDays?: number;
  /**
   * Hours of Secrets Manager's rotation window on the due day; a rotation still in progress after it is reported
   * stuck. From 1 to 24.
   * @default 4
   */
  readonly rotationWindowHours?: number;
  /**
   * What happens to the keys, secrets and backups when the stack is deleted.
   * @default 'retain' for prod and staging, 'destroy' for dev
   */
  readonly removalPolicy?: 'retain' | 'destroy';
  /**
   * E-mail addresses subscribed to the on-call topic.
   * @default - none (subscribe the pager integration to the topic outside this stack)
   */
  readonly alarmEmails?: readonly string[];
  /**
   * Name of the keyset secret.
   * @default 'alphapulse/encryption/master_key' for prod, '<stage>/alphapulse/encryption/master_key' otherwise
   */
  readonly keysetSecretName?: string;
  /**
   * Name of the rotation-log secret.
   * @default 'alphapulse/encryption/rotation_log' for prod, '<stage>/alphapulse/encryption/rotation_log' otherwise
   */
  readonly rotationLogSecretName?: string;
  /**
   * Reserve concurrency for the rotation function. Turn off in accounts at the 10-execution concurrency floor, where
   * Lambda refuses any reservation.
   * @default true
   */
  readonly reservedConcurrency?: boolean;
  /**
   * Retention of the rotation function's logs, in days; one of CloudWatch Logs' allowed values, at least a year
   * (PCI DSS 10.7).
   * @default 365
   */
  readonly logRetentionDays?: number;
  /** @default - every role trusts no one until its principals are set (synth warns, naming the setting) */
  readonly roleTrust?: RoleTrust;
  /**
   * Require MFA (`aws:MultiFactorAuthPresent`) of principals assuming the Key Administrator role. Principals of IAM
   * Identity Center carry no such key: turn this off for them and require MFA in Identity Center instead.
   * @default true
   */
  readonly keyAdministratorMfa?: boolean;
  /**
   * The one principal (an IAM role ARN) that may, beside the stack's CloudFormation execution role, delete or restore
   * the secrets, change their resource policies, cancel rotation, and disable or schedule the deletion of the KMS keys
   * (RUNBOOK.md, Break glass).
   * @default - none: only a stack deployment can
   */
  readonly breakGlassPrincipalArn?: string;
  /**
   * The role CloudFormation deploys the stack with, which manages the secrets and keys (rotation configuration,
   * tags, policies). Set it when deploying with a synthesizer other than CDK's default bootstrap.
   * @default - the CDK bootstrap's CloudFormation execution role (`cdk-<qualifier>-cfn-exec-role-<account>-<region>`)
   */
  readonly deploymentRoleArn?: string;
}

export interface StageConfig {
  readonly stage: StageName;
  readonly rotationPeriodDays: number | null;
  readonly warningWindowDays: number;
  readonly removalPolicy: 'retain' | 'destroy';
  readonly alarmEmails: readonly string[];
  readonly keysetSecretName: string;
  readonly rotationLogSecretName: string;
  readonly rotationWindowHours: number;
  readonly reservedConcurrency: boolean;
  readonly logRetentionDays: number;
  readonly roleTrust: RoleTrust;
  readonly keyAdministratorMfa: boolean;
  readonly breakGlassPrincipalArn?: string;
  readonly deploymentRoleArn?: string;
}

/** A setting that cannot be deployed; `field` names it (as in `alphapulse:<stage>.<field>`). */
export class ConfigError extends Error {
  readonly code = 'INVALID_CONFIG';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'ConfigError';
  }
}


/** CloudWatch Logs' allowed retention values of a year or more. */
export const LOG_RETENTION_DAYS_ALLOWED = [365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653] as const;

const DEFAULT_PERIOD: Record<StageName, number | null> = { prod: 90, staging: 30, dev: null };
const SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
/** Secrets Manager appends `-XXXXXX` to ARNs; a name ending like that confuses partial-ARN lookups. */
const SECRET_NAME_AMBIGUOUS_SUFFIX = /-[A-Za-z0-9]{6}$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
/** An IAM role or user ARN; `*` may stand for part of the name (ArnLike), never for the account. */
const PRINCIPAL = /^arn:aws[a-z-]*:iam::\d{12}:(role|user)\/[\w+=,.@/*-]+$/;
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/;
const KNOWN_FIELDS: readonly (keyof StageConfigOptions)[] = [
  'rotationPeriodDays',
  'warningWindowDays',
  'removalPolicy',
  'alarmEmails',
  'keysetSecretName',
  'rotationLogSecretName',
  'rotationWindowHours',
  'reservedConcurrency',
  'logRetentionDays',
  'roleTrust',
  'keyAdministratorMfa',
  'breakGlassPrincipalArn',
  'deploymentRoleArn',
];
const ROLE_TRUST_FIELDS: readonly (keyof RoleTrust)[] = ['keyAdministrator', 'applicationService', 'backupService', 'auditService'];

export function isStageName(value: unknown): value is StageName {
  return typeof value === 'string' && (STAGES as readonly string[]).includes(value);
}

/**
 * The stages to synthesize: the one named by `-c stage=...`, or all three.
 * @throws ConfigError naming `stage` for anything else
 */
export function selectStages(stage: unknown): StageName[] {
  if (stage === undefined || stage === null || stage === '') return [...STAGES];
  if (!isStageName(stage)) throw new ConfigError('stage', `must be one of ${STAGES.join(', ')}, got '${String(stage)}'`);
  return [stage];
}

/**
 * Resolves a stage's settings: defaults, then `options` (typically cdk.json context, so untrusted in shape).
 * @throws ConfigError naming the first field that cannot be deployed
 */
export function resolveStageConfig(stage: StageName, options: unknown = {}): StageConfig {
  if (!isStageName(stage)) throw new ConfigError('stage', `must be one of ${STAGES.join(', ')}, got '${String(stage)}'`);
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new ConfigError(`alphapulse:${stage}`, 'must be an object of stage settings');
  }
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (key === 'minRotationIntervalMinutes') {
      throw new ConfigError(key, "was removed: Secrets Manager's rotation schedule now starts every rotation (one per period), so there is no interval to guard; delete the setting");
    }
    if (!(KNOWN_FIELDS as readonly string[]).includes(key)) {
      throw new ConfigError(key, `is not a known setting; expected one of ${KNOWN_FIELDS.join(', ')}`);
    }
  }
  const prefix = stage === 'prod' ? '' : `${stage}/`;
  const config: StageConfig = {
    stage,
    rotationPeriodDays: o.rotationPeriodDays === undefined ? DEFAULT_PERIOD[stage] : (o.rotationPeriodDays as number | null),
    warningWindowDays: (o.warningWindowDays as number | undefined) ?? DEFAULT_WARNING_WINDOW_DAYS,
    removalPolicy: (o.removalPolicy as 'retain' | 'destroy' | undefined) ?? (stage === 'dev' ? 'destroy' : 'retain'),
    alarmEmails: (o.alarmEmails as readonly string[] | undefined) ?? [],
    keysetSecretName: (o.keysetSecretName as string | undefined) ?? `${prefix}alphapulse/encryption/master_key`,
    rotationLogSecretName: (o.rotationLogSecretName as string | undefined) ?? `${prefix}alphapulse/encryption/rotation_log`,
    rotationWindowHours: (o.rotationWindowHours as number | undefined) ?? DEFAULT_ROTATION_WINDOW_HOURS,
    reservedConcurrency: (o.reservedConcurrency as boolean | undefined) ?? true,
    logRetentionDays: (o.logRetentionDays as number | undefined) ?? 365,
    roleTrust: (o.roleTrust as RoleTrust | undefined) ?? {},
    keyAdministratorMfa: (o.keyAdministratorMfa as boolean | undefined) ?? true,
    ...(o.breakGlassPrincipalArn !== undefined ? { breakGlassPrincipalArn: o.breakGlassPrincipalArn as string } : {}),
    ...(o.deploymentRoleArn !== undefined ? { deploymentRoleArn: o.deploymentRoleArn as string } : {}),
  };
  validateStageConfig(config);
  return config;
}

/** @throws ConfigError naming the first field that cannot be deployed */
export function validateStageConfig(c: StageConfig): void {
  validateRotationPeriod(c.rotationPeriodDays);
  if (!isPositiveInteger(c.warningWindowDays)) {
    throw new ConfigError('warningWindowDays', `must be a whole number of days >= 1, got ${describe(c.warningWindowDays)}`);
  }
  if (c.rotationPeriodDays !== null && c.warningWindowDays >= c.rotationPeriodDays) {
    throw new ConfigError('warningWindowDays', `must be shorter than rotationPeriodDays (${c.rotationPeriodDays}), got ${c.warningWindowDays}`);
  }
  if (c.removalPolicy !== 'retain' && c.removalPolicy !== 'destroy') {
    throw new ConfigError('removalPolicy', `must be 'retain' or 'destroy', got ${describe(c.removalPolicy)}`);
  }
  if (!Array.isArray(c.alarmEmails)) throw new ConfigError('alarmEmails', `must be a list of e-mail addresses, got ${describe(c.alarmEmails)}`);
  c.alarmEmails.forEach((email, i) => {
    if (typeof email !== 'string' || !EMAIL.test(email)) throw new ConfigError(`alarmEmails[${i}]`, `is not an e-mail address: ${describe(email)}`);
  });
  validateSecretName('keysetSecretName', c.keysetSecretName);
  validateSecretName('rotationLogSecretName', c.rotationLogSecretName);
  if (c.keysetSecretName === c.rotationLogSecretName) {
    throw new ConfigError('rotationLogSecretName', `must differ from keysetSecretName ('${c.keysetSecretName}')`);
  }
  if (typeof c.reservedConcurrency !== 'boolean') {
    throw new ConfigError('reservedConcurrency', `must be true or false, got ${describe(c.reservedConcurrency)}`);
  }
  if (!isPositiveInteger(c.rotationWindowHours) || c.rotationWindowHours > 24) {
    throw new ConfigError('rotationWindowHours', `must be a whole number of hours from 1 to 24 (Secrets Manager's window must not run into the next UTC day), got ${describe(c.rotationWindowHours)}`);
  }
  if (!(LOG_RETENTION_DAYS_ALLOWED as readonly unknown[]).includes(c.logRetentionDays)) {
    throw new ConfigError('logRetentionDays', `must be at least a year and one of ${LOG_RETENTION_DAYS_ALLOWED.join(', ')}, got ${describe(c.logRetentionDays)}`);
  }
  if (c.roleTrust === null || typeof c.roleTrust !== 'object' || Array.isArray(c.roleTrust)) {
    throw new ConfigError('roleTrust', `must be an object keyed by role, got ${describe(c.roleTrust)}`);
  }
  for (const [role, principals] of Object.entries(c.roleTrust)) {
    if (!(ROLE_TRUST_FIELDS as readonly string[]).includes(role)) {
      throw new ConfigError(`roleTrust.${role}`, `is not a role; expected one of ${ROLE_TRUST_FIELDS.join(', ')}`);
    }
    if (!Array.isArray(principals)) throw new ConfigError(`roleTrust.${role}`, `must be a list of IAM role or user ARNs, got ${describe(principals)}`);
    principals.forEach((principal: unknown, i) => {
      if (typeof principal !== 'string' || !PRINCIPAL.test(principal)) {
        throw new ConfigError(
          `roleTrust.${role}[${i}]`,
          `must be an IAM role or user ARN (arn:aws:iam::<account>:role/<name>); a whole account or its root is not accepted, since any principal there could then assume the role — got ${describe(principal)}`,
        );
      }
    });
  }
  if (typeof c.keyAdministratorMfa !== 'boolean') throw new ConfigError('keyAdministratorMfa', `must be true or false, got ${describe(c.keyAdministratorMfa)}`);
  if (c.breakGlassPrincipalArn !== undefined && (typeof c.breakGlassPrincipalArn !== 'string' || !ROLE_ARN.test(c.breakGlassPrincipalArn))) {
    throw new ConfigError('breakGlassPrincipalArn', `must be one IAM role ARN (arn:aws:iam::<account>:role/<name>, no wildcard), got ${describe(c.breakGlassPrincipalArn)}`);
  }
  if (c.deploymentRoleArn !== undefined && (typeof c.deploymentRoleArn !== 'string' || !ROLE_ARN.test(c.deploymentRoleArn))) {
    throw new ConfigError('deploymentRoleArn', `must be one IAM role ARN (arn:aws:iam::<account>:role/<name>, no wildcard), got ${describe(c.deploymentRoleArn)}`);
  }
}

function validateRotationPeriod(days: number | null): void {
  if (days === null) return;
  if (!isPositiveInteger(days)) throw new ConfigError('rotationPeriodDays', `must be a whole number of days >= 1 or null (manual only), got ${describe(days)}`);
  if (days > MAX_ROTATION_PERIOD_DAYS) {
    throw new ConfigError(
      'rotationPeriodDays',
      `must not exceed ${MAX_ROTATION_PERIOD_DAYS} days, got ${days}: PCI DSS 3.6.4 requires keys to change at the end of a defined cryptoperiod, which we cap at one year`,
    );
  }
}

function validateSecretName(field: string, name: unknown): void {
  if (typeof name !== 'string' || !SECRET_NAME.test(name)) {
    throw new ConfigError(field, `must be 1-512 characters of letters, digits and /_+=.@-, got ${describe(name)}`);
  }
  if (SECRET_NAME_AMBIGUOUS_SUFFIX.test(name)) {
    throw new ConfigError(field, `must not end in a hyphen and six characters (Secrets Manager's ARN suffix), got '${name}'`);
  }
}

function isPositiveInteger(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 1;
}

function describe(value: unknown): string {
  return typeof value === 'string' ? `'${value.slice(0, 80)}'` : JSON.stringify(value) ?? String(value);
}
