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
  /** The store's URI (`file:...`, `aws:...`), once opened. */
  readonly storeUri?: string;
  /** Whether the store was named (--store or KEY_MANAGER_STORE) rather than the default file. */
  readonly storeNamed?: boolean;
}

/** One rule: the advice for a failure with `code` whose message and command match. */
interface AdviceRule {
  readonly code: string;
  advise(message: string, failed: FailedCommand): string | undefined;
}

const versionIn = (message: string, pattern: RegExp) => pattern.exec(message)?.[1] ?? 'N';

/** `key-manager <command>` on the store that failed: a named store is named again. */
function km(command: string, failed: FailedCommand): string {
  return failed.storeNamed && failed.storeUri ? `key-manager --store ${failed.storeUri} ${command}` : `key-manager ${command}`;
}

/**
 * The runtime's messages say what went wrong and what state things are in; these rules add which key-manager
 * command fixes it. A rule that returns undefined leaves the message as it is.
 */
const RULES: readonly AdviceRule[] = [
  {
    code: 'VERSION_DISABLED',
    advise: (message) =>
      `re-encrypt the data still under it onto the primary with 'key-manager reencrypt --in FILE --out NEW' (it reads disabled versions); only if it was disabled by mistake, 'key-manager enable-version --version ${versionIn(message, /\bversion (\d+) is disabled\b/)}'`,
  },
  {
    code: 'INVALID_TRANSITION',
    advise: (message, failed) => {
      if (failed.command === 'recover' && message.startsWith('refusing to recover')) return 'rerun with --force only if those keys are meant to go';
      if (/is the primary and cannot be disabled/.test(message)) return "rotate first ('key-manager rotate'), or rotate and disable it in one step with 'key-manager rotate --emergency --reason <incident>'";
      if (/only a disabled version can be destroyed/.test(message)) return `'key-manager disable-version --version ${versionIn(message, /^version (\d+)/)} --reason <why>' first`;
      return undefined;
    },
  },
  {
    code: 'ROTATION_FAILED',
    // health's overdue check: the key is past its period.
    advise: (message, failed) => (failed.command === 'health' && /past the \d+-day period/.test(message) ? `run '${km('rotate', failed)}'` : undefined),
  },
  {
    code: 'ROTATION_IN_PROGRESS',
    // A rotation that outlived --wait is Secrets Manager's to finish or retry; the other case already says how to clear it.
    advise: (message, failed) =>
      /\bhas not finished after\b/.test(message)
        ? `follow it with '${km('status', failed)}' (it shows the rotation in progress, and once it is stuck how to clear it); the rotation function's log says why a step failed`
        : undefined,
  },
  {
    code: 'ROTATION_IN_PROGRESS',
    advise: (message, failed) => (/purge its history once it has finished$/.test(message) ? `'${km('status', failed)}' shows when it has` : undefined),
  },
  {
    code: 'INVALID_TRANSITION',
    advise: (message, failed) => (/purge its history again after \S+$/.test(message) ? `then run '${km('purge-history --confirm', failed)}'` : undefined),
  },
  {
    code: 'UNKNOWN_VERSION',
    advise: (message, failed) => {
      if (failed.command === 'derive') return 'check --version and --store';
      if (/\(versions [\d, ]+\)$/.test(message)) return `'${km('status', failed)}' lists them`;
      return 'check --store (is this data from another stage?)';
    },
  },
  {
    code: 'KEYSET_NOT_FOUND',
    advise: (message, failed) => {
      if (failed.command === 'init' || failed.storeKind === 'env') return undefined;
      if (failed.storeKind === 'aws') return /the stack creates the secret and its first keyset$/.test(message) ? `deploy the stack, or if the secret exists but is empty, run '${km('init', failed)}'` : undefined;
      if (!/^no keyset (at|in)\b|has no KV v2 engine/.test(message)) return undefined;
      if (failed.storeKind === 'file') return failed.storeNamed ? "run 'key-manager init' with the same --store to create one" : "run 'key-manager init' to create one (or pass --store to use another store)";
      return `then run '${km('init', failed)}' to create it`;
    },
  },
  {
    code: 'KEYSET_INVALID',
    // The message already says to restore it from a backup: this names the command, on the store that failed.
    advise: (message, failed) => (message.startsWith('invalid keyset:') && failed.command !== 'recover' ? `to restore it: '${km('recover --in BACKUP --backup-key-file KEY', failed)}'` : undefined),
  },
  {
    code: 'KEYSET_TOO_LARGE',
    advise: () => "re-encrypt data off old versions ('key-manager reencrypt'), then disable and destroy them ('key-manager disable-version', 'key-manager destroy-version')",
  },
  {
    code: 'CONFLICT',
    advise: (_message, failed) => `'${km('status', failed)}' shows the current keyset`,
  },
  {
    code: 'STORE_READ_ONLY',
    advise: (message) => (message.startsWith('the env store is read-only:') ? "import it with 'key-manager --store file:PATH import-legacy --from-env'" : undefined),
  },
  {
    code: 'STORE_INSECURE',
    advise: (message, failed) => {
      const steps = [/then rotate:/.test(message) ? `'${km('rotate', failed)}'` : undefined, /check that its versions/.test(message) ? `'${km('status', failed)}' shows its versions` : undefined].filter(Boolean);
      return steps.length > 0 ? steps.join('; ') : undefined;
    },
  },
  {
    code: 'STORE_UNAVAILABLE',
    advise: (message, failed) => {
      const steps = [
        failed.storeKind === 'aws' && /any endpoint override \(AWS_ENDPOINT_URL\)/.test(message) ? 'key-manager takes the region and endpoint as --region and --endpoint-url' : undefined,
        /check the keyset's status before retrying/.test(message) ? `run '${km('status', failed)}' to see whether it landed` : undefined,
        /the error's cause is the SDK error$/.test(message) ? 'rerun with --debug to see it' : undefined,
      ].filter(Boolean);
      return steps.length > 0 ? steps.join('; ') : undefined;
    },
  },
  {
    code: 'KEYSET_EXISTS',
    advise: (message, failed) => (/it was not overwritten$/.test(message) && failed.storeKind === 'aws' ? `'${km('status', failed)}' shows it` : undefined),
  },
  {
    code: 'INVALID_INPUT',
    advise: (message) => (/^no AWS region for .*AWS_REGION is unset$/.test(message) ? 'pass --region or set AWS_REGION' : undefined),
  },
  {
    code: 'ACCESS_DENIED',
    advise: (message, failed) => {
      // Only the aws store's denials are about the stack's roles (a file's are about its owner, Vault's about its
      // policy). A message that already names the role this command needs (S3, CloudWatch Logs) says enough.
      if (failed.storeKind !== 'aws' || failed.command === undefined) return undefined;
      const role = roleFor(failed.command);
      return message.includes(role) ? undefined : `'key-manager ${failed.command}' runs as ${role}`;
    },
  },
];

/**
 * A warning from a command that did its job only in part, with the command that finishes it: the runtime's warnings
 * say what remains (e.g. older Secrets Manager versions holding destroyed material, "purge the secret's history").
 */
export function warningWithAdvice(warning: string, failed: FailedCommand): string {
  if (failed.storeKind === 'aws' && /\bpurg(e|ing) the secret's history\b/.test(warning)) return `${warning}; run '${km('purge-history --confirm', failed)}'`;
  return warning;
}

/** The next step for `code` after `failed`, or undefined when the message already says all there is. */
export function adviceFor(code: string, message: string, failed: FailedCommand): string | undefined {
  for (const rule of RULES) {
    if (rule.code !== code) continue;
    const advice = rule.advise(message, failed);
    if (advice !== undefined) return advice;
  }
  return undefined;
}

/** `message` with its advice, as the one line the CLI prints. */
export function withAdvice(code: string, message: string, failed: FailedCommand): string {
  const advice = adviceFor(code, message, failed);
  return advice === undefined ? message : `${message}; ${advice}`;
}
