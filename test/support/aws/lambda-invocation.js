/**
 * What lambda-runner.js (one invocation a process) and lambda-warm-runner.js (one warm environment, many
 * invocations) share: the function's settings from the environment, Lambda's context object, the call of a
 * handler (async, or the three-argument callback form), the outcome of a failure, and the timeout's outcome.
 *
 * Environment: LAMBDA_RUNNER_TIMEOUT_MS (default 3000, Lambda's default), AWS_LAMBDA_FUNCTION_NAME,
 * LAMBDA_RUNNER_FUNCTION_ARN.
 */
'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- plain CommonJS on purpose: it runs under bare `node`, like the Lambda runtime's loader */

const { randomUUID } = require('node:crypto');

const timeoutMs = Number(process.env.LAMBDA_RUNNER_TIMEOUT_MS || 3000);
const functionName = process.env.AWS_LAMBDA_FUNCTION_NAME || 'stand-in-function';
const functionArn = process.env.LAMBDA_RUNNER_FUNCTION_ARN || `arn:aws:lambda:${process.env.AWS_REGION || 'us-east-1'}:123456789012:function:${functionName}`;

/** The outcome of a failed invocation: the error's name, message, code and first stack lines, then `extra`. */
function failure(err, extra) {
  const isError = err instanceof Error;
  const out = { ok: false, errorName: isError ? err.name : typeof err, errorMessage: isError ? err.message : String(err), ...extra };
  if (isError && typeof err.code === 'string') out.errorCode = err.code;
  if (isError && err.stack) out.stack = err.stack.split('\n').slice(0, 8);
  return out;
}

/** The outcome of an invocation that outlived the timeout, worded as Lambda words it. */
const timedOut = () => ({ ok: false, timedOut: true, errorName: 'Sandbox.Timedout', errorMessage: `Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds` });

/** A context like Lambda's for one invocation starting now: a fresh request id, log stream and deadline. */
function lambdaContext() {
  const deadline = Date.now() + timeoutMs;
  return {
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
}

/** Calls `handler` as the Node.js runtime does: its promise, or its callback when it takes three arguments. */
function callHandler(handler, event, context) {
  return new Promise((resolve, reject) => {
    const callback = (err, value) => (err ? reject(err) : resolve(value));
    const returned = handler.length >= 3 ? handler(event, context, callback) : handler(event, context);
    if (returned && typeof returned.then === 'function') returned.then(resolve, reject);
    else if (handler.length < 3) resolve(returned);
  });
}

module.exports = { timeoutMs, failure, timedOut, lambdaContext, callHandler };
