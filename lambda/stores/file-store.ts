/**
 * The local keyset file: the default store, for development, tests and single-host deployments.
 *
 * Compare-and-set: writers take an exclusive lock file (`O_CREAT|O_EXCL`), re-read the keyset, compare
 * its hash with the handle they read, then write a temp file (mode 0600), fsync it, rename it over the
 * keyset and fsync the directory. Readers never lock: rename is atomic, so a reader (or a crash at any
 * point) sees the old keyset or the new one, never a torn one. A lock left by a killed process is
 * detected (its pid is gone, or it is older than `staleLockMs`) and taken over.
 */
import { randomBytes } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConflictError, KeyManagementError } from '../keys/errors';
import { type Keyset, parseKeyset, serializeKeyset } from '../keys/keyset';
import { contentHandle } from './content-handle';
import type { KeysetSnapshot, KeysetStore } from './store';
import { syncDirectory } from './sync-directory';

export const DEFAULT_KEYSET_PATH = path.join('.alphapulse', 'keyset.json');

export interface FileStoreOptions {
  /** How long a writer waits for the lock before STORE_BUSY. @default 10000 */
  readonly lockTimeoutMs?: number;
  /** A lock older than this is treated as left by a crashed process. @default 30000 */
  readonly staleLockMs?: number;
}

interface LockInfo {
  readonly pid: number;
  readonly host: string;
  readonly token: string;
}

export class FileStore implements KeysetStore {
  readonly kind = 'file';
  readonly writable = true;
  readonly location: string;
  private readonly lockPath: string;
  private readonly lockTimeoutMs: number;
  private readonly staleLockMs: number;

  constructor(filePath: string, options: FileStoreOptions = {}) {
    this.location = path.resolve(filePath);
    this.lockPath = `${this.location}.lock`;
    this.lockTimeoutMs = options.lockTimeoutMs ?? 10_000;
    this.staleLockMs = options.staleLockMs ?? 30_000;
  }

  async read(): Promise<KeysetSnapshot> {
    const text = await this.readText();
    if (text === undefined) {
      throw new KeyManagementError('KEYSET_NOT_FOUND', `no keyset at ${this.location}; run 'key-manager init' to create one (or pass --store to use another store)`);
    }
    return { keyset: parseKeyset(text), handle: contentHandle(text) };
  }

  async write(next: Keyset, expected: string | null): Promise<KeysetSnapshot> {
    const text = serializeKeyset(next);
    parseKeyset(text);
    await fs.mkdir(path.dirname(this.location), { recursive: true, mode: 0o700 });
    const release = await this.lock();
    try {
      const currentText = await this.readText();
      if (expected === null && currentText !== undefined) {
        throw new KeyManagementError('KEYSET_EXISTS', `a keyset already exists at ${this.location}; it was not overwritten`);
      }
      if (expected !== null && (currentText === undefined || contentHandle(currentText) !== expected)) {
        throw new ConflictError(`the keyset at ${this.location} changed since it was read`);
      }
      await this.removeOrphans();
      await this.replace(text);
      return { keyset: next, handle: contentHandle(text) };
    } finally {
      await release();
    }
  }

