import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { ErrorCode, FramelogError } from '../../domain/errors.js';
import type { VideoState } from '../../domain/video.js';
import { appendToStream } from '../../eventstore/append.js';
import { sourceKey } from '../../media/keys.js';
import { taskOutboxMessage } from '../../messaging/taskOutbox.js';
import type { ApiDeps } from '../deps.js';

export interface UploadInput {
  stream: Readable;
  filename: string;
  mimetype: string;
  title: string | null;
  actor: string;
  correlationId: string;
}

const MAX_TITLE_LENGTH = 500;
const MAX_FILENAME_LENGTH = 1_000;

/**
 * Streams the file to storage (hashing it on the way), then appends VideoUploaded and the task's
 * outbox row in one transaction. If anything fails, the stored file is removed: no orphan file,
 * no half-written event.
 */
export async function uploadVideo(deps: Pick<ApiDeps, 'db' | 'storage' | 'maxUploadBytes' | 'log'>, input: UploadInput): Promise<VideoState> {
  const title = input.title?.trim() || null;
  if (title !== null && title.length > MAX_TITLE_LENGTH) {
    input.stream.resume(); // drain, so the request can finish
    throw new FramelogError(ErrorCode.BAD_USER_INPUT, `The title is longer than ${MAX_TITLE_LENGTH} characters.`);
  }
  const videoId = randomUUID();
  const taskId = randomUUID();
  const eventId = randomUUID();
  const key = sourceKey(videoId);
  const { sizeBytes, sha256 } = await deps.storage.writeStream(key, input.stream, { maxBytes: deps.maxUploadBytes });
  try {
    const { state } = await appendToStream(deps.db, {
      streamId: videoId,
      expectedVersion: 0,
      state: null,
      events: [
        {
          eventId,
          event: {
            type: 'VideoUploaded',
            data: {
              taskId,
              title,
              // Kept for display only; it never becomes part of a storage path.
              originalFilename: input.filename.slice(0, MAX_FILENAME_LENGTH),
              contentType: input.mimetype,
              sizeBytes,
              sha256,
              storageKey: key,
            },
          },
          metadata: { correlationId: input.correlationId, causationId: null, taskId, actor: input.actor },
        },
      ],
      outbox: taskOutboxMessage({ eventId, videoId, taskId, storageKey: key, correlationId: input.correlationId }),
    });
    return state;
  } catch (error) {
    await deps.storage.remove(key).catch((removeError: unknown) => {
      deps.log.error({ err: removeError, key }, 'could not remove the stored upload after a failed append');
    });
    throw error;
  }
}
