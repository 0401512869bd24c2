/**
 * What every command needs: the global options, the store they name, a key manager over it with the
 * audit and metrics sinks, and output helpers that honour --json.
 */
import type { Command } from 'commander';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_ROTATION_PERIOD_DAYS, KeyManager } from '../lambda/key-manager';
import { KeyManagementError } from '../lambda/keys/errors';
import { MAX_ROTATION_PERIOD_DAYS } from '../lambda/contract';
import { openStore, parseStoreUri, resolveStoreUri, STORE_ENV_VAR } from '../lambda/stores/open-store';
import type { KeysetStore } from '../lambda/stores/store';
import { type AuditEvent, type AuditSink, FileAuditSink } from '../lambda/telemetry/audit';
import { type MetricsSink, noopMetrics } from '../lambda/telemetry/metrics';
import { awsActor, awsMetrics } from './aws-runtime';
import { CliFailure, EXIT_FAILED } from './failure';
import { printable } from './terminal-text';

/** Runs one command's body with a runtime built from the global options; a returned number is the exit code. */
export type RunWith = (body: (rt: Runtime) => Promise<number | void>) => Promise<void>;

/** Adds a command (or a group) to the program. */
export type CommandRegistrar = (program: Command, run: RunWith, io: CliIo) => void;

export const AUDIT_LOG_ENV_VAR = 'KEY_MANAGER_AUDIT_LOG';

export interface GlobalOptions {
  readonly store?: string;
  readonly json?: boolean;
  readonly debug?: boolean;
  readonly auditLog?: string;
  readonly region?: string;
  readonly endpointUrl?: string;
  readonly rotationDays?: string;
}

/** Streams and environment, injected so tests run commands in-process. */
export interface CliIo {
  readonly stdin: NodeJS.ReadableStream;
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly env: NodeJS.ProcessEnv;
  readonly isTTY: boolean;
}

export interface Runtime {
  readonly options: GlobalOptions;
  readonly io: CliIo;
  readonly storeUri: string;
  readonly store: KeysetStore;
  readonly manager: KeyManager;
  readonly audit: AuditSink;
  readonly metrics: MetricsSink;
}

/** The store a command ran on, as the advice names it again (cli/advice.ts). */
export function storeContext(rt: Runtime): { readonly storeKind: string; readonly storeUri: string; readonly storeNamed: boolean } {
  return { storeKind: rt.store.kind, storeUri: rt.storeUri, storeNamed: rt.options.store !== undefined || Boolean(rt.io.env[STORE_ENV_VAR]) };
}

/** Hooks for tests and for the AWS-backed pieces (caller identity, metrics) to plug in. */
export interface RuntimeFactories {
  metrics?: (options: GlobalOptions, io: CliIo) => MetricsSink | undefined;
  actor?: (options: GlobalOptions, io: CliIo, store: KeysetStore) => Promise<string | undefined>;
}

/** Defaults: for aws stores, the STS caller identity as actor and CloudWatch metrics; nothing extra otherwise. */
export const factories: RuntimeFactories = { actor: awsActor, metrics: awsMetrics };

/**
 * The audit log: --audit-log, else KEY_MANAGER_AUDIT_LOG, else `audit.jsonl` beside a file keyset, else
 * (env, aws, vault stores) a file named for the store under the user's state directory,
 * `$XDG_STATE_HOME/alphapulse-keys/audit/aws-alphapulse%2Fencryption%2Fmaster_key.jsonl` (XDG_STATE_HOME
 * defaults to ~/.local/state): one operator's record of one store, wherever the command is run from,
 * and never a stray `.alphapulse/` in whatever directory that is. The CLI always audits to a local file
 * so stdout stays clean for data (`encrypt > out.json`); the Lambda audits to stdout, which CloudWatch
 * Logs keeps.
 */
export function auditLogPath(options: GlobalOptions, env: NodeJS.ProcessEnv, storeUri: string): string {
  if (options.auditLog) return options.auditLog;
  if (env[AUDIT_LOG_ENV_VAR]) return env[AUDIT_LOG_ENV_VAR] as string;
  const parsed = parseStoreUri(storeUri);
  if (parsed.kind === 'file') return path.join(path.dirname(parsed.target), 'audit.jsonl');
  const state = env.XDG_STATE_HOME || path.join(env.HOME || os.homedir(), '.local', 'state');
  return path.join(state, 'alphapulse-keys', 'audit', `${parsed.kind}${parsed.target ? `-${encodeURIComponent(parsed.target)}` : ''}.jsonl`);
}

/** The audit file, failing with which file it is and what to do (the file system's own error names neither). */
class AuditLog implements AuditSink {
  private readonly file: FileAuditSink;

