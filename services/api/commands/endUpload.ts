import { ConcurrencyError, NotFoundError } from '../../domain/errors.js';
import { VideoStatus, type VideoState } from '../../domain/video.js';
import { appendToStream } from '../../eventstore/append.js';
import type { Db } from '../../eventstore/db.js';
import { loadVideo } from '../../eventstore/videos.js';
import type { ResumableStore } from '../uploads/resumableStore.js';
import { notUploading, type Actor } from './finishUpload.js';

export interface EndUploadDeps {
  db: Db;
  resumable: ResumableStore;
}

export type UploadEnd = { kind: 'expired' } | { kind: 'cancelled' };

/**
 * Ends an unfinished upload: UploadExpired (the sweep) or UploadCancelled (tus DELETE by its owner) at
 * the version it was read at, then removes the bytes of an expired one (a cancelled one's are removed by
 * the tus DELETE handler that called this). The event comes first: once it is in the log no PATCH is
 * accepted and no completion can be recorded, so the bytes are no longer needed. A completion
 * that won the race makes this a typed refusal (UPLOAD_CONFLICT), and the video keeps its bytes.
 */
export async function endUpload(deps: EndUploadDeps, videoId: string, end: UploadEnd, by: Actor): Promise<VideoState> {
  const state = await loadVideo(deps.db, videoId);
  if (state === null) throw new NotFoundError(videoId);
  if (state.status !== VideoStatus.UPLOADING) throw notUploading(state);
  const receivedBytes = (await deps.resumable.offset(videoId)) ?? 0;
  const taskId = state.currentTaskId;
  const event =
    end.kind === 'expired'
      ? { type: 'UploadExpired' as const, data: { taskId, receivedBytes } }
      : { type: 'UploadCancelled' as const, data: { taskId, receivedBytes, requestedBy: by.actor } };
  let ended: VideoState;
  try {
    ({ state: ended } = await appendToStream(deps.db, {
      streamId: videoId,
      expectedVersion: state.version,
      state,
      events: [{ event, metadata: { correlationId: by.correlationId, causationId: null, taskId, actor: by.actor } }],
    }));
  } catch (error) {
    if (!(error instanceof ConcurrencyError)) throw error;
    const now = await loadVideo(deps.db, videoId);
    throw now === null ? error : notUploading(now);
  }
  if (end.kind === 'expired') await deps.resumable.remove(videoId);
  return ended;
}
