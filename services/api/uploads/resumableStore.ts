import { ERRORS, Upload } from '@tus/utils';
import type { FileUploadStore } from './fileUploadStore.js';
import type { S3UploadStore } from './s3UploadStore.js';

/**
 * The tus side of a resumable upload, as the commands see it: the upload resource named by the video id
 * in the tus data store (the file store with STORAGE=local, S3UploadStore with s3), whose bytes end up at
 * the video's storage key.
 */
export interface ResumableStore {
  /** Creates the empty upload resource of `sizeBytes` bytes, so the client only ever HEADs and PATCHes it. */
  create(videoId: string, sizeBytes: number): Promise<void>;
  /** Bytes received so far, or null when the resource does not exist (never created, or removed). */
  offset(videoId: string): Promise<number | null>;
  /** Removes the bytes and the offset record (and with s3 an unfinished multipart upload); a missing resource is fine. */
  remove(videoId: string): Promise<void>;
  /**
   * The sha256 and size of the bytes stored at the upload's storage key, made durable first (local:
   * fsync; s3: a completed multipart upload), read as a stream. Null when nothing is stored there.
   */
  hash(videoId: string): Promise<{ sha256: string; sizeBytes: number } | null>;
}

/** The tus data stores framelog uses: one per STORAGE backend. */
export type UploadDataStore = FileUploadStore | S3UploadStore;

const isMissing = (error: unknown) => error === ERRORS.FILE_NOT_FOUND || error === ERRORS.FILE_NO_LONGER_EXISTS;

/** A ResumableStore over the tus server's own data store, so both see the same offsets. */
export function resumableStoreOf(datastore: UploadDataStore): ResumableStore {
  return {
    async create(videoId, sizeBytes) {
      await datastore.create(new Upload({ id: videoId, size: sizeBytes, offset: 0, creation_date: new Date().toISOString() }));
    },
    async offset(videoId) {
      try {
        return (await datastore.getUpload(videoId)).offset;
      } catch (error) {
        if (isMissing(error)) return null;
        throw error;
      }
    },
    hash: (videoId) => datastore.hashStored(videoId),
    async remove(videoId) {
      try {
        await datastore.remove(videoId);
      } catch (error) {
        if (!isMissing(error)) throw error;
      }
    },
  };
}
