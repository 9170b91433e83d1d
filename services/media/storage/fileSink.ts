import type { FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { releaseStored } from './releasableChunks.js';

/**
 * A stream that writes the chunks it is given to `file` from byte `start` on, one after the other, frees
 * each once written (releaseStored: only chunks handed over are), and fsyncs when it ends, so a pipeline
 * into it settles only once the bytes are durable. Owns `file`: closes it when finished or destroyed
 * (a FileHandle's close waits for an operation in flight, such as a datasync). Errors: the file's.
 */
export function fileSink(file: FileHandle, start = 0): Writable {
  let position = start;
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      writeAt(file, chunk, position).then(() => {
        position += chunk.length;
        releaseStored(chunk);
        callback();
      }, callback);
    },
    final(callback) {
      file.sync().then(() => callback(), callback);
    },
    destroy(error, callback) {
      file.close().then(
        () => callback(error),
        (closeError: unknown) => callback(error ?? (closeError as Error)),
      );
    },
  });
}

/** Writes all of `chunk` at `position` (a write may take fewer bytes than it was given). */
async function writeAt(file: FileHandle, chunk: Buffer, position: number): Promise<void> {
  for (let done = 0; done < chunk.length; ) done += (await file.write(chunk, done, chunk.length - done, position + done)).bytesWritten;
}
