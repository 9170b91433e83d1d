import { IllegalTransitionError } from './errors.js';
import type { EventOf, MediaInfo, PlannedRange, Poster, RecordedEvent, Rendition, Streaming, VideoEvent } from './events.js';

export const VideoStatus = {
  /** Created by createUpload; its bytes are still arriving over tus (DESIGN §12). */
  UPLOADING: 'UPLOADING',
  QUEUED: 'QUEUED',
  PROCESSING: 'PROCESSING',
  RETRYING: 'RETRYING',
  PROCESSED: 'PROCESSED',
  FAILED: 'FAILED',
} as const;
export type VideoStatus = (typeof VideoStatus)[keyof typeof VideoStatus];

export interface LastError {
  code: string;
  message: string;
  retryable: boolean;
  attempt: number;
}

/** A video folded from its stream. The `videos` projection stores exactly this, one row per video. */
export interface VideoState {
  id: string;
  status: VideoStatus;
  title: string | null;
  originalFilename: string;
  contentType: string;
  sizeBytes: number;
  sha256: string;
  storageKey: string;
  /** The task now in charge of this video (from VideoUploaded or the latest RetryRequested). */
  currentTaskId: string;
  /** Attempts started for the current task. */
  attempts: number;
  /** ProcessingStarted events of the current task with no outcome after them: crashed deliveries. */
  unfinishedStarts: number;
  lastError: LastError | null;
  media: MediaInfo | null;
  renditions: Rendition[];
  poster: Poster | null;
  uploadedAt: Date;
  updatedAt: Date;
  version: number;
  /** Log position of VideoUploaded: the stable cursor for listing videos. */
  createdPosition: bigint;
  lastPosition: bigint;
  /**
   * The current task's split plan (VideoSplit, DESIGN §11), absent when it was not split. Only in states
   * folded from the log: the `videos` projection keeps no plan, so the decisions that read it load the
   * stream by folding (eventstore/videoFlowStream.ts).
   */
  split?: SplitState;
}

/** A task split into ranges: its plan and whether its one stitch was requested. */
export interface SplitState {
  taskId: string;
  durationSeconds: number;
  segmentSeconds: number;
  ranges: PlannedRange[];
  stitchRequested: boolean;
}

export const isTerminal = (status: VideoStatus): boolean =>
  status === VideoStatus.PROCESSED || status === VideoStatus.FAILED;

/** Statuses with live progress (never stored): bytes received while UPLOADING, transcoding while PROCESSING. */
export const hasProgress = (status: VideoStatus): boolean => status === VideoStatus.UPLOADING || status === VideoStatus.PROCESSING;

/** Whether the video's bytes ever arrived whole: false for an upload that expired or was cancelled. */
export const hasSource = (state: VideoState): boolean => state.sha256 !== '';

/** Only a FAILED video with a source may be redriven (DESIGN §3, RetryRequested): an ended upload has nothing to process. */
export const canRetry = (state: VideoState): boolean => state.status === VideoStatus.FAILED && hasSource(state);

type Recorded = Pick<RecordedEvent, 'streamId' | 'version' | 'recordedAt' | 'position'> & VideoEvent;

/**
 * The one place that knows how an event changes a video. Pure: the inline projection, the rebuild,
 * `asOf` and the audit all fold with it, so they cannot disagree.
 */
export function evolve(state: VideoState | null, event: Recorded): VideoState {
  if (event.type === 'UploadStarted' || (event.type === 'VideoUploaded' && state === null)) return createdBy(state, event);
  if (state === null) throw new IllegalTransitionError(null, event.type, 'the stream has no VideoUploaded');
  return evolveFrom(state, event);
}

