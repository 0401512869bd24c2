/**
 * Lambda functions as far as a caller invokes them: a registry of functions, each a handler the test
 * supplies (for the rotation function, the real bundle run by `bundleLambdaHandler` in lambda.ts), and
 * the Invoke API in front of it.
 *
 * Modelled (AWS Lambda API Reference: Invoke, "Errors"; Developer Guide: "Lambda function errors",
 * "Invoking a Lambda function synchronously", "Sending Lambda function logs to CloudWatch Logs"):
 * - FunctionName as a name, a function ARN (`arn:aws:lambda:<region>:<account>:function:<name>`) or a
 *   partial ARN (`<account>:function:<name>`), optionally with a `:qualifier` suffix, or `Qualifier`;
 *   only `$LATEST` exists. Unknown: ResourceNotFoundException (404) "Function not found: <arn>".
 * - InvocationType RequestResponse (default): the handler runs, StatusCode 200, the payload is the
 *   handler's result as JSON (`null` for undefined); a handler error is still StatusCode 200, with
 *   FunctionError `Unhandled` and the payload `{"errorType","errorMessage","trace"}`. Event: 202, no
 *   payload, the handler runs after the answer. DryRun: 204, nothing runs.
 * - A payload that is not JSON: InvalidRequestContentException (400) "Could not parse request body into
 *   json: ...". Over 6 MB (synchronous): RequestTooLargeException (413).
 * - ExecutedVersion `$LATEST`; LogType `Tail` returns the last 4 KB of the invocation's log, base64.
 * - Logs: each invocation's log (START, the handler's output lines, END, REPORT) is appended to the
 *   function's log group (default `/aws/lambda/<name>`) in the stand-in's Logs model.
 *
 * Not modelled: the other Lambda APIs (functions are created in-process with `createFunction`),
 * versions and aliases, reserved concurrency and throttling, retries and destinations of Event
 * invocations, resource-based policies, response streaming, ClientContext, and the JSON log format
 * (log lines are stored as the handler wrote them, with text-format START/END/REPORT lines).
 */
import { randomUUID } from 'node:crypto';
import { AwsServiceError } from './errors';
import type { LogsModel } from './logs';
import type { RotationFunction } from './secrets-manager';

/** What one run of a handler produced. */
export type LambdaOutcome =
  | { readonly ok: true; readonly result: unknown; readonly logs?: string }
  | { readonly ok: false; readonly errorType: string; readonly errorMessage: string; readonly trace?: readonly string[]; readonly logs?: string };

/** The test's stand-in for a function's code: one invocation per call. */
export type LambdaHandler = (event: unknown, context: { readonly functionName: string; readonly functionArn: string; readonly requestId: string }) => Promise<LambdaOutcome>;

export interface InvokeInput {
  readonly FunctionName: string;
  readonly Qualifier?: string;
  readonly InvocationType?: string;
  readonly LogType?: string;
  /** The request body, as sent. */
  readonly Payload?: Buffer;
}

export interface InvokeOutput {
  readonly StatusCode: number;
  readonly FunctionError?: 'Unhandled';
  readonly ExecutedVersion?: string;
  readonly LogResult?: string;
  readonly Payload: Buffer;
}

export interface Invocation {
  readonly functionName: string;
  readonly event: unknown;
  readonly invocationType: string;
  readonly at: Date;
  outcome?: LambdaOutcome;
}

interface LambdaFunction {
  readonly name: string;
  readonly arn: string;
  readonly handler: LambdaHandler;
  readonly logGroup: string;
}

const MAX_SYNC_PAYLOAD = 6 * 1024 * 1024;
const LOG_TAIL_BYTES = 4096;

export class LambdaModel {
  /** Every invocation, in order. */
  readonly invocations: Invocation[] = [];
  private readonly functions = new Map<string, LambdaFunction>();
  private readonly running = new Set<Promise<unknown>>();

  constructor(private readonly options: { readonly region: string; readonly accountId: string; readonly clock: () => Date; readonly logs?: LogsModel }) {}

  /** Registers a function; its logs go to `logGroup` (default `/aws/lambda/<name>`). Returns its ARN. */
  createFunction(name: string, handler: LambdaHandler, options: { logGroup?: string } = {}): string {
    const arn = `arn:aws:lambda:${this.options.region}:${this.options.accountId}:function:${name}`;
    this.functions.set(name, { name, arn, handler, logGroup: options.logGroup ?? `/aws/lambda/${name}` });
    this.options.logs?.createLogGroup(options.logGroup ?? `/aws/lambda/${name}`);
    return arn;
  }

  /**
   * The function as Secrets Manager's rotation hook: each step is a RequestResponse invocation, and an
   * Unhandled function error fails the step (Secrets Manager then records RotationFailed).
   */
  rotationFunction(name: string): RotationFunction {
    return async (event) => {
      const out = await this.invokeFunction({ FunctionName: name, Payload: Buffer.from(JSON.stringify(event)) });
      const payload = JSON.parse(out.Payload.toString('utf8')) as unknown;
      if (out.FunctionError) {
        const { errorType, errorMessage } = payload as { errorType?: string; errorMessage?: string };
        throw Object.assign(new Error(errorMessage ?? 'the invocation failed'), { name: errorType ?? 'Error' });
      }
      return payload;
    };
  }

