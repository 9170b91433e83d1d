import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';

const CHUNK_BYTES = 1024 * 1024;

/**
 * Lower-case hex sha256 of a local file, read in 1 MiB chunks (memory stays flat whatever its size).
 * The file is fsynced first: its hash goes into an event, which must never name bytes a crash could lose
 * (the tus file store writes without fsync).
 */
export async function syncAndHashFile(filePath: string): Promise<{ sha256: string; sizeBytes: number }> {
  const handle = await open(filePath, 'r');
  try {
    await handle.datasync();
    const hash = createHash('sha256');
    const buffer = Buffer.allocUnsafe(CHUNK_BYTES);
    let sizeBytes = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, CHUNK_BYTES, null);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      sizeBytes += bytesRead;
    }
    return { sha256: hash.digest('hex'), sizeBytes };
  } finally {
    await handle.close();
  }
}

/** Lower-case hex sha256 and length of a stream read to its end (e.g. an object from S3), chunk by chunk. */
export async function hashStream(source: AsyncIterable<Uint8Array>): Promise<{ sha256: string; sizeBytes: number }> {
  const hash = createHash('sha256');
  let sizeBytes = 0;
  for await (const chunk of source) {
    hash.update(chunk);
    sizeBytes += chunk.byteLength;
  }
  return { sha256: hash.digest('hex'), sizeBytes };
}
