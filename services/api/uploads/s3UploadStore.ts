import { PassThrough, type Readable } from 'node:stream';
import { S3Store } from '@tus/s3-store';
import { Upload } from '@tus/utils';
import { hashStream } from '../../media/hashFile.js';
import { resumableKey } from '../../media/keys.js';
import { isNotFound, s3ClientConfig, type S3Settings } from '../../media/storage/s3Client.js';
import { abortMultipartUploads, deleteObjects } from '../../media/storage/s3Delete.js';
import { RunningHashes } from './runningHashes.js';

/**
 * Bytes of one part: S3's minimum. Each part is gathered in a temp file under the OS tmpdir before it is
 * sent (@tus/s3-store's way), so a dropped connection keeps all but what has not reached that file.
 */
const PART_BYTES = 8 * 1024 * 1024;
/** Parts in flight per API process, all uploads together: bounds the temp files to ~PART_BYTES × this. */
const PARTS_IN_FLIGHT = 8;

/**
 * The tus data store for STORAGE=s3 (DESIGN §12): @tus/s3-store, with the S3 client configured like
 * MediaStorage's (s3ClientConfig), on the bucket and under the prefix of the S3_* settings. The API's disk
 * only holds parts being sent.
 *
 * An upload's tus id stays its video id; its S3 key is the video's storage key (`<prefix>resumable/<id>`),
 * so the multipart upload completes at the key VideoUploaded names and the worker reads: no copy. Beside
 * it the store keeps `<key>.info` (the offset record; kept after completion, as the file store keeps its
 * `.json`, so a HEAD still answers) and, between requests, `<key>.part` (bytes short of a part).
 */
export class S3UploadStore extends S3Store {
  private readonly prefix: string;
  private readonly hashes = new RunningHashes();

  constructor(settings: S3Settings) {
    super({ s3ClientConfig: { ...s3ClientConfig(settings), bucket: settings.bucket }, partSize: PART_BYTES, maxConcurrentPartUploads: PARTS_IN_FLIGHT });
    this.prefix = settings.prefix;
  }

  /** The object key of the upload `id` (a video id). */
  objectKey(id: string): string {
    return `${this.prefix}${resumableKey(id)}`;
  }

  override async create(upload: Upload): Promise<Upload> {
    return named(await super.create(new Upload({ ...upload, id: this.objectKey(upload.id) })), upload.id);
  }

  override async getUpload(id: string): Promise<Upload> {
    return named(await super.getUpload(this.objectKey(id)), id);
  }

  override async declareUploadLength(id: string, length: number): Promise<void> {
    await super.declareUploadLength(this.objectKey(id), length);
  }

  override async read(id: string): Promise<Readable> {
    return super.read(this.objectKey(id));
  }

  /**
   * Appends from `offset`. A request cut mid-way ends the stream the store reads instead of failing it,
   * so the bytes that arrived are kept (as the file store keeps them): the last, short part becomes the
   * `.part` object the next PATCH continues from, rather than being thrown away.
   */
  override async write(source: Readable, id: string, offset: number): Promise<number> {
    return this.hashes.storing(id, offset, (through) => super.write(keepWhatArrived(source).pipe(through), this.objectKey(id), offset));
  }

  /**
   * Removes everything of the upload: every unfinished multipart upload at its key (whatever `.info`
   * says; a create cut between the two leaves one with no record), the object, `.info` and `.part`.
   * A missing upload is fine. (@tus/s3-store's own remove leaves `.part` and refuses a missing `.info`.)
   */
  override async remove(id: string): Promise<void> {
    const key = this.objectKey(id);
    this.hashes.forget(id);
    await abortMultipartUploads(this.client, this.bucket, key);
    await deleteObjects(this.client, this.bucket, [key, this.infoKey(key), this.partKey(key, true)]);
    await this.clearCache(key);
  }

  /**
   * The sha256 and size of a finished upload's object: the hash taken on the way when this process
   * received every byte in order (RunningHashes), else the object read back as a stream (measured: a
   * 256 MB GET from the local Swift after the last byte). An upload whose parts are all stored but whose
   * multipart upload was never completed (the process died in between) is completed first. Null when
   * the object does not exist and cannot be completed.
   */
  async hashStored(id: string): Promise<{ sha256: string; sizeBytes: number } | null> {
    const key = this.objectKey(id);
    const size = (await this.storedSize(key)) ?? ((await this.completeParts(key)) ? await this.storedSize(key) : null);
    if (size === null) return null;
    const hashed = this.hashes.take(id, size);
    if (hashed !== null) return hashed;
    const body = await this.getObjectBody(key);
    return body === null ? null : hashStream(body);
  }

  /** Bytes of the object at `key`, or null when there is none. */
  private async storedSize(key: string): Promise<number | null> {
    try {
      return (await this.client.headObject({ Bucket: this.bucket, Key: key })).ContentLength ?? null;
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  private async getObjectBody(key: string): Promise<Readable | null> {
    try {
      return (await this.client.getObject({ Bucket: this.bucket, Key: key })).Body as Readable;
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  /** Completes the multipart upload at `key` when its parts hold every declared byte; false otherwise. */
  private async completeParts(key: string): Promise<boolean> {
    const upload = await super.getUpload(key).catch(() => null);
    if (upload?.size === undefined || upload.offset !== upload.size) return false;
    const parts = await this.retrieveParts(key).catch((error: unknown) => {
      if (isNotFound(error)) return null;
      throw error;
    });
    if (parts === null) return false;
    await this.finishMultipartUpload(await this.getMetadata(key), parts);
    await this.clearCache(key);
    return true;
  }
}

const named = (upload: Upload, id: string) => new Upload({ ...upload, id });

/** `source`'s bytes, ending (not failing) when `source` fails or is destroyed. */
function keepWhatArrived(source: Readable): Readable {
  const kept = new PassThrough();
  source.pipe(kept);
  const end = () => {
    if (!kept.writableEnded) kept.end();
  };
  source.once('error', end);
  source.once('close', end);
  return kept;
}
