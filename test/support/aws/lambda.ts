/**
 * Running a Lambda handler bundle the way Lambda does, in a separate Node.js process: `invokeBundle`
 * spawns lambda-runner.js with the event on stdin and reads back its one `@@RESULT` line;
 * `bundleRotationHandler` builds lambda/rotation/handler.ts exactly as the CDK construct bundles it (via
 * bench/bundle.ts's bundleLikeLambda, which reads lib/bundling.ts), once per test file;
 * `bundleRotationFunction` adapts a bundle to the Secrets Manager model's rotation-function hook, and
 * `bundleLambdaHandler` to a function of the Lambda model (lambda-service.ts), which Invoke runs (a cold
 * start per invocation), and `warmLambdaHandler` to one whose environments stay warm between invocations.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { runProcess } from './process';
import type { LambdaHandler, LambdaOutcome } from './lambda-service';
import type { RotationEvent, RotationFunction } from './secrets-manager';

export const LAMBDA_RUNNER = path.join(__dirname, 'lambda-runner.js');
export const RESULT_PREFIX = '@@RESULT ';

export interface InvokeBundleOptions {
  /** The function's environment (PATH is added). Nothing else of this process's environment is passed. */
  readonly env?: NodeJS.ProcessEnv;
  /** The function timeout. @default 3000 (Lambda's default) */
  readonly timeoutMs?: number;
  /** @default 'stand-in-function' */
  readonly functionName?: string;
  /** @default arn:aws:lambda:<AWS_REGION>:123456789012:function:<functionName> */
  readonly functionArn?: string;
}

export interface InvokeResult {
  /** The handler resolved (result is its value). */
  readonly ok: boolean;
  readonly result?: unknown;
  /** The handler's promise did not settle within the timeout (ok is false). */
  readonly timedOut: boolean;
  readonly errorName?: string;
  readonly errorMessage?: string;
  /** The error's `code` property, when it had a string one. */
  readonly errorCode?: string;
  /** 'init' when requiring the bundle failed. */
  readonly phase?: 'init';
  /** Everything the function wrote to stdout except the result line. */
  readonly logs: string;
  readonly stderr: string;
  readonly durationMs: number;
  readonly exitCode: number | null;
}

