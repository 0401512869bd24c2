/**
 * The local keyset file: the default store, for development, tests and single-host deployments.
 *
 * Compare-and-set: writers take an exclusive lock file (`O_CREAT|O_EXCL`), re-read the keyset, compare
 * its hash with the handle they read, then write a temp file (mode 0600), fsync it, rename it over the
 * keyset and fsync the directory. Readers never lock: rename is atomic, so a reader (or a crash at any
 * point) sees the old keyset or the new one, never a torn one. A lock left by a killed process is
 * detected (its pid is gone, or it is older than `staleLockMs`) and taken over.
 *
 * The directory and the keyset must be this user's own (`private-path.ts`): a keyset or directory another
 * user could have planted or can change, or any symlink in their place, is STORE_INSECURE, never used. A
 * keyset group or other can read or write is refused on read; a write replaces it with a 0600 file and
 * says so in the snapshot's `warnings`, since its material may already have been read.
 */
import { randomBytes } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConflictError, KeyManagementError } from '../keys/errors';
import { type Keyset, keysetText, parseKeyset } from '../keys/keyset';
import { contentHandle } from './content-handle';
import { checkPrivateDirectory, effectiveUid, insecure, octal, openPrivateFile, who } from './private-path';
import type { KeysetSnapshot, KeysetStore } from './store';
import { syncDirectory } from './sync-directory';

export const DEFAULT_KEYSET_PATH = path.join('.alphapulse', 'keyset.json');

export interface FileStoreOptions {
  /** How long a writer waits for the lock before STORE_BUSY. @default 10000 */
  readonly lockTimeoutMs?: number;
  /** A lock older than this is treated as left by a crashed process. @default 30000 */
  readonly staleLockMs?: number;
  /**
   * The user the directory and the keyset must belong to (root's are accepted too); tests set it to act as
   * another user without being root. @default the effective uid
   */
  readonly uid?: number;
}

/** A keyset file as read: its text and its mode. */
interface CurrentFile {
  readonly text: string;
  readonly mode: number;
}

