import { open } from 'node:fs/promises';

async function flush(target: string, how: 'sync' | 'datasync'): Promise<void> {
  const handle = await open(target, 'r');
  try {
    await handle[how]();
  } finally {
    await handle.close();
  }
}

/** Makes a rename or unlink in `dir` durable (the directory entry itself must reach the disk). */
export const syncDirectory = (dir: string): Promise<void> => flush(dir, 'sync');

/**
 * Flushes a file's bytes to disk. Producers such as ffmpeg do not fsync: without this, a crash could leave
 * a rename durable and the bytes not, an empty or torn file under a key an event already names.
 */
export const syncFile = (file: string): Promise<void> => flush(file, 'datasync');

export const isMissing = (error: unknown): boolean => (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
