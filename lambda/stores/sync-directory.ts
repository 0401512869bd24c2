import { constants, promises as fs } from 'node:fs';

/** Fsyncs a directory, so that a rename or link just made in it survives a crash. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await fs.open(dir, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
