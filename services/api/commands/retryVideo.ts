import { randomUUID } from 'node:crypto';
import { ErrorCode, FramelogError, NotFoundError } from '../../domain/errors.js';
import { canRetry, type VideoState } from '../../domain/video.js';
import { appendToStream } from '../../eventstore/append.js';
import { loadVideo } from '../../eventstore/videos.js';
import { taskOutboxMessage } from '../../messaging/taskOutbox.js';
import type { Db } from '../../eventstore/db.js';

export interface RetryInput {
  videoId: string;
  actor: string;
  correlationId: string;
  reason?: string | null;
}

/** Redrives a FAILED video: RetryRequested with a new task, queued through the outbox. */
export async function retryVideo(db: Db, input: RetryInput): Promise<VideoState> {
  const state = await loadVideo(db, input.videoId);
  if (state === null) throw new NotFoundError(input.videoId);
  if (!canRetry(state)) {
    throw new FramelogError(ErrorCode.RETRY_NOT_ALLOWED, `Only a FAILED video can be retried; this one is ${state.status}.`, {
      details: { videoId: state.id, status: state.status },
    });
  }
  const taskId = randomUUID();
  const eventId = randomUUID();
  const { state: next } = await appendToStream(db, {
    streamId: state.id,
    expectedVersion: state.version,
    state,
    events: [
      {
        eventId,
        event: { type: 'RetryRequested', data: { taskId, requestedBy: input.actor, reason: input.reason ?? null } },
        metadata: { correlationId: input.correlationId, causationId: null, taskId, actor: input.actor },
      },
    ],
    outbox: taskOutboxMessage({ eventId, videoId: state.id, taskId, storageKey: state.storageKey, correlationId: input.correlationId }),
  });
  return next;
}