/** How an event changes a video that exists (evolve). */
function evolveFrom(state: VideoState, event: Recorded): VideoState {
  const illegal = (reason: string) => new IllegalTransitionError(state.status, event.type, reason);
  if (event.version !== state.version + 1) throw illegal(`version ${event.version} does not follow ${state.version}`);
  const base = { ...state, version: event.version, updatedAt: event.recordedAt, lastPosition: event.position };
  const requireTask = () => {
    if (event.data.taskId !== state.currentTaskId) throw illegal(`task ${event.data.taskId} is not the current task ${state.currentTaskId}`);
  };

  switch (event.type) {
    case 'UploadStarted':
      throw illegal('the video already exists');
    case 'VideoUploaded':
      requireTask();
      if (state.status !== VideoStatus.UPLOADING) throw illegal('the upload is not in progress');
      // uploadedAt stays the creation (UploadStarted): the projection takes it from the stream's first event.
      return { ...base, ...uploadedFacts(event.data), status: VideoStatus.QUEUED };
    case 'UploadExpired':
    case 'UploadCancelled':
      requireTask();
      if (state.status !== VideoStatus.UPLOADING) throw illegal('the upload is not in progress');
      return { ...base, status: VideoStatus.FAILED, lastError: uploadEndedError(event.type) };
    case 'ProcessingStarted':
      requireTask();
      if (isTerminal(state.status)) throw illegal('the task already has an outcome');
      if (state.status === VideoStatus.UPLOADING) throw illegal('the upload is not complete');
      return { ...base, status: VideoStatus.PROCESSING, attempts: Math.max(state.attempts, event.data.attempt), unfinishedStarts: state.unfinishedStarts + 1 };
    case 'VideoProcessed':
    case 'ProcessingFailed':
      // An attempt's outcome.
      requireTask();
      if (state.status !== VideoStatus.PROCESSING) throw illegal('processing has not started');
      return { ...base, ...(event.type === 'VideoProcessed' ? processedFacts(event.data) : afterFailedAttempt(state, event.data)) };
    case 'VideoFailed': {
      requireTask();
      if (isTerminal(state.status)) throw illegal('the task already has an outcome');
      if (state.status === VideoStatus.UPLOADING) throw illegal('an unfinished upload ends with UploadExpired or UploadCancelled');
      const lastError = { code: event.data.code, message: event.data.message, retryable: false, attempt: event.data.attempts };
      return { ...base, status: VideoStatus.FAILED, attempts: Math.max(state.attempts, event.data.attempts), unfinishedStarts: 0, lastError };
    }
    case 'VideoSplit': {
      requireTask();
      if (state.status !== VideoStatus.PROCESSING) throw illegal('processing has not started');
      if (state.split !== undefined) throw illegal('the task is already split');
      const { taskId, durationSeconds, segmentSeconds, ranges } = event.data;
      // The attempt that planned has its outcome: its start is no crashed delivery. The stitch counts its own attempts.
      return { ...base, attempts: 0, unfinishedStarts: 0, split: { taskId, durationSeconds, segmentSeconds, ranges, stitchRequested: false } };
    }
    case 'StitchRequested':
      requireTask();
      if (state.split === undefined || isTerminal(state.status)) throw illegal('the task is not split, or has its outcome');
      if (state.split.stitchRequested) throw illegal('the stitch is already requested');
      if (event.data.segments !== state.split.ranges.length) throw illegal(`${event.data.segments} of ${state.split.ranges.length} ranges encoded`);
      return { ...base, split: { ...state.split, stitchRequested: true } };
    case 'RetryRequested': {
      if (!canRetry(state)) throw illegal('only a FAILED video can be retried');
      if (event.data.taskId === state.currentTaskId) throw illegal('a retry needs a new task id');
      // A new task: the old one's plan (if any) is not its plan.
      const { split: _oldPlan, ...unsplit } = base;
      return { ...unsplit, status: VideoStatus.QUEUED, currentTaskId: event.data.taskId, attempts: 0, unfinishedStarts: 0, lastError: null };
    }
  }
}

