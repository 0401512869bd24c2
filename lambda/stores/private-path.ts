/**
 * Owner and mode checks for the local files that hold a keyset or the audit trail (the file store and the
 * file audit sink). In a shared directory another user can plant a keyset (we would then encrypt under
 * keys they know) or a symlink (we would append through it into a file of ours), so a file is used only
 * if nobody else could have put it there or can change it: neither it nor its directory is a symlink,
 * both belong to this user (or to root, who can read everything anyway), and neither is writable by
 * group or other. The caller decides what a readable file means (for a keyset: refused).
 *
 * Directories above the one holding the file are not checked: a symlink there is the operator's own
 * layout (macOS's /tmp is one), and once the holding directory is private nobody else can swap what is
 * in it. File checks are made on the opened descriptor (`O_NOFOLLOW`, then `fstat`), so a name swapped
 * between the check and the open cannot slip through.
 */
import { constants, promises as fs, type Stats } from 'node:fs';
import { KeyManagementError } from '../keys/errors';

/** The uid private files must belong to; undefined where the platform has no uids (then owners are not checked). */
export function effectiveUid(): number | undefined {
  return process.geteuid?.();
}

/**
 * Checks the directory that holds a private file (`role` names the file in messages: "keyset", "audit
 * log"), creating it (mode 0700, parents too) when `create` is set and it is missing. Returns false when
 * it is missing and not created.
 */
export async function checkPrivateDirectory(dir: string, role: string, uid: number | undefined, create: boolean): Promise<boolean> {
  let stat: Stats;
  try {
    stat = await fs.lstat(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    if (!create) return false;
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    stat = await fs.lstat(dir);
  }
  if (stat.isSymbolicLink()) {
    throw insecure(`the ${role} directory ${dir} is a symbolic link, so whoever can change the link decides which ${role} is used; replace it with a real directory (mkdir -m 700 ${dir}) or name the real path`);
  }
  if (!stat.isDirectory()) throw new KeyManagementError('STORE_UNAVAILABLE', `${dir} is not a directory; the ${role} needs a directory there`);
  const owner = ownerProblem(stat, uid);
  if (owner) throw insecure(`the ${role} directory ${dir} ${owner}, who could swap the files in it; use a directory of your own, or have it handed over (chown ${uid} ${dir})`);
  if (stat.mode & 0o022) {
    throw insecure(`the ${role} directory ${dir} is mode ${octal(stat.mode)}: ${who(stat.mode & 0o022)} can write to it and so swap the files in it; run chmod 700 ${dir}`);
  }
  return true;
}

export interface OpenedPrivateFile {
  readonly handle: fs.FileHandle;
  /** The opened file's stat: what was opened, not whatever the name points at now. */
  readonly stat: Stats;
}

/**
 * Opens `file` without following a symlink and checks the owner of what was opened. Returns undefined when
 * it does not exist and `flags` do not create it. The caller closes the handle.
 */
export async function openPrivateFile(file: string, role: string, flags: number, uid: number | undefined): Promise<OpenedPrivateFile | undefined> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, flags | constants.O_NOFOLLOW, 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && (flags & constants.O_CREAT) === 0) return undefined;
    // O_NOFOLLOW fails with ELOOP on Linux and macOS, EMLINK on FreeBSD, when the name is a symlink.
    if ((code === 'ELOOP' || code === 'EMLINK') && (await isSymlink(file))) {
      throw insecure(`the ${role} ${file} is a symbolic link, so whoever can change the link decides which file is used; replace it with the real file (or name the real path)`);
    }
    throw err;
  }
  try {
    const stat = await handle.stat();
    const owner = ownerProblem(stat, uid);
    if (owner) throw insecure(`the ${role} ${file} ${owner}, who can read and change it; remove it if it is not yours, or have it handed over (chown ${uid} ${file}, chmod 600 ${file})`);
    return { handle, stat };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/** Whose permission bits are set in `bits`: "group", "other" or "group and other". */
export function who(bits: number): string {
  const group = (bits & 0o070) !== 0;
  const other = (bits & 0o007) !== 0;
  return group && other ? 'group and other' : group ? 'group' : 'other';
}

export function octal(mode: number): string {
  return `0${(mode & 0o777).toString(8)}`;
}

export function insecure(message: string): KeyManagementError {
  return new KeyManagementError('STORE_INSECURE', message);
}

function ownerProblem(stat: Stats, uid: number | undefined): string | undefined {
  if (uid === undefined || stat.uid === uid || stat.uid === 0) return undefined;
  return `belongs to uid ${stat.uid}, not to this user (uid ${uid})`;
}

async function isSymlink(file: string): Promise<boolean> {
  try {
    return (await fs.lstat(file)).isSymbolicLink();
  } catch {
    return false;
  }
}
