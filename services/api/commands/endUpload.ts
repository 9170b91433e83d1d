import { decideUpload, type UploadCommand } from '../../domain/decide.js';
import { NotFoundError } from '../../domain/errors.js';
import type { VideoState } from '../../domain/video.js';
import type { Db } from '../../eventstore/db.js';
import { handleCommand } from '../../eventstore/handleCommand.js';
import { loadUploadStart } from '../../eventstore/uploads.js';
import { videoStream } from '../../eventstore/videoStream.js';
import type { ResumableStore } from '../uploads/resumableStore.js';
import type { Actor } from './finishUpload.js';
import { requestMetadata } from './taskMessages.js';

export interface EndUploadDeps {
  db: Db;
  resumable: ResumableStore;
  now?: () => Date;
}

export type UploadEnd = { kind: 'expired' } | { kind: 'cancelled' };

export interface EndedUpload {
  state: VideoState;
  /** Whether this call recorded the end (false: the upload is complete or ended already, or not yet expired). */
  ended: boolean;
}

/**
 * Ends an unfinished upload through decideUpload: UploadExpired (the sweep; nothing when the upload is
 * complete, ended or still in time) or UploadCancelled (tus DELETE by its owner; refused with a typed
 * error otherwise), appended at the version read, then removes the bytes of an expired one (a cancelled
 * one's are removed by the tus DELETE handler that called this, under the upload's lock). The event comes
 * first: once it is in the log no PATCH is accepted and no completion can be recorded. A completion
 * that won the race leaves the video its bytes (a cancel is then refused with UPLOAD_CONFLICT).
 */
export async function endUpload(deps: EndUploadDeps, videoId: string, end: UploadEnd, by: Actor): Promise<EndedUpload> {
  const terms = await loadUploadStart(deps.db, videoId);
  if (terms === null) throw new NotFoundError(videoId);
  const receivedBytes = (await deps.resumable.offset(videoId)) ?? 0;
  const command: UploadCommand =
    end.kind === 'expired' ? { type: 'ExpireUpload', videoId, terms, receivedBytes } : { type: 'CancelUpload', videoId, terms, requestedBy: by.actor, receivedBytes };
  const now = deps.now?.() ?? new Date();
  const { state, events } = await handleCommand(deps.db, videoId, { type: videoStream, decide: (c: UploadCommand, s: VideoState | null) => decideUpload(c, s, now) }, command, {
    metadata: () => requestMetadata(by, terms.taskId),
  });
  if (state === null) throw new NotFoundError(videoId);
  if (events.length > 0 && end.kind === 'expired') await deps.resumable.remove(videoId);
  return { state, ended: events.length > 0 };
}
