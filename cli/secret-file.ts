import { promises as fs } from 'node:fs';
import { KeyManagementError } from '../lambda/keys/errors';

/** Key files hold one short base64 key; anything larger is the wrong file. */
const MAX_KEY_FILE_BYTES = 1024;

/**
 * Reads a small file holding one key (a backup key, a legacy master key), hands its text to `parse`, and
 * zeroes the bytes read. `what` names the file in errors ("backup key file"), `holds` says what it should
 * contain. Errors never echo the file's content.
 */
export async function readKeyFile<T>(file: string, what: string, holds: string, parse: (text: string) => T): Promise<T> {
  let bytes: Buffer;
  try {
    const handle = await fs.open(file, 'r');
    try {
      const stat = await handle.stat();
      if (stat.size > MAX_KEY_FILE_BYTES) throw new KeyManagementError('INVALID_INPUT', `${file} is ${stat.size} bytes; a ${what} holds ${holds}`);
      bytes = await handle.readFile();
    } finally {
      await handle.close();
    }
  } catch (err) {
    if (err instanceof KeyManagementError) throw err;
    throw new KeyManagementError('INVALID_INPUT', `cannot read the ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? 'read error'}`);
  }
  try {
    return parse(bytes.toString('utf8'));
  } finally {
    bytes.fill(0);
  }
}
