import { randomUUID } from 'node:crypto';
import { ErrorCode, FramelogError } from '../../domain/errors.js';
import type { VideoState } from '../../domain/video.js';
import { appendToStream } from '../../eventstore/append.js';
import type { Db } from '../../eventstore/db.js';
import { resumableKey } from '../../media/keys.js';
import type { Logger } from '../../logger.js';
import type { ResumableStore } from '../uploads/resumableStore.js';
import { parseUploadText } from '../input.js';

export interface CreateUploadDeps {
  db: Db;
  resumable: ResumableStore;
  maxUploadBytes: number;
  /** UPLOAD_EXPIRY_HOURS in ms. */
  uploadExpiryMs: number;
  log: Logger;
  now?: () => Date;
}

export interface CreateUploadInput {
  filename: string;
  /** Declared size in bytes: the upload completes at exactly this many. */
  sizeBytes: number;
  title: string | null;
  actor: string;
  correlationId: string;
}

export interface CreatedUpload {
  video: VideoState;
  expiresAt: Date;
}

/** BAD_USER_INPUT, UPLOAD_EMPTY or UPLOAD_TOO_LARGE for a size no upload may declare. */
function checkDeclaredSize(sizeBytes: number, maxUploadBytes: number): void {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 0) {
    throw new FramelogError(ErrorCode.BAD_USER_INPUT, `sizeBytes must be a whole number of bytes, not ${sizeBytes}.`);
  }
  if (sizeBytes === 0) throw new FramelogError(ErrorCode.UPLOAD_EMPTY, 'The upload is empty; send a video file.');
  if (sizeBytes > maxUploadBytes) {
    throw new FramelogError(ErrorCode.UPLOAD_TOO_LARGE, `The upload is larger than the limit of ${maxUploadBytes} bytes.`, { details: { maxBytes: maxUploadBytes } });
  }
}

/**
 * Opens a resumable upload (DESIGN §12): checks the declared size and the title, creates the empty tus
 * resource named by a new video id, then appends UploadStarted (status UPLOADING). The bytes then go
 * over tus; the last one makes the upload VideoUploaded (finishUpload). Bad input changes nothing.
 */
export async function createUpload(deps: CreateUploadDeps, input: CreateUploadInput): Promise<CreatedUpload> {
  checkDeclaredSize(input.sizeBytes, deps.maxUploadBytes);
  // The same rules as uploadVideo's text; the content type is only known once the worker probes the bytes.
  const { title, originalFilename } = parseUploadText({ title: input.title, filename: input.filename.trim(), mimetype: 'application/octet-stream' });
  if (originalFilename === '') throw new FramelogError(ErrorCode.BAD_USER_INPUT, 'filename must not be empty.');
  const videoId = randomUUID();
  const taskId = randomUUID();
  const expiresAt = new Date((deps.now?.() ?? new Date()).getTime() + deps.uploadExpiryMs);
  await deps.resumable.create(videoId, input.sizeBytes);
  try {
    const { state } = await appendToStream(deps.db, {
      streamId: videoId,
      expectedVersion: 0,
      state: null,
      events: [
        {
          event: {
            type: 'UploadStarted',
            data: { taskId, title, originalFilename, sizeBytes: input.sizeBytes, storageKey: resumableKey(videoId), owner: input.actor, expiresAt: expiresAt.toISOString() },
          },
          metadata: { correlationId: input.correlationId, causationId: null, taskId, actor: input.actor },
        },
      ],
    });
    return { video: state, expiresAt };
  } catch (error) {
    await deps.resumable.remove(videoId).catch((removeError: unknown) => {
      deps.log.error({ err: removeError, videoId }, 'could not remove the upload resource after a failed append');
    });
    throw error;
  }
}