export async function invokeBundle(bundleFile: string, event: unknown, options: InvokeBundleOptions = {}): Promise<InvokeResult> {
  const timeoutMs = options.timeoutMs ?? 3_000;
  const functionName = options.functionName ?? 'stand-in-function';
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    ...options.env,
    AWS_LAMBDA_FUNCTION_NAME: functionName,
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '128',
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${functionName}`,
    LAMBDA_RUNNER_TIMEOUT_MS: String(timeoutMs),
    ...(options.functionArn ? { LAMBDA_RUNNER_FUNCTION_ARN: options.functionArn } : {}),
  };
  const run = await runProcess(process.execPath, ['--no-warnings', LAMBDA_RUNNER, bundleFile], { env, stdin: JSON.stringify(event), timeoutMs: timeoutMs + 10_000 });
  const lines = run.stdout.split('\n');
  const resultLine = [...lines].reverse().find((l) => l.startsWith(RESULT_PREFIX));
  const logs = lines.filter((l) => l !== resultLine).join('\n');
  const base = { logs, stderr: run.stderr, durationMs: run.durationMs, exitCode: run.code };
  if (resultLine === undefined) {
    return {
      ...base,
      ok: false,
      timedOut: run.timedOut,
      errorName: run.timedOut ? 'Sandbox.Timedout' : 'Runtime.ExitError',
      errorMessage: run.timedOut ? 'the runner did not answer (killed)' : `the runner exited (code ${run.code}, signal ${run.signal}) without a result: ${run.stderr.trim().slice(-500)}`,
    };
  }
  const outcome = JSON.parse(resultLine.slice(RESULT_PREFIX.length)) as {
    ok: boolean;
    result?: unknown;
    timedOut?: boolean;
    errorName?: string;
    errorMessage?: string;
    errorCode?: string;
    phase?: 'init';
  };
  return {
    ...base,
    ok: outcome.ok,
    timedOut: outcome.timedOut === true,
    ...(outcome.ok ? { result: outcome.result } : {}),
    ...(outcome.errorName !== undefined ? { errorName: outcome.errorName } : {}),
    ...(outcome.errorMessage !== undefined ? { errorMessage: outcome.errorMessage } : {}),
    ...(outcome.errorCode !== undefined ? { errorCode: outcome.errorCode } : {}),
    ...(outcome.phase !== undefined ? { phase: outcome.phase } : {}),
  };
}

const bundles = new Map<string, Promise<string>>();
let defaultDir: string | undefined;

/**
 * Builds lambda/rotation/handler.ts as the CDK construct does and returns the bundle's path. Built once
 * per `outDir` per module instance, and jest gives each test file its own: once per test file run.
 * Without `outDir`, a temporary directory (per jest worker) removed when the process exits.
 */
export function bundleRotationHandler(outDir?: string): Promise<string> {
  let dir = outDir;
  if (dir === undefined) {
    if (defaultDir === undefined) {
      const made = mkdtempSync(path.join(tmpdir(), `aws-stand-in-bundle-w${process.env.JEST_WORKER_ID ?? '0'}-`));
      defaultDir = made;
      process.once('exit', () => rmSync(made, { recursive: true, force: true }));
    }
    dir = defaultDir;
  }
  let built = bundles.get(dir);
  if (!built) {
    const out = dir;
    // Loaded on first use, so importing the stand-in does not load esbuild.
    built = Promise.all([import('../../../bench/bundle'), import('../../../lib/bundling')]).then(async ([{ bundleLikeLambda, repoRoot }, { ROTATION_HANDLER_ENTRY }]) => (await bundleLikeLambda(repoRoot(__dirname), ROTATION_HANDLER_ENTRY, out)).file);
    bundles.set(dir, built);
    built.catch(() => bundles.delete(dir as string));
  }
  return built;
}

export interface BundleRotationFunctionOptions extends Omit<InvokeBundleOptions, 'env'> {
  /** Turns Secrets Manager's step event into the event the bundle expects. @default the step event as is */
  readonly toEvent?: (event: RotationEvent) => unknown;
  /** Called with each invocation's result (for assertions on logs). */
  readonly onInvoke?: (event: RotationEvent, result: InvokeResult) => void;
  /**
   * Where Lambda sends the function's log: each line the invocation wrote to stdout becomes an event of `logGroup`
   * (and so, in the stand-in, any metric in the embedded metric format among them a CloudWatch metric).
   */
  readonly logsTo?: FunctionLogs;
}

/** A function's log group in the stand-in's CloudWatch Logs. */
export interface FunctionLogs {
  readonly logs: { putEvents(logGroup: string, events: ReadonlyArray<{ timestamp: number; message: string }>): void };
  readonly logGroup: string;
}

/**
 * What Lambda does with an invocation's output ("Sending Lambda function logs to CloudWatch Logs"): each line it wrote
 * to stdout becomes an event of the function's log group, where the stand-in's CloudWatch Logs extracts the metrics
 * of those in the embedded metric format.
 */
export function deliverLogs(to: FunctionLogs, invocation: Pick<InvokeResult, 'logs'>): void {
  const timestamp = Date.now();
  to.logs.putEvents(to.logGroup, invocation.logs.split('\n').filter((line) => line.trim() !== '').map((message) => ({ timestamp, message })));
}

/**
 * A rotation-function hook that invokes the bundle once per step through `invokeBundle`; a failed (or
 * timed-out) invocation throws, which the model records as RotationFailed.
 */
export function bundleRotationFunction(bundleFile: string, envForFunction: NodeJS.ProcessEnv, options: BundleRotationFunctionOptions = {}): RotationFunction {
  const { toEvent, onInvoke, logsTo, ...invokeOptions } = options;
  return async (event: RotationEvent) => {
    const result = await invokeBundle(bundleFile, toEvent ? toEvent(event) : event, { ...invokeOptions, env: envForFunction });
    if (logsTo) deliverLogs(logsTo, result);
    onInvoke?.(event, result);
    if (!result.ok) {
      throw Object.assign(new Error(result.errorMessage ?? 'the invocation failed'), { name: result.errorName ?? 'Error', invocation: result });
    }
    return result.result;
  };
}

/**
 * A Lambda model function that runs the bundle once per invocation through `invokeBundle`, with the
 * function's own name and ARN: the handler's result, or its error as Lambda reports it (`errorType` =
 * the error's name, `Sandbox.Timedout` for a timeout), and its stdout as the invocation's log.
 */
export function bundleLambdaHandler(bundleFile: string, envForFunction: NodeJS.ProcessEnv, options: Pick<InvokeBundleOptions, 'timeoutMs'> = {}): LambdaHandler {
  return async (event, context) => {
    const result = await invokeBundle(bundleFile, event, { ...options, env: envForFunction, functionName: context.functionName, functionArn: context.functionArn });
    if (result.ok) return { ok: true, result: result.result, logs: result.logs };
    return { ok: false, errorType: result.errorName ?? 'Error', errorMessage: result.errorMessage ?? 'the invocation failed', logs: result.logs };
  };
}

export const LAMBDA_WARM_RUNNER = path.join(__dirname, 'lambda-warm-runner.js');

/** A Lambda model function whose execution environments stay warm between invocations (`close` ends them). */
export interface WarmLambdaHandler extends LambdaHandler {
  /** Environments started so far: the cold starts. */
  readonly coldStarts: number;
  /** Ends every environment (an invocation still running fails). */
  close(): Promise<void>;
}

interface WarmEnvironment {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  alive: boolean;
  pending?: { readonly id: number; started: boolean; readonly logs: string[]; readonly settle: (outcome: LambdaOutcome) => void };
}

/**
 * As `bundleLambdaHandler`, but as Lambda runs a function that is invoked again while warm: an execution
 * environment (lambda-warm-runner.js, one process) requires the bundle once and runs one invocation at a time,
 * so module state (the handler's clients, built on its first invocation) carries from one invocation to the
 * next, and a rotation's four steps cost one cold start instead of four. A second invocation while every
 * environment is busy starts another, as Lambda scales out; one that timed out or crashed is not reused.
 */
export function warmLambdaHandler(bundleFile: string, envForFunction: NodeJS.ProcessEnv, options: Pick<InvokeBundleOptions, 'timeoutMs'> = {}): WarmLambdaHandler {
  const timeoutMs = options.timeoutMs ?? 3_000;
  const idle: WarmEnvironment[] = [];
  const all = new Set<WarmEnvironment>();
  let nextId = 0;
  let coldStarts = 0;

  const start = (context: { functionName: string; functionArn: string }): WarmEnvironment => {
    coldStarts++;
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      ...envForFunction,
      AWS_LAMBDA_FUNCTION_NAME: context.functionName,
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '128',
      AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${context.functionName}`,
      LAMBDA_RUNNER_TIMEOUT_MS: String(timeoutMs),
      LAMBDA_RUNNER_FUNCTION_ARN: context.functionArn,
    };
    const child = spawn(process.execPath, ['--no-warnings', LAMBDA_WARM_RUNNER, bundleFile], { env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    const environment: WarmEnvironment = { child, stdout: '', stderr: '', alive: true };
    all.add(environment);
    child.stdin?.on('error', () => undefined);
    child.stderr?.on('data', (c: Buffer) => (environment.stderr = (environment.stderr + c.toString('utf8')).slice(-4_000)));
    child.stdout?.on('data', (c: Buffer) => {
      environment.stdout += c.toString('utf8');
      let nl: number;
      while ((nl = environment.stdout.indexOf('\n')) >= 0) {
        const line = environment.stdout.slice(0, nl);
        environment.stdout = environment.stdout.slice(nl + 1);
        onLine(environment, line);
      }
    });
    child.on('close', (code, signal) => {
      environment.alive = false;
      all.delete(environment);
      const i = idle.indexOf(environment);
      if (i >= 0) idle.splice(i, 1);
      environment.pending?.settle({ ok: false, errorType: 'Runtime.ExitError', errorMessage: `the environment exited (code ${code}, signal ${signal}) without a result: ${environment.stderr.trim().slice(-500)}`, logs: environment.pending.logs.join('\n') });
    });
    return environment;
  };

  const onLine = (environment: WarmEnvironment, line: string) => {
    const pending = environment.pending;
    if (!pending) return;
    if (line === `@@START ${pending.id}`) {
      pending.started = true;
      return;
    }
    const prefix = `@@RESULT ${pending.id} `;
    if (!line.startsWith(prefix)) {
      if (pending.started) pending.logs.push(line);
      return;
    }
    const outcome = JSON.parse(line.slice(prefix.length)) as { ok: boolean; result?: unknown; errorName?: string; errorMessage?: string };
    const logs = pending.logs.join('\n');
    pending.settle(outcome.ok ? { ok: true, result: outcome.result, logs } : { ok: false, errorType: outcome.errorName ?? 'Error', errorMessage: outcome.errorMessage ?? 'the invocation failed', logs });
  };

  const kill = (environment: WarmEnvironment) => {
    try {
      if (environment.child.pid !== undefined) process.kill(-environment.child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };

  const handler = (async (event, context) => {
    const environment = idle.pop() ?? start(context);
    const id = ++nextId;
    const outcome = await new Promise<LambdaOutcome>((resolve) => {
      // The runner ends a timed-out invocation itself; this is for a runner that cannot (a blocked event loop).
      const timer = setTimeout(() => {
        kill(environment);
        settle({ ok: false, errorType: 'Sandbox.Timedout', errorMessage: 'the environment did not answer (killed)', logs: environment.pending?.logs.join('\n') ?? '' });
      }, timeoutMs + 10_000);
      const settle = (o: LambdaOutcome) => {
        clearTimeout(timer);
        environment.pending = undefined;
        resolve(o);
      };
      environment.pending = { id, started: false, logs: [], settle };
      environment.child.stdin?.write(`${JSON.stringify({ id, event })}\n`);
    });
    // A timed-out or crashed environment exits by itself; a live one waits for the next invocation.
    if (environment.alive && !(outcome.ok === false && /^(Sandbox\.Timedout|Runtime\.)/.test(outcome.errorType))) idle.push(environment);
    return outcome;
  }) as WarmLambdaHandler;
  Object.defineProperty(handler, 'coldStarts', { get: () => coldStarts });
  handler.close = async () => {
    const closing = [...all].map((environment) => new Promise<void>((resolve) => (environment.alive ? environment.child.once('close', () => resolve()) : resolve())));
    for (const environment of all) kill(environment);
    await Promise.all(closing);
  };
  return handler;
}