/** What an upload that ended unfinished (expired, cancelled) leaves as the video's error. */
function uploadEndedError(type: 'UploadExpired' | 'UploadCancelled'): LastError {
  return type === 'UploadExpired'
    ? { code: 'UPLOAD_EXPIRED', message: 'The upload was not finished in time; its bytes were removed.', retryable: false, attempt: 0 }
    : { code: 'UPLOAD_CANCELLED', message: 'The upload was cancelled by its owner; its bytes were removed.', retryable: false, attempt: 0 };
}

const processedFacts = (data: EventOf<'VideoProcessed'>['data']) => ({
  status: VideoStatus.PROCESSED,
  unfinishedStarts: 0,
  lastError: null,
  media: data.media,
  renditions: data.renditions,
  poster: data.poster,
});

/** What a ProcessingFailed changes: an interrupted attempt is given back, a failed one is the last error. */
function afterFailedAttempt(state: VideoState, data: EventOf<'ProcessingFailed'>['data']): Pick<VideoState, 'status' | 'attempts' | 'unfinishedStarts' | 'lastError'> {
  if (data.interrupted === true) {
    // Stopped by a shutdown, not failed: the attempt is given back and its start is not counted as
    // a crash (earlier crashed starts still are).
    return { status: VideoStatus.RETRYING, attempts: data.attempt - 1, unfinishedStarts: Math.max(state.unfinishedStarts - 1, 0), lastError: state.lastError };
  }
  return {
    status: VideoStatus.RETRYING,
    attempts: state.attempts,
    unfinishedStarts: 0,
    lastError: { code: data.code, message: data.message, retryable: data.retryable, attempt: data.attempt },
  };
}

type Creating = Recorded & { type: 'UploadStarted' | 'VideoUploaded' };

/** The first state of a video: uploaded whole (uploadVideo) or with its bytes still to come (createUpload). */
function createdBy(state: VideoState | null, event: Creating): VideoState {
  const illegal = (reason: string) => new IllegalTransitionError(state?.status ?? null, event.type, reason);
  if (state !== null) throw illegal('the video already exists');
  if (event.version !== 1) throw illegal(`${event.type} must be the first event of its stream`);
  const facts =
    event.type === 'VideoUploaded'
      ? { ...uploadedFacts(event.data), status: VideoStatus.QUEUED }
      : // An unfinished upload has no hash yet; its content type is known once the worker probes it.
        { sizeBytes: event.data.sizeBytes, sha256: '', storageKey: event.data.storageKey, contentType: 'application/octet-stream', status: VideoStatus.UPLOADING };
  return {
    id: event.streamId,
    title: event.data.title,
    originalFilename: event.data.originalFilename,
    ...facts,
    currentTaskId: event.data.taskId,
    attempts: 0,
    unfinishedStarts: 0,
    lastError: null,
    media: null,
    renditions: [],
    poster: null,
    uploadedAt: event.recordedAt,
    updatedAt: event.recordedAt,
    version: 1,
    createdPosition: event.position,
    lastPosition: event.position,
  };
}

const uploadedFacts = (data: EventOf<'VideoUploaded'>['data']) => ({
  contentType: data.contentType,
  sizeBytes: data.sizeBytes,
  sha256: data.sha256,
  storageKey: data.storageKey,
});

/** Folds a whole stream (or a prefix of it, for `asOf`). */
export function fold(events: Iterable<Recorded>, initial: VideoState | null = null): VideoState | null {
  let state = initial;
  for (const event of events) state = evolve(state, event);
  return state;
}

/**
 * The streaming outputs of the latest VideoProcessed among `events`, or null when there is none or it was
 * recorded before adaptive streaming (its `streaming` is absent). Pure. Kept out of VideoState so that the
 * `videos` projection (and its audit) stays as it is; the API reads it from the stream on demand.
 */
export function latestStreaming(events: readonly VideoEvent[]): Streaming | null {
  const processed = events.filter((event): event is EventOf<'VideoProcessed'> => event.type === 'VideoProcessed').at(-1);
  return processed?.data.streaming ?? null;
}
