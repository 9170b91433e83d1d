import { createHash } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, rmdir, stat as fsStat } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomUUID } from 'node:crypto';
import { ErrorCode, FramelogError, messageOf } from '../../domain/errors.js';
import { assertValidKey, manifestKey } from '../keys.js';
import { isMissing, syncDirectory } from './durable.js';
import { fileSink } from './fileSink.js';
import { LocalOutputSet, parseManifest, removeUnfinishedRuns } from './localOutputSet.js';
import type {
  ByteRange,
  LocalFile,
  MediaStorage,
  OutputManifest,
  OutputSet,
  StoredObject,
  WriteStreamOptions,
  WrittenObject,
} from './types.js';

/**
 * MediaStorage on a local directory (MEDIA_ROOT): a key is the file at the same relative path. Output set
 * versions are staged in a hidden directory beside the set (no key can start with a dot, so nothing
 * reads it) and published by renaming it to the version's name, then writing the manifest.
 */
export class LocalDiskStorage implements MediaStorage {
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  /** The file of `key`. Errors: BAD_USER_INPUT for an invalid key. */
  localPath(key: string): string {
    const resolved = path.resolve(this.root, assertValidKey(key));
    // assertValidKey already forbids traversal; this guards against a future change to it.
    const relative = path.relative(this.root, resolved);
    if (relative === '' || relative.startsWith('..') || path.isAbsolute(relative)) {
      throw new FramelogError(ErrorCode.BAD_USER_INPUT, `Storage key ${JSON.stringify(key)} leaves the media root.`);
    }
    return resolved;
  }

  async readLocal(key: string): Promise<LocalFile | null> {
    const stored = await this.stat(key);
    // The stored file itself: nothing to copy, nothing to clean up.
    return stored === null ? null : { path: this.localPath(key), sizeBytes: stored.sizeBytes, release: async () => {} };
  }

  async openOutputSet(setKey: string): Promise<OutputSet> {
    return LocalOutputSet.open(this.localPath(setKey), setKey);
  }

  async removeUnfinished(setKey: string): Promise<void> {
    await removeUnfinishedRuns(this.localPath(setKey));
  }

  async readManifest(setKey: string): Promise<OutputManifest | null> {
    try {
      return parseManifest(await readFile(this.localPath(manifestKey(setKey)), 'utf8'));
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
  }

  async read(key: string, range?: ByteRange): Promise<Readable | null> {
    let handle;
    try {
      handle = await open(this.localPath(key), 'r');
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
    // A directory opens too (a version's own key, `hls/`): only files are objects.
    if (!(await handle.stat()).isFile()) {
      await handle.close();
      return null;
    }
    // The stream owns the handle and closes it when it ends or is destroyed.
    return handle.createReadStream(range === undefined ? {} : { start: range.start, end: range.end });
  }

  async writeStream(key: string, source: Readable, { maxBytes }: WriteStreamOptions): Promise<WrittenObject> {
    let finalPath: string | undefined;
    let tempPath: string | undefined;
    let renamed = false;
    // Which side failed first: the source's own error is the client's, anything after a failure of
    // ours is only the pipeline tearing the source down with our error.
    let sourceError: unknown;
    let sinkFailed = false;
    source.on('error', (error) => {
      if (!sinkFailed) sourceError ??= error;
    });
    try {
      // A NaN limit would compare false forever and accept anything.
      if (!(maxBytes > 0)) throw new FramelogError(ErrorCode.INTERNAL, `writeStream needs a positive maxBytes, not ${maxBytes}.`);
      finalPath = this.localPath(key);
      tempPath = await this.tempPathFor(key);
      const file = await open(tempPath, 'wx', 0o640);
      const metered = meterUpload(maxBytes, () => {
        sinkFailed = true;
      });
      const sink = fileSink(file);
      // Registered before pipeline's own listeners, so it runs before the source is torn down.
      sink.once('error', () => {
        sinkFailed = true;
      });
      // pipeline propagates backpressure, so memory stays bounded whatever the upload size. The sink
      // writes back as the bytes arrive and fsyncs before it closes, and pipeline settles only after that
      // close: the bytes are durable before they become visible at the key, so a crash never leaves a
      // truncated upload there.
      await pipeline(source, metered.meter, sink);
      const written = metered.written();
      if (written.sizeBytes === 0) throw new FramelogError(ErrorCode.UPLOAD_EMPTY, 'The upload is empty; send a video file.');
      await rename(tempPath, finalPath);
      renamed = true;
      await syncDirectory(path.dirname(finalPath));
      return written;
    } catch (error) {
      source.destroy();
      // The original error matters more than a failed clean-up; rm with force only fails on I/O errors.
      const leftover = renamed ? finalPath : tempPath;
      if (leftover !== undefined) await removeLeftover(leftover);
      if (error === sourceError && !(error instanceof FramelogError)) {
        throw new FramelogError(ErrorCode.UPLOAD_FAILED, `The upload stopped before the whole file arrived (${messageOf(error)}); nothing was stored.`, {
          retryable: true,
          cause: error,
        });
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
      if (!info.isFile()) return null;
      return { sizeBytes: info.size, modifiedAt: info.mtime, etag: `"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"` };
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
  }

  /** A temp name beside `key`'s file: same directory, so the final rename is atomic; hidden from keys. */
  private async tempPathFor(key: string): Promise<string> {
    const finalPath = this.localPath(key);
    await mkdir(path.dirname(finalPath), { recursive: true });
    return path.join(path.dirname(finalPath), `.${path.basename(finalPath)}.${randomUUID()}.tmp`);
  }
}

/**
 * A pass-through that counts and hashes what is written and refuses more than `maxBytes`
 * (UPLOAD_TOO_LARGE; failing the transform makes pipeline destroy the source, so reading stops at once).
 * `onFailure` runs when it fails, before the pipeline tears the source down.
 */
function meterUpload(maxBytes: number, onFailure: () => void): { meter: Transform; written(): WrittenObject } {
  const hash = createHash('sha256');
  let sizeBytes = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      sizeBytes += chunk.length;
      if (sizeBytes > maxBytes) {
        onFailure();
        callback(new FramelogError(ErrorCode.UPLOAD_TOO_LARGE, `The upload is larger than the limit of ${maxBytes} bytes.`, { details: { maxBytes } }));
        return;
      }
      hash.update(chunk);
      callback(null, chunk);
    },
  });
  return { meter, written: () => ({ sizeBytes, sha256: hash.digest('hex') }) };
}

/**
 * Removes what a failed write left at `leftover`. Uploads get a directory of their own (uploads/<id>/):
 * it goes too when the write made it and nothing else is in it, so refused uploads leave no trace
 * (rmdir refuses non-empty directories). Never throws: the write's own error matters more.
 */
async function removeLeftover(leftover: string): Promise<void> {
  await rm(leftover, { force: true }).catch(() => undefined);
  await rmdir(path.dirname(leftover)).catch(() => undefined);
}
