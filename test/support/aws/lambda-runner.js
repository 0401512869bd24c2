/**
 * A Lambda-like runner for one invocation of a bundled handler:
 *
 *   node lambda-runner.js <bundle.js>     (the event as JSON on stdin)
 *
 * It requires the bundle (init), calls `handler(event, context)` with a context like Lambda's
 * (functionName, functionVersion, invokedFunctionArn, memoryLimitInMB, awsRequestId, logGroupName,
 * logStreamName, getRemainingTimeInMillis()), and prints the outcome as ONE line on stdout:
 *
 *   @@RESULT {"ok":true,"result":...}
 *   @@RESULT {"ok":false,"errorName":"...","errorMessage":"...","errorCode":"..."}   (phase "init" if the require failed)
 *   @@RESULT {"ok":false,"timedOut":true,"errorName":"Sandbox.Timedout","errorMessage":"Task timed out after 3.00 seconds"}
 *
 * then exits at once, without waiting for the event loop to drain (as Lambda freezes the environment
 * when the handler settles). The handler's own log lines also go to stdout; only the prefixed line is
 * the outcome. An unhandled rejection or uncaught exception fails the invocation, as in Lambda.
 *
 * Environment: LAMBDA_RUNNER_TIMEOUT_MS (default 3000, Lambda's default), AWS_LAMBDA_FUNCTION_NAME,
 * LAMBDA_RUNNER_FUNCTION_ARN.
 */
'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- plain CommonJS on purpose: it runs under bare `node`, like the Lambda runtime's loader */

const path = require('node:path');
const { callHandler, failure, lambdaContext, timedOut, timeoutMs } = require('./lambda-invocation');

const RESULT_PREFIX = '@@RESULT ';

let reported = false;

function report(outcome) {
  if (reported) return;
  reported = true;
  let line;
  try {
    line = RESULT_PREFIX + JSON.stringify(outcome);
  } catch (err) {
    line = RESULT_PREFIX + JSON.stringify({ ok: false, errorName: 'Runtime.SerializationError', errorMessage: String(err && err.message) });
  }
  process.stdout.write(line + '\n', () => process.exit(0));
}

process.on('uncaughtException', (err) => report(failure(err, { errorName: 'Runtime.UncaughtException', cause: err instanceof Error ? err.name : undefined })));
process.on('unhandledRejection', (reason) => report(failure(reason, { errorName: 'Runtime.UnhandledPromiseRejection' })));

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on('data', (c) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

async function main() {
  const bundle = process.argv[2];
  if (!bundle) {
    report({ ok: false, errorName: 'Runtime.UserCodeSyntaxError', errorMessage: 'usage: node lambda-runner.js <bundle.js>' });
    return;
  }
  const text = await readStdin();
  let event;
  try {
    event = text.trim() === '' ? {} : JSON.parse(text);
  } catch (err) {
    report(failure(err, { errorName: 'Runtime.InvalidEvent' }));
    return;
  }
  let mod;
  try {
    mod = require(path.resolve(bundle));
  } catch (err) {
    report(failure(err, { phase: 'init' }));
    return;
  }
  const handler = mod && mod.handler;
  if (typeof handler !== 'function') {
    report({ ok: false, phase: 'init', errorName: 'Runtime.HandlerNotFound', errorMessage: `${path.basename(bundle)}.handler is undefined or not exported` });
    return;
  }
  const context = lambdaContext();
  // Kept referenced: a handler whose promise never settles is a timeout, not a quiet exit.
  setTimeout(() => report(timedOut()), timeoutMs);
  try {
    const result = await callHandler(handler, event, context);
    report({ ok: true, result: result === undefined ? null : result });
  } catch (err) {
    report(failure(err));
  }
}

main().catch((err) => report(failure(err, { errorName: 'Runtime.RunnerError' })));
