import type { Readable } from 'node:stream';
import { S3Store, type MetadataValue } from '@tus/s3-store';
import { Upload } from '@tus/utils';
import { hashStream } from '../../media/hashFile.js';
import { resumableKey } from '../../media/keys.js';
import { PartBuffers } from '../../media/storage/partBuffers.js';
import { releaseStored } from '../../media/storage/releasableChunks.js';
import { isNotFound, s3ClientConfig, type S3Settings } from '../../media/storage/s3Client.js';
import { abortMultipartUploads, deleteObjects } from '../../media/storage/s3Delete.js';
import { keepWhatArrived } from './keepWhatArrived.js';
import { RunningHashes } from './runningHashes.js';

/** Preferred bytes of one part (@tus/s3-store makes them larger when 10,000 would not hold the upload). */
const PART_BYTES = 8 * 1024 * 1024;
/** Parts being stored per API process, all uploads together (@tus/s3-store's semaphore). */
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
 *
 * A PATCH's bytes are cut into parts in memory (PartBuffers) rather than in temp files on the API's disk
 * (@tus/s3-store's own `uploadParts`): no disk write and read-back per byte, and no buffer per part left
 * for the garbage collector; each request chunk is freed once copied into a part (releasableChunks).
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
   * Appends from `offset`. A request cut mid-way keeps the bytes that arrived (keepWhatArrived): the last,
   * short part becomes the `.part` object the next PATCH continues from, rather than being thrown away.
   */
  override async write(source: Readable, id: string, offset: number): Promise<number> {
    return this.hashes.storing(id, offset, (through) => super.write(keepWhatArrived(source).pipe(through), this.objectKey(id), offset));
  }

  /**
   * Stores `source` from part `partNumber` on, as @tus/s3-store's own `uploadParts` does: every full part,
   * and at the end what is left, as a part when it is the upload's last or at least the minimum part size,
   * else as the `.part` object the next PATCH starts with. Returns the bytes stored.
   */
  protected override async uploadParts(metadata: MetadataValue, source: Readable, partNumber: number, offset: number): Promise<number> {
    const size = metadata.file.size;
    let bytesStored = 0;
    const parts = new PartBuffers(this.calcOptimalPartSize(size), async (body) => {
      offset += body.length;
      const isPart = body.length >= this.minPartSize || offset === size;
      const number = isPart ? partNumber++ : 0;
      const permit = await this.partUploadSemaphore.acquire();
      try {
        await (isPart ? this.uploadPart(metadata, body, number) : this.storeIncompletePart(metadata.file.id, body));
      } finally {
        await permit.release();
      }
      bytesStored += body.length;
    });
    try {
      for await (const chunk of source as AsyncIterable<Buffer>) {
        await parts.write(chunk);
        releaseStored(chunk);
      }
      parts.sendPending();
    } finally {
      // Never return (or fail) with parts still being stored: their bytes would race the next PATCH.
      await parts.settle().finally(() => parts.dispose());
    }
    return bytesStored;
  }

  /** The bytes short of a part, as the `.part` object (@tus/s3-store's uploadIncompletePart, with a Buffer body: its length is known). */
  private async storeIncompletePart(id: string, body: Buffer): Promise<void> {
    const Tagging = this.useCompleteTag('false');
    await this.client.putObject({ Bucket: this.bucket, Key: this.partKey(id, true), Body: body, ...(Tagging === undefined ? {} : { Tagging }) });
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
