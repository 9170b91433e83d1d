import type { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  paginateListObjectsV2,
  type S3Client,
} from '@aws-sdk/client-s3';
import { text } from 'node:stream/consumers';
import { ErrorCode, FramelogError, messageOf } from '../../domain/errors.js';
import { assertValidKey, manifestKey } from '../keys.js';
import { parseManifest } from './localOutputSet.js';
import { isNotFound, type S3Settings } from './s3Client.js';
import { abortMultipartUploads, deleteObjects } from './s3Delete.js';
import { S3OutputSet } from './s3OutputSet.js';
import { uploadMetered } from './s3Upload.js';
import { downloadToScratch, type Scratch } from './scratch.js';
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
 * The object operations of MediaStorage on an S3-compatible store: keys are validated (keys.ts) and
 * put under the configured prefix, so nothing outside it can be named. API and workers share no disk:
 * what ffmpeg needs as a file is downloaded into an attempt's scratch directory (scratch.ts).
 */
export class S3Objects {
  constructor(
    readonly client: S3Client,
    readonly settings: Pick<S3Settings, 'bucket' | 'prefix'>,
    readonly scratch: Scratch,
  ) {}

  get bucket(): string {
    return this.settings.bucket;
  }

  /** The store's key of `key`. Errors: BAD_USER_INPUT for an invalid key. */
  objectKey(key: string): string {
    return `${this.settings.prefix}${assertValidKey(key)}`;
  }

  /**
   * Streams `source` to `key`, hashing it on the way; see MediaStorage.writeStream. The object appears
   * only when the upload completed; an empty one is removed again (S3 cannot refuse it beforehand).
   */
  async writeStream(key: string, source: Readable, { maxBytes }: WriteStreamOptions): Promise<WrittenObject> {
    let sourceError: unknown;
    let sinkFailed = false;
    source.on('error', (error) => {
      if (!sinkFailed) sourceError ??= error;
    });
    let completed = false;
    try {
      // A NaN limit would compare false forever and accept anything.
      if (!(maxBytes > 0)) throw new FramelogError(ErrorCode.INTERNAL, `writeStream needs a positive maxBytes, not ${maxBytes}.`);
      const objectKey = this.objectKey(key);
      const written = await uploadMetered({ client: this.client, bucket: this.bucket, objectKey }, source, maxBytes, () => {
        sinkFailed = true;
      });
      completed = true;
      if (written.sizeBytes === 0) throw new FramelogError(ErrorCode.UPLOAD_EMPTY, 'The upload is empty; send a video file.');
      return written;
    } catch (error) {
      source.destroy();
      if (completed) await this.remove(key).catch(() => undefined);
      if (error === sourceError && !(error instanceof FramelogError)) {
        throw new FramelogError(ErrorCode.UPLOAD_FAILED, `The upload stopped before the whole file arrived (${messageOf(error)}); nothing was stored.`, {
          retryable: true,
          cause: error,
        });
      }
      throw error;
    }
  }

  /** Downloads `key` into a scratch directory of its own; `release` removes it. Null when `key` does not exist. */
  async readLocal(key: string): Promise<LocalFile | null> {
    const object = await this.get(key);
    if (object === null) return null;
    return downloadToScratch(this.scratch, object.body, object.sizeBytes);
  }

  async stat(key: string): Promise<StoredObject | null> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      return {
        sizeBytes: head.ContentLength ?? 0,
        modifiedAt: head.LastModified ?? new Date(0),
        // S3's ETag is already quoted; a store that omits it still gets a validator of size and time.
        etag: head.ETag ?? `"${(head.ContentLength ?? 0).toString(16)}-${(head.LastModified?.getTime() ?? 0).toString(16)}"`,
      };
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  async read(key: string, range?: ByteRange): Promise<Readable | null> {
    return (await this.get(key, range))?.body ?? null;
  }

  /** GetObject: the body streams from the store's HTTP response, never buffered. Null when `key` does not exist. */
  private async get(key: string, range?: ByteRange): Promise<{ body: Readable; sizeBytes: number } | null> {
    try {
      const answer = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: this.objectKey(key),
          ...(range === undefined ? {} : { Range: `bytes=${range.start}-${range.end}` }),
        }),
      );
      return { body: answer.Body as Readable, sizeBytes: answer.ContentLength ?? 0 };
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  async exists(key: string): Promise<boolean> {
    return (await this.stat(key)) !== null;
  }

  async remove(key: string): Promise<void> {
    // S3 answers a delete of a missing key with success.
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
  }

  /** Removes every object under `prefix/` (and `prefix` itself), and aborts multipart uploads left there. */
  async removePrefix(prefix: string): Promise<void> {
    const objectPrefix = `${this.objectKey(prefix)}/`;
    await abortMultipartUploads(this.client, this.bucket, objectPrefix);
    await deleteObjects(this.client, this.bucket, await this.listObjectKeys(objectPrefix));
    await this.remove(prefix);
  }

  /** Every object key (as the store names it) that starts with `objectPrefix`. */
  async listObjectKeys(objectPrefix: string): Promise<string[]> {
    const keys: string[] = [];
    for await (const page of paginateListObjectsV2({ client: this.client }, { Bucket: this.bucket, Prefix: objectPrefix })) {
      for (const object of page.Contents ?? []) if (object.Key !== undefined) keys.push(object.Key);
    }
    return keys;
  }
}

/**
 * MediaStorage on an S3-compatible store (STORAGE=s3): the object operations of S3Objects plus output
 * sets (S3OutputSet). A version's files are objects as soon as they are uploaded; /media serves only the
 * version a committed manifest names (published.ts).
 */
export class S3Storage extends S3Objects implements MediaStorage {
  async openOutputSet(setKey: string): Promise<OutputSet> {
    return S3OutputSet.open(this, setKey);
  }

  async removeUnfinished(setKey: string): Promise<void> {
    const current = await this.readManifest(setKey);
    await S3OutputSet.removeUnfinished(this, setKey, current?.version ?? null);
  }

  async readManifest(setKey: string): Promise<OutputManifest | null> {
    const body = await this.read(manifestKey(setKey));
    return body === null ? null : parseManifest(await text(body));
  }
}
