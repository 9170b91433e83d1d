import { randomUUID } from 'node:crypto';
import { decideRequest } from '../../domain/decide.js';
import type { VideoState } from '../../domain/video.js';
import type { Db } from '../../eventstore/db.js';
import { handleCommand } from '../../eventstore/handleCommand.js';
import { videoStream } from '../../eventstore/videoStream.js';
import { requestMetadata, taskMessagesOf, type RequestTrace } from './taskMessages.js';

export interface RetryInput extends RequestTrace {
  videoId: string;
  reason?: string | null;
}

/**
 * Redrives a FAILED video: RetryRequested with a new task, queued through the outbox. Throws
 * VIDEO_NOT_FOUND or RETRY_NOT_ALLOWED (decideRequest).
 */
export async function retryVideo(db: Db, input: RetryInput): Promise<VideoState> {
  const taskId = randomUUID();
  const { actor, videoId } = input;
  const { state } = await handleCommand(db, videoId, { type: videoStream, decide: decideRequest }, { type: 'RetryVideo', videoId, taskId, requestedBy: actor, reason: input.reason ?? null }, {
    metadata: () => requestMetadata(input, taskId),
    outbox: taskMessagesOf(videoId, input),
  });
  if (state === null) throw new Error('unreachable: a retry appends to an existing stream');
  return state;
}
