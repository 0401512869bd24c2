/**
 * Running a Lambda handler bundle the way Lambda does, in a separate Node.js process: `invokeBundle`
 * spawns lambda-runner.js with the event on stdin and reads back its one `@@RESULT` line;
 * `bundleRotationHandler` builds lambda/rotation/handler.ts exactly as the CDK construct bundles it (via
 * bench/bundle.ts's bundleLikeLambda, which reads lib/bundling.ts), once per test file;
 * `bundleRotationFunction` adapts a bundle to the Secrets Manager model's rotation-function hook, and
 * `bundleLambdaHandler` to a function of the Lambda model (lambda-service.ts), which Invoke runs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { runProcess } from './process';
import type { LambdaHandler } from './lambda-service';
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
}

/**
 * A rotation-function hook that invokes the bundle once per step through `invokeBundle`; a failed (or
 * timed-out) invocation throws, which the model records as RotationFailed.
 */
export function bundleRotationFunction(bundleFile: string, envForFunction: NodeJS.ProcessEnv, options: BundleRotationFunctionOptions = {}): RotationFunction {
  const { toEvent, onInvoke, ...invokeOptions } = options;
  return async (event: RotationEvent) => {
    const result = await invokeBundle(bundleFile, toEvent ? toEvent(event) : event, { ...invokeOptions, env: envForFunction });
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
