import path from 'node:path';
import type { FileStore } from '@tus/file-store';
import { ERRORS, Upload } from '@tus/utils';

/**
 * The tus side of a resumable upload, as the commands see it: the upload resource named by the video id
 * in the tus data store (file store for local storage), whose bytes live at the video's storage key.
 */
export interface ResumableStore {
  /** Creates the empty upload resource of `sizeBytes` bytes, so the client only ever HEADs and PATCHes it. */
  create(videoId: string, sizeBytes: number): Promise<void>;
  /** Bytes received so far, or null when the resource does not exist (never created, or removed). */
  offset(videoId: string): Promise<number | null>;
  /** Removes the bytes and the offset record; a missing resource is fine. */
  remove(videoId: string): Promise<void>;
  /** The local file the bytes accumulate in. */
  filePath(videoId: string): string;
}

const isMissing = (error: unknown) => error === ERRORS.FILE_NOT_FOUND || error === ERRORS.FILE_NO_LONGER_EXISTS;

/** A ResumableStore over the tus server's own data store, so both see the same offsets. */
export function resumableStoreOf(datastore: FileStore): ResumableStore {
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
    filePath: (videoId) => path.resolve(datastore.directory, videoId),
    async remove(videoId) {
      try {
        await datastore.remove(videoId);
      } catch (error) {
        if (!isMissing(error)) throw error;
      }
    },
  };
}
