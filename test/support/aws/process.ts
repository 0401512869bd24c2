/**
 * Runs a child process to completion with captured output, a stdin payload and a hard timeout. The
 * child leads its own process group, so a timeout kills it and everything it started.
 */
import { spawn } from 'node:child_process';

export interface RunProcessOptions {
  /** The child's whole environment. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Written to the child's stdin, which is then closed. @default nothing (stdin closed at once) */
  readonly stdin?: string | Buffer;
  /** Kill the process group (SIGKILL) after this long. @default 30000 */
  readonly timeoutMs?: number;
}

export interface ProcessResult {
  /** Exit code; null when killed by a signal. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly durationMs: number;
  /** True when the timeout killed it. */
  readonly timedOut: boolean;
}

export function runProcess(command: string, args: readonly string[], options: RunProcessOptions = {}): Promise<ProcessResult> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], { env: options.env ?? process.env, cwd: options.cwd, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, options.timeoutMs ?? 30_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        durationMs: Number(process.hrtime.bigint() - started) / 1e6,
        timedOut,
      });
    });
    child.stdin.on('error', () => undefined); // the child may exit without reading its input
    child.stdin.end(options.stdin ?? '');
  });
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