  constructor(readonly filePath: string) {
    this.file = new FileAuditSink(filePath);
  }

  async write(event: AuditEvent): Promise<void> {
    try {
      await this.file.write(event);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'write error';
      throw new CliFailure('AUDIT_UNAVAILABLE', `cannot append to the audit log ${this.filePath} (${code}), so '${event.action}' has no audit record; pass --audit-log FILE or set ${AUDIT_LOG_ENV_VAR} to a writable file`, EXIT_FAILED, { cause: err });
    }
  }
}

export function rotationDays(options: GlobalOptions): number {
  if (options.rotationDays === undefined) return DEFAULT_ROTATION_PERIOD_DAYS;
  const n = Number(options.rotationDays);
  if (!Number.isInteger(n) || n < 1 || n > MAX_ROTATION_PERIOD_DAYS) {
    throw new KeyManagementError('INVALID_INPUT', `--rotation-days must be a whole number of days from 1 to ${MAX_ROTATION_PERIOD_DAYS} (PCI DSS 3.6.4), got '${options.rotationDays}'`);
  }
  return n;
}

/** The store URI to use; a bad one from KEY_MANAGER_STORE says so, since the command line shows none. */
function storeUriOf(options: GlobalOptions, env: NodeJS.ProcessEnv): string {
  const uri = resolveStoreUri(options.store, env);
  try {
    parseStoreUri(uri);
  } catch (err) {
    if (options.store !== undefined || !env[STORE_ENV_VAR] || !(err instanceof KeyManagementError)) throw err;
    throw new KeyManagementError(err.code, `${STORE_ENV_VAR}='${uri.slice(0, 100)}' is not a store: ${err.message}; fix or unset ${STORE_ENV_VAR}, or pass --store`);
  }
  return uri;
}

export async function openRuntime(options: GlobalOptions, io: CliIo): Promise<Runtime> {
  const storeUri = storeUriOf(options, io.env);
  const store = openStore(storeUri, { env: io.env, region: options.region, endpointUrl: options.endpointUrl });
  const audit = new AuditLog(auditLogPath(options, io.env, storeUri));
  const metrics = factories.metrics?.(options, io) ?? noopMetrics;
  const actor = (await factories.actor?.(options, io, store)) ?? undefined;
  const manager = new KeyManager({
    store,
    audit,
    metrics,
    actor,
    auditDataOperations: true,
    rotationPeriodDays: rotationDays(options),
  });
  return { options, io, storeUri, store, manager, audit, metrics };
}

/**
 * Prints a result: with --json one JSON object on one line (every command alike, so scripts can read any
 * of them the same way, and several runs make JSON Lines), else the human lines, each escaped so that
 * text from the keyset or the audit log cannot add lines of its own.
 */
export function emit(rt: Pick<Runtime, 'options' | 'io'>, json: Record<string, unknown> | object, human: string | string[]): void {
  if (rt.options.json) rt.io.stdout.write(`${JSON.stringify(json)}\n`);
  else rt.io.stdout.write(`${(Array.isArray(human) ? human : [human]).map(printable).join('\n')}\n`);
}

/** What a command reads with readInput, for its limit and its messages. */
export interface InputKind {
  /** Most bytes accepted. */
  readonly limit: number;
  /** Over the limit: the error to raise, given where the input came from. */
  readonly tooLarge: (source: string, limit: number) => KeyManagementError;
  /** Nothing to work on: no bytes, or with `blankIsEmpty` only whitespace. */
  readonly empty: (source: string) => KeyManagementError;
  readonly blankIsEmpty?: boolean;
}

/**
 * Reads all of a file or stdin, refusing more than `kind.limit` bytes and an empty input: an empty pipe is
 * almost always an upstream command that failed, and must not turn into an envelope of nothing.
 */
export async function readInput(io: CliIo, file: string | undefined, kind: InputKind): Promise<Buffer> {
  const { createReadStream } = await import('node:fs');
  const fromStdin = file === undefined || file === '-';
  const source = fromStdin ? 'stdin' : file;
  const stream = fromStdin ? io.stdin : createReadStream(file);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
      size += buf.length;
      if (size > kind.limit) throw kind.tooLarge(source, kind.limit);
      chunks.push(buf);
    }
  } catch (err) {
    if (err instanceof KeyManagementError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new KeyManagementError('INVALID_INPUT', `cannot read ${source}: ${code === 'ENOENT' ? 'no such file' : (code ?? 'read error')}`);
  }
  const data = Buffer.concat(chunks);
  if (data.length === 0 || (kind.blankIsEmpty && isBlank(data))) throw kind.empty(source);
  return data;
}

function isBlank(data: Buffer): boolean {
  for (const byte of data) if (byte !== 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0d) return false;
  return true;
}
