/**
 * A warm Lambda execution environment for a bundled handler: one process that requires the bundle once (init)
 * and then runs invocations one at a time, as Lambda reuses an environment between invocations that arrive while
 * it is warm (Secrets Manager's four rotation steps, in quick succession, usually do):
 *
 *   node lambda-warm-runner.js <bundle.js>
 *
 * Each invocation is one JSON line on stdin, `{"id":N,"event":...}`. For each the runner writes `@@START N` on
 * stdout, then whatever the handler logs, then ONE `@@RESULT N {...}` line with the outcome, in the same shapes as
 * lambda-runner.js (`ok`/`result`, `errorName`/`errorMessage`/`errorCode`, `timedOut`, `phase: "init"`). The
 * context is Lambda's (a fresh awsRequestId and deadline per invocation).
 *
 * As Lambda does, an environment whose invocation timed out, crashed (an uncaught exception or unhandled
 * rejection) or failed its init is not reused: the runner reports the outcome and exits, and the host starts a new
 * one (a cold start) for the next invocation. Unlike Lambda, nothing is frozen between invocations: a timer the
 * handler left running runs on.
 *
 * Environment: LAMBDA_RUNNER_TIMEOUT_MS (default 3000), AWS_LAMBDA_FUNCTION_NAME, LAMBDA_RUNNER_FUNCTION_ARN.
 */
'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- plain CommonJS on purpose: it runs under bare `node`, like the Lambda runtime's loader */

const { randomUUID } = require('node:crypto');
const path = require('node:path');
const readline = require('node:readline');

const timeoutMs = Number(process.env.LAMBDA_RUNNER_TIMEOUT_MS || 3000);
const functionName = process.env.AWS_LAMBDA_FUNCTION_NAME || 'stand-in-function';
const functionArn = process.env.LAMBDA_RUNNER_FUNCTION_ARN || `arn:aws:lambda:${process.env.AWS_REGION || 'us-east-1'}:123456789012:function:${functionName}`;

/** The invocation running now: its id and whether its outcome was written. */
let current;

function write(line) {
  return new Promise((resolve) => process.stdout.write(`${line}\n`, resolve));
}

/** Writes the current invocation's outcome once; `end` also ends the environment (after the line is out). */
function report(outcome, end = false) {
  if (!current || current.reported) return;
  current.reported = true;
  clearTimeout(current.timer);
  let line;
  try {
    line = `@@RESULT ${current.id} ${JSON.stringify(outcome)}`;
  } catch (err) {
    line = `@@RESULT ${current.id} ${JSON.stringify({ ok: false, errorName: 'Runtime.SerializationError', errorMessage: String(err && err.message) })}`;
  }
  void write(line).then(() => (end ? process.exit(0) : undefined));
}

function failure(err, extra) {
  const isError = err instanceof Error;
  const out = { ok: false, errorName: isError ? err.name : typeof err, errorMessage: isError ? err.message : String(err), ...extra };
  if (isError && typeof err.code === 'string') out.errorCode = err.code;
  if (isError && err.stack) out.stack = err.stack.split('\n').slice(0, 8);
  return out;
}

// A crash ends the environment, as the Lambda runtime restarts after one.
process.on('uncaughtException', (err) => report(failure(err, { errorName: 'Runtime.UncaughtException', cause: err instanceof Error ? err.name : undefined }), true));
process.on('unhandledRejection', (reason) => report(failure(reason, { errorName: 'Runtime.UnhandledPromiseRejection' }), true));

let handler;
let initError;
const bundle = process.argv[2];
try {
  const mod = require(path.resolve(bundle));
  handler = mod && mod.handler;
  if (typeof handler !== 'function') initError = { ok: false, phase: 'init', errorName: 'Runtime.HandlerNotFound', errorMessage: `${path.basename(bundle)}.handler is undefined or not exported` };
} catch (err) {
  initError = failure(err, { phase: 'init' });
}

async function invoke(id, event) {
  current = { id, reported: false };
  await write(`@@START ${id}`);
  if (initError) return report(initError, true);
  const deadline = Date.now() + timeoutMs;
  const context = {
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: functionArn,
    memoryLimitInMB: '128',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `stand-in/[$LATEST]${randomUUID().replace(/-/g, '')}`,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  current.timer = setTimeout(() => report({ ok: false, timedOut: true, errorName: 'Sandbox.Timedout', errorMessage: `Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds` }, true), timeoutMs);
  try {
    const result = await new Promise((resolve, reject) => {
      const callback = (err, value) => (err ? reject(err) : resolve(value));
      const returned = handler.length >= 3 ? handler(event, context, callback) : handler(event, context);
      if (returned && typeof returned.then === 'function') returned.then(resolve, reject);
      else if (handler.length < 3) resolve(returned);
    });
    report({ ok: true, result: result === undefined ? null : result });
  } catch (err) {
    report(failure(err));
  }
}

// One invocation at a time: the host sends the next line only after the previous result.
const lines = readline.createInterface({ input: process.stdin });
let queue = Promise.resolve();
lines.on('line', (line) => {
  if (line.trim() === '') return;
  queue = queue.then(() => {
    const { id, event } = JSON.parse(line);
    return invoke(id, event);
  });
});
lines.on('close', () => void queue.then(() => process.exit(0)));
