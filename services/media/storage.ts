import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm, rmdir, stat as fsStat } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ErrorCode, FramelogError } from '../domain/errors.js';
import { assertValidKey } from './keys.js';

export interface WriteStreamOptions {
  /** More bytes than this abort the write with UPLOAD_TOO_LARGE as soon as they arrive. */
  maxBytes: number;
}

export interface WrittenObject {
  sizeBytes: number;
  /** Lower-case hex sha256 of the bytes written, computed while streaming. */
  sha256: string;
}

export interface StoredObject {
  sizeBytes: number;
  modifiedAt: Date;
}

/**
 * Where uploads and renditions live. Keys are relative, slash-separated and validated (keys.ts).
 *
 * ffmpeg needs real files, so the interface speaks in local paths: `localPath` says where a key's bytes
 * are on this machine and `tempPathFor` + `commit` publish a file produced locally. A future S3-compatible
 * backend keeps the same shape with a local working directory: it downloads an object there before
 * `localPath` is read (one more method, e.g. `fetch(key)`), and `commit` uploads the temp file instead
 * of renaming it.
 */
export interface MediaStorage {
  /**
   * Streams `source` to `key` (temp file, fsync, rename), hashing on the fly. On any failure the source
   * is destroyed, the temp file removed and nothing is left at `key`.
   */
  writeStream(key: string, source: Readable, options: WriteStreamOptions): Promise<WrittenObject>;
  /** The absolute local path of `key` (for ffmpeg to read). */
  localPath(key: string): string;
  /** A unique temp path beside `key`, its directory created; publish it with `commit`. */
  tempPathFor(key: string): Promise<string>;
  /** Atomically moves a file made at `tempPath` to `key`, replacing what was there. */
  commit(tempPath: string, key: string): Promise<void>;
  /** Removes `key`; a missing key is not an error. */
  remove(key: string): Promise<void>;
  /** Removes every key under `prefix` (e.g. all outputs of one video). */
  removePrefix(prefix: string): Promise<void>;
  exists(key: string): Promise<boolean>;
  /** Size and time of `key`, or null when it does not exist. */
  stat(key: string): Promise<StoredObject | null>;
}

const TEMP_SUFFIX = '.tmp';

/** MediaStorage on a local directory (MEDIA_ROOT). */
export class LocalDiskStorage implements MediaStorage {
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  localPath(key: string): string {
    const resolved = path.resolve(this.root, assertValidKey(key));
    // assertValidKey already forbids traversal; this guards against a future change to it.
    const relative = path.relative(this.root, resolved);
    if (relative === '' || relative.startsWith('..') || path.isAbsolute(relative)) {
      throw new FramelogError(ErrorCode.BAD_USER_INPUT, `Storage key ${JSON.stringify(key)} leaves the media root.`);
    }
    return resolved;
  }

  async tempPathFor(key: string): Promise<string> {
    const finalPath = this.localPath(key);
    await mkdir(path.dirname(finalPath), { recursive: true });
    // Same directory as the final file, so commit is a same-filesystem (atomic) rename. The leading dot
    // keeps temp names out of the key space (keys.ts forbids it).
    return path.join(path.dirname(finalPath), `.${path.basename(finalPath)}.${randomUUID()}${TEMP_SUFFIX}`);
  }

  async commit(tempPath: string, key: string): Promise<void> {
    const finalPath = this.localPath(key);
    const dir = path.dirname(finalPath);
    if (path.dirname(path.resolve(tempPath)) !== dir) {
      throw new FramelogError(ErrorCode.INTERNAL, `Temp file ${tempPath} is not beside ${key}; use tempPathFor.`);
    }
    await mkdir(dir, { recursive: true });
    await rename(tempPath, finalPath);
    await syncDirectory(dir);
  }

  async writeStream(key: string, source: Readable, { maxBytes }: WriteStreamOptions): Promise<WrittenObject> {
    const hash = createHash('sha256');
    let sizeBytes = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        sizeBytes += chunk.length;
        if (sizeBytes > maxBytes) {
          // Failing the transform makes pipeline destroy the source: we stop reading at once.
          callback(
            new FramelogError(ErrorCode.UPLOAD_TOO_LARGE, `The upload is larger than the limit of ${maxBytes} bytes.`, {
              details: { maxBytes },
            }),
          );
          return;
        }
        hash.update(chunk);
        callback(null, chunk);
      },
    });

    let finalPath: string | undefined;
    let tempPath: string | undefined;
    let renamed = false;
    try {
      // A NaN limit would compare false forever and accept anything.
      if (!(maxBytes > 0)) throw new FramelogError(ErrorCode.INTERNAL, `writeStream needs a positive maxBytes, not ${maxBytes}.`);
      finalPath = this.localPath(key);
      tempPath = await this.tempPathFor(key);
      // pipeline propagates backpressure, so memory stays bounded whatever the upload size. `flush`
      // fsyncs before the stream closes, and pipeline settles only after that close: the bytes are
      // durable before they become visible at the key, so a crash never leaves a truncated upload there.
      await pipeline(source, meter, createWriteStream(tempPath, { flags: 'wx', mode: 0o640, flush: true }));
      if (sizeBytes === 0) throw new FramelogError(ErrorCode.UPLOAD_EMPTY, 'The upload is empty; send a video file.');
      await rename(tempPath, finalPath);
      renamed = true;
      await syncDirectory(path.dirname(finalPath));
      return { sizeBytes, sha256: hash.digest('hex') };
    } catch (error) {
      source.destroy();
      // The original error matters more than a failed clean-up; rm with force only fails on I/O errors.
      const leftover = renamed ? finalPath : tempPath;
      if (leftover !== undefined) {
        await rm(leftover, { force: true }).catch(() => undefined);
        // Uploads get a directory of their own (uploads/<id>/); drop it too when the write made it and
        // nothing else is in it, so refused uploads leave no trace. rmdir refuses non-empty directories.
        await rmdir(path.dirname(leftover)).catch(() => undefined);
      }
      throw error;
    }
  }

  async remove(key: string): Promise<void> {
    await rm(this.localPath(key), { force: true });
  }

  async removePrefix(prefix: string): Promise<void> {
    await rm(this.localPath(prefix), { recursive: true, force: true });
  }

  async exists(key: string): Promise<boolean> {
    return (await this.stat(key)) !== null;
  }

  async stat(key: string): Promise<StoredObject | null> {
    try {
      const info = await fsStat(this.localPath(key));
      return info.isFile() ? { sizeBytes: info.size, modifiedAt: info.mtime } : null;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }
}

/** Makes a rename in `dir` durable (the directory entry itself must reach the disk). */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
