/**
 * What an operator should run next, by error code and by the command that failed. The runtime's messages
 * say what went wrong, for services that log them; which key-manager command fixes it, and which of the
 * stack's roles a command needs, is the CLI's to say, here. Runtime messages that still carry CLI advice
 * move it here as they are made neutral.
 */
import { APPLICATION_SERVICE_ROLE, KEY_ADMINISTRATOR_ROLE } from '../lambda/stores/secrets-manager-errors';

export const BACKUP_SERVICE_ROLE = 'Backup Service role';
export const AUDIT_SERVICE_ROLE = 'Audit Service role';

/** Commands that change the keyset: on the aws store they need the Key Administrator role. */
const WRITES = new Set(['init', 'rotate', 'disable-version', 'enable-version', 'destroy-version', 'recover', 'import-legacy']);

/** The role of the stack (and its CloudFormation output) a command runs as. */
export function roleFor(command: string | undefined): string {
  if (command !== undefined && WRITES.has(command)) return `the stack's ${KEY_ADMINISTRATOR_ROLE} (output KeyAdministratorRoleArn)`;
  if (command === 'export') return `the stack's ${BACKUP_SERVICE_ROLE} (output BackupServiceRoleArn)`;
  if (command === 'audit') return `the stack's ${AUDIT_SERVICE_ROLE} (output AuditServiceRoleArn)`;
  return `the stack's ${APPLICATION_SERVICE_ROLE} (output ApplicationServiceRoleArn) or its ${KEY_ADMINISTRATOR_ROLE}`;
}

export interface FailedCommand {
  /** The command's name (`rotate`), undefined when none was reached. */
  readonly command?: string;
  /** The kind of store it used, once opened. */
  readonly storeKind?: string;
}

/** The next step for `code` after `failed`, or undefined when the message already says all there is. */
export function adviceFor(code: string, message: string, failed: FailedCommand): string | undefined {
  switch (code) {
    case 'VERSION_DISABLED': {
      const version = /\bversion (\d+) is disabled\b/.exec(message)?.[1] ?? 'N';
      return `re-encrypt the data still under it onto the primary with 'key-manager reencrypt --in FILE --out NEW' (it reads disabled versions); only if it was disabled by mistake, 'key-manager enable-version --version ${version}'`;
    }
    case 'ROTATION_IN_PROGRESS':
      // A rotation that outlived --wait is Secrets Manager's to finish or retry; the other case already says how to clear it.
      return /\bhas not finished after\b/.test(message)
        ? "follow it with 'key-manager status' (it shows the rotation in progress, and once it is stuck how to clear it); the rotation function's log says why a step failed"
        : undefined;
    case 'UNKNOWN_VERSION':
      return failed.command === 'derive' ? 'check --version and --store' : 'check --store (is this data from another stage?)';
    case 'ACCESS_DENIED': {
      // Only the aws store's denials are about the stack's roles (a file's are about its owner, Vault's about its
      // policy). A message that already names the role this command needs (S3, CloudWatch Logs) says enough.
      if (failed.storeKind !== 'aws' || failed.command === undefined) return undefined;
      const role = roleFor(failed.command);
      return message.includes(role) ? undefined : `'key-manager ${failed.command}' runs as ${role}`;
    }
    default:
      return undefined;
  }
}

/** `message` with its advice, as the one line the CLI prints. */
export function withAdvice(code: string, message: string, failed: FailedCommand): string {
  const advice = adviceFor(code, message, failed);
  return advice === undefined ? message : `${message}; ${advice}`;
}
