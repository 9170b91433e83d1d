import { open } from 'node:fs/promises';

/** Makes a rename or unlink in `dir` durable (the directory entry itself must reach the disk). */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Flushes a file's bytes to disk. Producers such as ffmpeg do not fsync: without this, a crash could leave
 * a rename durable and the bytes not, an empty or torn file under a key an event already names.
 */
export async function syncFile(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

export const isMissing = (error: unknown): boolean => (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
