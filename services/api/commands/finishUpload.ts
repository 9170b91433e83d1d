import { createReadStream } from 'node:fs';
import { ConcurrencyError, ErrorCode, FramelogError, IllegalTransitionError, NotFoundError } from '../../domain/errors.js';
import { VideoStatus, hasSource, type VideoState } from '../../domain/video.js';
import type { Db } from '../../eventstore/db.js';
import { loadVideo } from '../../eventstore/videos.js';
import { syncAndHashFile } from '../../media/hashFile.js';
import type { MediaStorage } from '../../media/storage.js';
import type { ResumableStore } from '../uploads/resumableStore.js';
import { recordUpload } from './uploadVideo.js';

export interface FinishUploadDeps {
  db: Db;
  storage: MediaStorage;
  resumable: ResumableStore;
}

export interface Actor {
  actor: string;
  correlationId: string;
}

/** The typed refusal for a tus request on an upload that is no longer in progress. */
export function notUploading(state: VideoState): FramelogError {
  if (hasSource(state)) {
    return new FramelogError(ErrorCode.UPLOAD_CONFLICT, `The upload of video ${state.id} is already complete.`, { details: { videoId: state.id, status: state.status } });
  }
  const code = state.lastError?.code === ErrorCode.UPLOAD_CANCELLED ? ErrorCode.UPLOAD_CANCELLED : ErrorCode.UPLOAD_EXPIRED;
  return new FramelogError(code, `The upload of video ${state.id} has ended (${code}); open a new one with createUpload.`, { details: { videoId: state.id } });
}

/**
 * Completes a resumable upload whose bytes are all stored: hashes them and appends VideoUploaded with
 * its task's outbox row in one transaction at the version the upload was read at. Safe to call any
 * number of times, concurrently too (a repeated tus completion hook, the expiry sweep): the append of
 * every caller but one is a ConcurrencyError, and they all return the completed video. So a task is
 * enqueued exactly once.
 */
export async function finishUpload(deps: FinishUploadDeps, videoId: string, by: Actor): Promise<VideoState> {
  const state = await loadVideo(deps.db, videoId);
  if (state === null) throw new NotFoundError(videoId);
  if (state.status !== VideoStatus.UPLOADING) {
    if (hasSource(state)) return state;
    throw notUploading(state);
  }
  try {
    const { sha256, sizeBytes } = await storeAndHash(deps, state);
    if (sizeBytes !== state.sizeBytes) {
      throw new FramelogError(ErrorCode.UPLOAD_CONFLICT, `The upload of video ${videoId} has ${sizeBytes} of ${state.sizeBytes} bytes; send the rest first.`, {
        details: { videoId, receivedBytes: sizeBytes, sizeBytes: state.sizeBytes },
      });
    }
    const record = { videoId, title: state.title, originalFilename: state.originalFilename, contentType: 'application/octet-stream', sizeBytes, sha256, ...by };
    return await recordUpload(deps.db, record, state);
  } catch (error) {
    // The store re-decides on a conflict, and a completed upload then refuses a second VideoUploaded.
    if (!(error instanceof ConcurrencyError) && !(error instanceof IllegalTransitionError)) throw error;
    // Another completion (or the expiry) got there first: report what it decided.
    const now = await loadVideo(deps.db, videoId);
    if (now !== null && hasSource(now)) return now;
    throw now === null ? error : notUploading(now);
  }
}

/**
 * The sha256 and size of a finished upload's bytes, durable at its storage key. On local disk the tus
 * file is that key's file: it is fsynced and hashed in place. Any other backend (s3) gets a copy at the
 * key, hashed on the way.
 */
async function storeAndHash(deps: FinishUploadDeps, state: VideoState): Promise<{ sha256: string; sizeBytes: number }> {
  const tusFile = deps.resumable.filePath(state.id);
  const stored = await deps.storage.readLocal(state.storageKey);
  await stored?.release();
  if (stored?.path === tusFile) return syncAndHashFile(tusFile);
  if ((await deps.resumable.offset(state.id)) === null) {
    throw new FramelogError(ErrorCode.SOURCE_MISSING, `The bytes of upload ${state.id} are not in storage.`, { details: { videoId: state.id } });
  }
  return deps.storage.writeStream(state.storageKey, createReadStream(tusFile), { maxBytes: state.sizeBytes });
}
