/**
 * An operator's terminal for the docs test: each command line runs in its own `bash -c` as typed (pipes,
 * `&&`, `$(...)`, redirections, no pipefail), but the way one line leaves the shell carries to the next,
 * as in one terminal: the working directory after a `cd`, and the variables an `export` set.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { type ProcessResult, runProcess } from '../support/aws';

/** Variables bash sets for itself, not by the command line. */
const SHELL_OWN = new Set(['PWD', 'OLDPWD', 'SHLVL', '_']);

export class ShellSession {
  cwd: string;
  readonly env: Record<string, string>;
  private readonly stateDir = mkdtempSync(path.join(tmpdir(), 'docs-shell-'));

  constructor(cwd: string, env: Record<string, string>) {
    this.cwd = cwd;
    this.env = { ...env };
  }

  /** Runs one command line; afterwards the session has its final directory and exported variables. */
  async run(commandLine: string, options: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<ProcessResult> {
    const cwdFile = path.join(this.stateDir, 'cwd');
    const envFile = path.join(this.stateDir, 'env');
    rmSync(cwdFile, { force: true });
    rmSync(envFile, { force: true });
    // The trailer runs in the same shell after the line, whatever it did, and keeps its exit status.
    const script = `${commandLine}\n__docs_status=$?; pwd > '${cwdFile}'; env -0 > '${envFile}'; exit $__docs_status`;
    const result = await runProcess('bash', ['-c', script], { cwd: this.cwd, env: { ...this.env, ...options.env }, timeoutMs: options.timeoutMs ?? 120_000 });
    try {
      this.cwd = readFileSync(cwdFile, 'utf8').trim() || this.cwd;
      const after = readFileSync(envFile, 'utf8').split('\0').filter(Boolean);
      for (const entry of after) {
        const eq = entry.indexOf('=');
        const name = entry.slice(0, eq);
        if (!SHELL_OWN.has(name) && !(options.env && name in options.env)) this.env[name] = entry.slice(eq + 1);
      }
    } catch {
      // The line ended the shell itself (exec, exit): nothing carries over.
    }
    return result;
  }

  close(): void {
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}