  /** Resolves once no Event invocation is running. */
  async settled(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
  }

  async invokeFunction(input: InvokeInput): Promise<InvokeOutput> {
    const fn = this.resolve(input.FunctionName, input.Qualifier);
    const type = input.InvocationType ?? 'RequestResponse';
    if (!['RequestResponse', 'Event', 'DryRun'].includes(type)) {
      throw new AwsServiceError('InvalidParameterValueException', `1 validation error detected: Value '${type}' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]`);
    }
    const body = input.Payload ?? Buffer.alloc(0);
    if (type === 'RequestResponse' && body.length > MAX_SYNC_PAYLOAD) {
      throw new AwsServiceError('RequestTooLargeException', `Request must be smaller than ${MAX_SYNC_PAYLOAD} bytes for the InvokeFunction operation`, 413);
    }
    let event: unknown = {};
    if (body.length > 0) {
      try {
        event = JSON.parse(body.toString('utf8'));
      } catch (err) {
        throw new AwsServiceError('InvalidRequestContentException', `Could not parse request body into json: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (type === 'DryRun') return { StatusCode: 204, Payload: Buffer.alloc(0) };
    const invocation: Invocation = { functionName: fn.name, event, invocationType: type, at: this.options.clock() };
    this.invocations.push(invocation);
    const run = this.run(fn, event, invocation);
    if (type === 'Event') {
      const tracked = run.catch(() => undefined).finally(() => this.running.delete(tracked));
      this.running.add(tracked);
      return { StatusCode: 202, Payload: Buffer.alloc(0) };
    }
    const { outcome, log } = await run;
    const payload = outcome.ok ? JSON.stringify(outcome.result === undefined ? null : outcome.result) : JSON.stringify({ errorType: outcome.errorType, errorMessage: outcome.errorMessage, trace: outcome.trace ?? [] });
    return {
      StatusCode: 200,
      ...(outcome.ok ? {} : { FunctionError: 'Unhandled' as const }),
      ExecutedVersion: '$LATEST',
      ...(input.LogType === 'Tail' ? { LogResult: Buffer.from(log).subarray(-LOG_TAIL_BYTES).toString('base64') } : {}),
      Payload: Buffer.from(payload),
    };
  }

  private async run(fn: LambdaFunction, event: unknown, invocation: Invocation): Promise<{ outcome: LambdaOutcome; log: string }> {
    const requestId = randomUUID();
    const started = Date.now();
    let outcome: LambdaOutcome;
    try {
      outcome = await fn.handler(event, { functionName: fn.name, functionArn: fn.arn, requestId });
    } catch (err) {
      outcome = { ok: false, errorType: err instanceof Error ? err.name : 'Error', errorMessage: err instanceof Error ? err.message : String(err) };
    }
    invocation.outcome = outcome;
    const lines = [
      `START RequestId: ${requestId} Version: $LATEST`,
      ...(outcome.logs ?? '').split('\n').filter((l) => l.trim() !== ''),
      ...(outcome.ok ? [] : [JSON.stringify({ errorType: outcome.errorType, errorMessage: outcome.errorMessage })]),
      `END RequestId: ${requestId}`,
      `REPORT RequestId: ${requestId}\tDuration: ${Date.now() - started} ms`,
    ];
    const now = this.options.clock().getTime();
    const day = new Date(now).toISOString().slice(0, 10).replace(/-/g, '/');
    this.options.logs?.putEvents(fn.logGroup, lines.map((message) => ({ timestamp: now, message })), `${day}/[$LATEST]${requestId.replace(/-/g, '')}`);
    return { outcome, log: `${lines.join('\n')}\n` };
  }

  private resolve(functionName: string, qualifier: string | undefined): LambdaFunction {
    const m = /^(?:arn:aws:lambda:([^:]+):)?(?:(\d{12}):function:)?([A-Za-z0-9_-]+)(?::([^:]+))?$/.exec(functionName);
    const name = m?.[3];
    const fn = name === undefined ? undefined : this.functions.get(name);
    const version = m?.[4] ?? qualifier;
    const sameAccount = m?.[2] === undefined || m[2] === this.options.accountId;
    const sameRegion = m?.[1] === undefined || m[1] === this.options.region;
    if (!fn || !sameAccount || !sameRegion || (version !== undefined && version !== '$LATEST')) {
      const shown = functionName.startsWith('arn:') ? functionName : `arn:aws:lambda:${this.options.region}:${this.options.accountId}:function:${name ?? functionName}${version !== undefined ? `:${version}` : ''}`;
      throw new AwsServiceError('ResourceNotFoundException', `Function not found: ${shown}`, 404);
    }
    return fn;
  }

  /** The ARN a FunctionName stands for (for authorization messages). */
  resourceArn(functionName: string): string {
    if (functionName.startsWith('arn:')) return functionName;
    return `arn:aws:lambda:${this.options.region}:${this.options.accountId}:function:${functionName.replace(/^\d{12}:function:/, '')}`;
  }
}