  private async readText(): Promise<string | undefined> {
    try {
      return await fs.readFile(this.location, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw storeError(this.location, err);
    }
  }

  private async replace(text: string): Promise<void> {
    const tmp = `${this.location}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      const handle = await fs.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
      try {
        await handle.writeFile(text, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.rename(tmp, this.location);
      await syncDirectory(path.dirname(this.location));
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw storeError(this.location, err);
    }
  }

  /**
   * Removes temp files and set-aside locks left by killed writers (their pid is gone). A temp file holds
   * a whole keyset, so leaving it would keep key material on disk after that version is destroyed.
   * Runs under the lock, when no live writer can own a temp file.
   */
  private async removeOrphans(): Promise<void> {
    const dir = path.dirname(this.location);
    const prefixes = [`${path.basename(this.location)}.tmp-`, `${path.basename(this.lockPath)}.stale-`];
    let names: string[];
    try {
      names = await fs.readdir(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const prefix = prefixes.find((p) => name.startsWith(p));
      if (prefix === undefined) continue;
      const pid = Number(name.slice(prefix.length).split('-')[0]);
      if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && !isAlive(pid)) await fs.rm(path.join(dir, name), { force: true });
    }
  }

  /** Takes the lock file, waiting with jittered backoff; returns its release. */
  private async lock(): Promise<() => Promise<void>> {
    const info: LockInfo = { pid: process.pid, host: os.hostname(), token: randomBytes(8).toString('hex') };
    const deadline = Date.now() + this.lockTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      try {
        const handle = await fs.open(this.lockPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
        try {
          await handle.writeFile(JSON.stringify({ ...info, at: new Date().toISOString() }));
        } finally {
          await handle.close();
        }
        return () => this.unlock(info.token);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw storeError(this.lockPath, err);
      }
      if (await this.breakStaleLock()) continue;
      if (Date.now() >= deadline) {
        throw new KeyManagementError(
          'STORE_BUSY',
          `could not lock ${this.location} within ${this.lockTimeoutMs} ms: another key-manager process holds ${this.lockPath}; retry, or remove that file if no key-manager is running`,
        );
      }
      await sleep(Math.min(50, 2 + attempt) + Math.random() * 10);
    }
  }

  /**
   * Removes the lock only if it is still ours. A writer that held it past `staleLockMs` may have had it
   * taken over; deleting by path would then free the new holder's lock for a third writer. Read,
   * compare, remove is not atomic: a takeover landing between our read and our rm is still deleted,
   * a window of microseconds that opens only after we have already overstayed `staleLockMs`.
   */
  private async unlock(token: string): Promise<void> {
    let holder: Partial<LockInfo>;
    try {
      holder = JSON.parse(await fs.readFile(this.lockPath, 'utf8')) as LockInfo;
    } catch {
      return; // gone, or not a lock we wrote: not ours to remove
    }
    if (holder.token === token) await fs.rm(this.lockPath, { force: true });
  }

  /**
   * Removes a lock whose owner is gone. The lock is first renamed to a private name, so two processes
   * breaking the same stale lock cannot delete a fresh lock taken in between.
   */
  private async breakStaleLock(): Promise<boolean> {
    let holder: Partial<LockInfo> & { at?: string };
    let mtimeMs: number;
    try {
      const [text, stat] = await Promise.all([fs.readFile(this.lockPath, 'utf8'), fs.stat(this.lockPath)]);
      mtimeMs = stat.mtimeMs;
      try {
        holder = JSON.parse(text) as LockInfo;
      } catch {
        holder = {};
      }
    } catch {
      return true; // the lock vanished between our open and this read: try again at once
    }
    const age = Date.now() - mtimeMs;
    const ownerDead = holder.host === os.hostname() && typeof holder.pid === 'number' && !isAlive(holder.pid);
    // An unreadable lock (crash between create and write) is judged by age alone.
    const stale = ownerDead || age > this.staleLockMs || (holder.pid === undefined && age > 1_000);
    if (!stale) return false;
    const aside = `${this.lockPath}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      await fs.rename(this.lockPath, aside);
    } catch {
      return true;
    }
    let moved: Partial<LockInfo> = {};
    try {
      moved = JSON.parse(await fs.readFile(aside, 'utf8')) as LockInfo;
    } catch {
      moved = {};
    }
    if (moved.token !== undefined && moved.token !== holder.token) {
      // We moved a fresh lock taken after our check: put it back if nobody has locked since.
      try {
        await fs.link(aside, this.lockPath);
      } catch {
        /* a newer lock exists; the fresh owner's release will remove that one, ours is moot */
      }
    }
    await fs.rm(aside, { force: true });
    return true;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function storeError(where: string, err: unknown): KeyManagementError {
  if (err instanceof KeyManagementError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM') {
    return new KeyManagementError('ACCESS_DENIED', `permission denied on ${where}; run as the user that owns it (the keyset file is mode 0600)`, { cause: err });
  }
  return new KeyManagementError('STORE_UNAVAILABLE', `cannot use ${where}: ${code ?? 'I/O error'}; check the path and the disk`, { cause: err });
}
