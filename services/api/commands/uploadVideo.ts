import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { VideoState } from '../../domain/video.js';
import { decideRequest } from '../../domain/decide.js';
import type { Db } from '../../eventstore/db.js';
import { handleCommand } from '../../eventstore/handleCommand.js';
import { videoStream } from '../../eventstore/videoStream.js';
import { sourceKey } from '../../media/keys.js';
import { requestMetadata, taskMessagesOf, type RequestTrace } from './taskMessages.js';
import type { ApiDeps } from '../deps.js';
import { parseUploadText } from '../input.js';

export interface UploadInput extends RequestTrace {
  stream: Readable;
  filename: string;
  mimetype: string;
  title: string | null;
}

/**
 * Streams the file to storage (hashing it on the way), then appends VideoUploaded and the task's
 * outbox row in one transaction. If anything fails, the stored file is removed: no orphan file,
 * no half-written event.
 */
export async function uploadVideo(deps: Pick<ApiDeps, 'db' | 'storage' | 'maxUploadBytes' | 'log'>, input: UploadInput): Promise<VideoState> {
  let text;
  try {
    // Before anything is stored: refused text leaves no file and no folder behind.
    text = parseUploadText(input);
  } catch (error) {
    input.stream.resume(); // drain, so the request can finish
    throw error;
  }
  const videoId = randomUUID();
  const key = sourceKey(videoId);
  const { sizeBytes, sha256 } = await deps.storage.writeStream(key, input.stream, { maxBytes: deps.maxUploadBytes });
  try {
    return await recordUpload(deps.db, {
      videoId,
      // The filename is kept for display only; it never becomes part of a storage path.
      ...text,
      sizeBytes,
      sha256,
      actor: input.actor,
      correlationId: input.correlationId,
      ...(input.traceparent === undefined ? {} : { traceparent: input.traceparent }),
    });
  } catch (error) {
    await deps.storage.remove(key).catch((removeError: unknown) => {
      deps.log.error({ err: removeError, key }, 'could not remove the stored upload after a failed append');
    });
    throw error;
  }
}

export interface UploadRecord extends RequestTrace {
  videoId: string;
  title: string | null;
  originalFilename: string;
  contentType: string;
  sizeBytes: number;
  sha256: string;
}

/**
 * Appends VideoUploaded and its task's outbox row in one transaction, for a file already stored at
 * `sourceKey(videoId)`, or for the resumable upload `uploading` whose bytes are complete (its task and
 * key, at its version: a second completion of the same upload is a ConcurrencyError and enqueues
 * nothing). The one place that knows what an upload records (the benchmarks reuse it).
 */
export async function recordUpload(db: Db, upload: UploadRecord, uploading: VideoState | null = null): Promise<VideoState> {
  const taskId = uploading?.currentTaskId ?? randomUUID();
  const { videoId, actor, correlationId, traceparent, ...facts } = upload;
  const trace: RequestTrace = { actor, correlationId, ...(traceparent === undefined ? {} : { traceparent }) };
  const data = { taskId, ...facts, storageKey: uploading?.storageKey ?? sourceKey(videoId) };
  const { state } = await handleCommand(db, videoId, { type: videoStream, decide: decideRequest }, { type: 'UploadVideo', videoId, data }, {
    state: uploading,
    metadata: () => requestMetadata(trace, taskId),
    outbox: taskMessagesOf(videoId, trace),
  });
  if (state === null) throw new Error('unreachable: an upload always creates its stream');
  return state;
}