/** Read or write access for group or other: a keyset's material is for its owner alone. */
const SHARED_BITS = 0o066;
/** Attempts at a fresh temp name before giving up (names are random; a clash means something else is there). */
const TEMP_NAME_ATTEMPTS = 3;

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
  private readonly uid: number | undefined;

  constructor(filePath: string, options: FileStoreOptions = {}) {
    this.location = path.resolve(filePath);
    this.lockPath = `${this.location}.lock`;
    this.lockTimeoutMs = options.lockTimeoutMs ?? 10_000;
    this.staleLockMs = options.staleLockMs ?? 30_000;
    this.uid = options.uid ?? effectiveUid();
  }

  async read(): Promise<KeysetSnapshot> {
    const current = await this.readCurrent();
    if (current === undefined) {
      throw new KeyManagementError('KEYSET_NOT_FOUND', `no keyset at ${this.location}`);
    }
    if (current.mode & SHARED_BITS) throw insecure(this.sharedKeysetProblem(current.mode));
    return { keyset: parseKeyset(current.text), handle: contentHandle(current.text) };
  }

  async write(next: Keyset, expected: string | null): Promise<KeysetSnapshot> {
    const text = keysetText(next);
    try {
      await checkPrivateDirectory(path.dirname(this.location), 'keyset', this.uid, true);
    } catch (err) {
      throw storeError(path.dirname(this.location), err);
    }
    const release = await this.lock();
    try {
      const current = await this.readCurrent();
      if (expected === null && current !== undefined) {
        throw new KeyManagementError('KEYSET_EXISTS', `a keyset already exists at ${this.location}; it was not overwritten`);
      }
      if (expected !== null && (current === undefined || contentHandle(current.text) !== expected)) {
        throw new ConflictError(`the keyset at ${this.location} changed since it was read`);
      }
      const warnings = await this.removeOrphans();
      await this.replace(text);
      if (current !== undefined && current.mode & SHARED_BITS) {
        warnings.push(`${this.sharedKeysetProblem(current.mode)} (it is 0600 now: this write replaced it)`);
      }
      return { keyset: next, handle: contentHandle(text), ...(warnings.length > 0 ? { warnings } : {}) };
    } finally {
      await release();
    }
  }

  /** The keyset file's text and mode, after the directory and owner checks; undefined when there is none. */
  private async readCurrent(): Promise<CurrentFile | undefined> {
    try {
      if (!(await checkPrivateDirectory(path.dirname(this.location), 'keyset', this.uid, false))) return undefined;
      const opened = await openPrivateFile(this.location, 'keyset', constants.O_RDONLY, this.uid);
      if (opened === undefined) return undefined;
      try {
        return { text: await opened.handle.readFile('utf8'), mode: opened.stat.mode };
      } finally {
        await opened.handle.close();
      }
    } catch (err) {
      throw storeError(this.location, err);
    }
  }

  /** What a keyset that group or other can access means, and what to run. */
  private sharedKeysetProblem(mode: number): string {
    const readable = (mode & 0o044) !== 0;
    const writable = (mode & 0o022) !== 0;
    const access = readable && writable ? 'read and write' : readable ? 'read' : 'write';
    const advice = [
      `run chmod 600 ${this.location}`,
      ...(readable ? ['then rotate: whoever could read it may hold the material of its versions'] : []),
      ...(writable ? ['check that its versions are the ones you expect: whoever could write it may have changed them'] : []),
    ];
    return `the keyset ${this.location} is mode ${octal(mode)}: ${who(mode & SHARED_BITS)} can ${access} it; ${advice.join(', ')}`;
  }

  /**
   * Writes `text` to a fresh temp file (0600 whatever the umask) and renames it over the keyset. A name
   * already taken (by anything: `O_EXCL` does not follow a symlink there either) is skipped for another.
   */
  private async replace(text: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const tmp = `${this.location}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
      let handle: fs.FileHandle;
      try {
        handle = await fs.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST' && attempt < TEMP_NAME_ATTEMPTS) continue;
        throw storeError(tmp, err);
      }
      try {
        try {
          await handle.chmod(0o600);
          await handle.writeFile(text, 'utf8');
          await handle.sync();
        } finally {
          await handle.close();
        }
        await fs.rename(tmp, this.location);
        await syncDirectory(path.dirname(this.location));
        return;
      } catch (err) {
        // Only the file this call created: unlink never follows a symlink or removes a directory.
        await fs.unlink(tmp).catch(() => undefined);
        throw storeError(this.location, err);
      }
    }
  }

  /**
   * Removes temp files and set-aside locks left by killed writers (their pid is gone). A temp file holds
   * a whole keyset, so leaving it would keep key material on disk after that version is destroyed.
   * Runs under the lock, when no live writer can own a temp file. Anything at such a name that is not a
   * file was not made by this store and is left alone; a file that cannot be removed becomes a warning,
   * so neither ever fails the write.
   */
  private async removeOrphans(): Promise<string[]> {
    const dir = path.dirname(this.location);
    const prefixes = [`${path.basename(this.location)}.tmp-`, `${path.basename(this.lockPath)}.stale-`];
    const warnings: string[] = [];
    let names: string[];
    try {
      names = await fs.readdir(dir);
    } catch {
      return warnings;
    }
    for (const name of names) {
      const prefix = prefixes.find((p) => name.startsWith(p));
      if (prefix === undefined) continue;
      const pid = Number(name.slice(prefix.length).split('-')[0]);
      if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid || isAlive(pid)) continue;
      const orphan = path.join(dir, name);
      try {
        if ((await fs.lstat(orphan)).isFile()) await fs.unlink(orphan);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT') warnings.push(`could not remove ${orphan}, left by a killed writer (${code ?? 'I/O error'}); it may hold an old keyset with key material: remove it by hand`);
      }
    }
    return warnings;
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
          `could not lock ${this.location} within ${this.lockTimeoutMs} ms: another process holds ${this.lockPath}; retry, or remove that file if no process is using this keyset`,
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
    } catch (err) {
      // The lock vanished between our open and this read: try again at once. Anything else (a directory at
      // the lock's name) would make every retry fail the same way, so it is reported, not retried.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
      throw new KeyManagementError('STORE_UNAVAILABLE', `cannot use the lock file ${this.lockPath}: ${(err as NodeJS.ErrnoException).code ?? 'I/O error'}; it is not a lock this store made — remove it if no process is using this keyset`, { cause: err });
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
