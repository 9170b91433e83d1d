import { randomUUID } from 'node:crypto';
import { decideUpload, type UploadCommand } from '../../domain/decide.js';
import { ErrorCode, FramelogError } from '../../domain/errors.js';
import type { VideoState } from '../../domain/video.js';
import { handleCommand } from '../../eventstore/handleCommand.js';
import { videoStream } from '../../eventstore/videoStream.js';
import type { Db } from '../../eventstore/db.js';
import { resumableKey } from '../../media/keys.js';
import type { Logger } from '../../logger.js';
import type { ResumableStore } from '../uploads/resumableStore.js';
import { parseUploadText } from '../input.js';
import { requestMetadata } from './taskMessages.js';

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

/**
 * Opens a resumable upload (DESIGN §12): checks the title here and the declared size by decideUpload's
 * StartUpload rule, creates the empty tus resource named by a new video id, then appends UploadStarted
 * (status UPLOADING) through handleCommand. The bytes then go over tus; the last one makes the upload
 * VideoUploaded (finishUpload). Bad input changes nothing.
 */
export async function createUpload(deps: CreateUploadDeps, input: CreateUploadInput): Promise<CreatedUpload> {
  // The same rules as uploadVideo's text; the content type is only known once the worker probes the bytes.
  const { title, originalFilename } = parseUploadText({ title: input.title, filename: input.filename.trim(), mimetype: 'application/octet-stream' });
  if (originalFilename === '') throw new FramelogError(ErrorCode.BAD_USER_INPUT, 'filename must not be empty.');
  const videoId = randomUUID();
  const taskId = randomUUID();
  const now = deps.now?.() ?? new Date();
  const expiresAt = new Date(now.getTime() + deps.uploadExpiryMs);
  const data = { taskId, title, originalFilename, sizeBytes: input.sizeBytes, storageKey: resumableKey(videoId), owner: input.actor, expiresAt: expiresAt.toISOString() };
  const command: UploadCommand = { type: 'StartUpload', videoId, data, maxUploadBytes: deps.maxUploadBytes };
  // Decided once before anything is stored, so a refused size leaves no upload resource behind.
  decideUpload(command, null, now);
  await deps.resumable.create(videoId, input.sizeBytes);
  try {
    const { state } = await handleCommand(deps.db, videoId, { type: videoStream, decide: (c: UploadCommand, s: VideoState | null) => decideUpload(c, s, now) }, command, {
      state: null,
      metadata: () => requestMetadata(input, taskId),
    });
    if (state === null) throw new Error('unreachable: UploadStarted creates the stream');
    return { video: state, expiresAt };
  } catch (error) {
    await deps.resumable.remove(videoId).catch((removeError: unknown) => {
      deps.log.error({ err: removeError, videoId }, 'could not remove the upload resource after a failed append');
    });
    throw error;
  }
}
