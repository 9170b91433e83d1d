import { ConcurrencyError, ErrorCode, FramelogError, IllegalTransitionError, NotFoundError } from '../../domain/errors.js';
import { notUploading } from '../../domain/decide.js';
import { VideoStatus, hasSource, type VideoState } from '../../domain/video.js';
import type { Db } from '../../eventstore/db.js';
import { loadVideo } from '../../eventstore/videos.js';
import type { ResumableStore } from '../uploads/resumableStore.js';
import { recordUpload } from './uploadVideo.js';

export interface FinishUploadDeps {
  db: Db;
  resumable: ResumableStore;
}

export interface Actor {
  actor: string;
  correlationId: string;
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
    const { sha256, sizeBytes } = await hashComplete(deps, state);
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
 * The sha256 and size of a finished upload's bytes, durable at its storage key (ResumableStore.hash: on
 * local disk the tus file is that key's file; with s3 the multipart upload completed at that key).
 * Errors: SOURCE_MISSING when nothing is stored, UPLOAD_CONFLICT while bytes are missing.
 */
async function hashComplete(deps: FinishUploadDeps, state: VideoState): Promise<{ sha256: string; sizeBytes: number }> {
  const missing = () => new FramelogError(ErrorCode.SOURCE_MISSING, `The bytes of upload ${state.id} are not in storage.`, { details: { videoId: state.id } });
  const incomplete = (receivedBytes: number) =>
    new FramelogError(ErrorCode.UPLOAD_CONFLICT, `The upload of video ${state.id} has ${receivedBytes} of ${state.sizeBytes} bytes; send the rest first.`, {
      details: { videoId: state.id, receivedBytes, sizeBytes: state.sizeBytes },
    });
  const received = await deps.resumable.offset(state.id);
  if (received === null) throw missing();
  if (received !== state.sizeBytes) throw incomplete(received);
  const stored = await deps.resumable.hash(state.id);
  if (stored === null) throw missing();
  if (stored.sizeBytes !== state.sizeBytes) throw incomplete(stored.sizeBytes);
  return stored;
}
