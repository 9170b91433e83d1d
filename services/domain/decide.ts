import { ErrorCode, FramelogError, IllegalTransitionError, NotFoundError } from './errors.js';
import type { EventOf, MediaInfo, Poster, Rendition, VideoEvent } from './events.js';
import { decideSplit, stageDone, type SplitCommand } from './split.js';
import { backoffDelayMs, decideTask } from './task.js';
import { canRetry, evolve, hasSource, isTerminal, VideoStatus, type VideoState } from './video.js';

/** The failure policy of tasks (DESIGN §1 guarantee 3), from the settings. */
export interface TaskPolicy {
  /** Attempts that may fail before the task is VideoFailed (MAX_ATTEMPTS). */
  maxAttempts: number;
  /** Deliveries that may end without any outcome (crashes) before the task is VideoFailed (REDELIVERY_LIMIT). */
  deliveryLimit: number;
  /** Backoff steps before attempt 2, 3, …; the last one repeats. */
  retryDelaysMs: readonly number[];
}

/** How the broker should settle the message that carried a command (DESIGN §4). */
export type TaskSettle =
  /** Done (including: nothing to do). */
  | { kind: 'ack' }
  /** Deliver again after at least `delayMs`, through a delay queue; not a failed delivery. */
  | { kind: 'retry'; delayMs: number }
  /** Give up: the message goes to the dead-letter queue with the reason. */
  | { kind: 'dead-letter'; reason: string }
  /**
   * Give the message back without counting a failure (shutdown, database down). `interruptedAttempt`
   * travels with the copy when an attempt was started but its end could not be recorded.
   */
  | { kind: 'requeue'; interruptedAttempt?: number };

/** What a client may ask of a video (the API's commands). */
export type RequestCommand =
  | { type: 'UploadVideo'; videoId: string; data: EventOf<'VideoUploaded'>['data'] }
  | { type: 'RetryVideo'; videoId: string; taskId: string; requestedBy: string; reason: string | null };

/** What may be asked of a video. Each names the video; the worker's ones also the task they serve. */
export type VideoCommand =
  | RequestCommand
  | UploadCommand
  /** `stage`: which message started it; absent is `transcode` (split and stitch, DESIGN §11). */
  | { type: 'StartAttempt'; videoId: string; taskId: string; workerId: string; interruptedAttempt: number | null; stage?: 'transcode' | 'stitch' }
  | { type: 'SucceedAttempt'; videoId: string; taskId: string; attempt: number; result: AttemptResult; elapsedMs: number }
  | { type: 'FailAttempt'; videoId: string; taskId: string; attempt: number; error: AttemptError }
  | { type: 'InterruptAttempt'; videoId: string; taskId: string; attempt: number; code: ErrorCode; message: string }
  | { type: 'RecordDeadLetter'; videoId: string; taskId: string; reason: string | null }
  | SplitCommand;

export interface AttemptResult {
  media: MediaInfo;
  renditions: Rendition[];
  poster: Poster | null;
}

export interface AttemptError {
  code: string;
  message: string;
  retryable: boolean;
}

/**
 * The events a command appends and how its message is settled. `settle: null` means there is no
 * message to settle yet: an API command, or a start whose attempt should now run.
 */
export interface Decision {
  events: VideoEvent[];
  settle: TaskSettle | null;
}

/** The broker's reason for a quorum queue's delivery limit (x-first-death-reason). */
const DELIVERY_LIMIT_REASON = 'delivery_limit';

const ACK: TaskSettle = { kind: 'ack' };
const nothing = (settle: TaskSettle | null): Decision => ({ events: [], settle });

/**
 * The one place that decides what a command does to a video (DESIGN §3): pure, so every rule is
 * tested as given(events).when(command).then(events, settle). Refused API commands throw typed errors;
 * the worker's commands never throw: a late or duplicate one decides to do nothing.
 */
export function decide(command: VideoCommand, state: VideoState | null, policy: TaskPolicy, now: Date): Decision {
  switch (command.type) {
    case 'UploadVideo':
    case 'RetryVideo':
      return decideRequest(command, state);
    case 'StartAttempt':
      return decideStart(command, state, policy, now);
    case 'SucceedAttempt': {
      if (!isRunning(state, command.taskId)) return nothing(ACK);
      const { taskId, attempt, result, elapsedMs } = command;
      return { events: [{ type: 'VideoProcessed', data: { taskId, attempt, ...result, elapsedMs } }], settle: ACK };
    }
    case 'FailAttempt':
      return isRunning(state, command.taskId) ? decideFailure(command, policy, now) : nothing(ACK);
    case 'InterruptAttempt': {
      const requeue: TaskSettle = { kind: 'requeue' };
      if (!isRunning(state, command.taskId)) return nothing(requeue);
      return { events: [interruption(command.taskId, command.attempt, command.code, command.message)], settle: requeue };
    }
    case 'RecordDeadLetter':
      return decideDeadLetter(command, state);
    case 'StartUpload':
    case 'CancelUpload':
    case 'ExpireUpload':
      return decideUpload(command, state, now);
    case 'SplitAttempt':
      // The planning attempt is done either way (a late duplicate of it has nothing to add).
      return { events: decideSplit(command, state), settle: ACK };
    case 'RequestStitch':
    case 'FailForSegment':
      // Appended on a segment task's behalf: its own message is settled by the segment's decision.
      return { events: decideSplit(command, state), settle: null };
  }
}

/** `decide` for the API's commands, which need no task policy: no message to settle, only events. */
export function decideRequest(command: RequestCommand, state: VideoState | null): Decision {
  if (command.type === 'RetryVideo') return decideRetry(command, state);
  // A resumable upload's bytes all arrived: VideoUploaded completes the video UploadStarted created.
  const completes = state !== null && state.status === VideoStatus.UPLOADING && command.data.taskId === state.currentTaskId;
  if (state !== null && !completes) throw new IllegalTransitionError(state.status, 'VideoUploaded', 'the video already exists');
  return { events: [{ type: 'VideoUploaded', data: command.data }], settle: null };
}

/** The task is the video's current one and an attempt of it is running (its outcome can be recorded). */
const isRunning = (state: VideoState | null, taskId: string): state is VideoState =>
  state !== null && state.currentTaskId === taskId && state.status === VideoStatus.PROCESSING;

const isOpen = (state: VideoState | null, taskId: string): state is VideoState =>
  state !== null && state.currentTaskId === taskId && !isTerminal(state.status);

function decideRetry(command: Extract<VideoCommand, { type: 'RetryVideo' }>, state: VideoState | null): Decision {
  if (state === null) throw new NotFoundError(command.videoId);
  if (!canRetry(state)) {
    throw new FramelogError(ErrorCode.RETRY_NOT_ALLOWED, `Only a FAILED video can be retried; this one is ${state.status}.`, {
      details: { videoId: state.id, status: state.status },
    });
  }
  const { taskId, requestedBy, reason } = command;
  return { events: [{ type: 'RetryRequested', data: { taskId, requestedBy, reason } }], settle: null };
}

const interruption = (taskId: string, attempt: number, code: ErrorCode, message: string): VideoEvent => ({
  type: 'ProcessingFailed',
  data: { taskId, attempt, code, message, retryable: true, nextAttemptAt: null, interrupted: true },
});

/**
 * A delivery of a task: first close an attempt a previous delivery started but could not record the end
 * of (it is handed back, uncounted), then start the next attempt, skip the task, or give it up after too
 * many deliveries ended without an outcome.
 */
function decideStart(command: Extract<VideoCommand, { type: 'StartAttempt' }>, state: VideoState | null, policy: TaskPolicy, now: Date): Decision {
  if (state === null) return nothing({ kind: 'dead-letter', reason: `${ErrorCode.INVALID_MESSAGE}: no video ${command.videoId}` });
  const { taskId, interruptedAttempt } = command;
  if (stageDone(state, taskId, command.stage ?? 'transcode')) return nothing(ACK);
  const events: VideoEvent[] = [];
  let current = state;
  if (interruptedAttempt !== null && isRunning(state, taskId) && state.attempts === interruptedAttempt && state.unfinishedStarts > 0) {
    const closed = interruption(taskId, interruptedAttempt, ErrorCode.DATABASE_UNAVAILABLE, 'The worker could not reach the database to record this attempt; the task was requeued.');
    events.push(closed);
    current = evolve(state, { ...closed, streamId: state.id, version: state.version + 1, recordedAt: now, position: state.lastPosition });
  }
  const decision = decideTask(current, taskId, { maxUnfinishedStarts: policy.deliveryLimit });
  switch (decision.kind) {
    case 'skip':
      return { events, settle: ACK };
    case 'give-up': {
      const message = `${current.unfinishedStarts} deliveries ended without an outcome (a worker crashed or was killed each time).`;
      events.push({ type: 'VideoFailed', data: { taskId, attempts: decision.attempts, code: ErrorCode.REDELIVERY_LIMIT, message } });
      return { events, settle: { kind: 'dead-letter', reason: `${ErrorCode.REDELIVERY_LIMIT}: ${message}` } };
    }
    case 'process':
      events.push({ type: 'ProcessingStarted', data: { taskId, attempt: decision.attempt, workerId: command.workerId } });
      return { events, settle: null };
  }
}

/** A failed attempt: terminal if not retryable or out of attempts, else retried after the backoff. */
function decideFailure(command: Extract<VideoCommand, { type: 'FailAttempt' }>, policy: TaskPolicy, now: Date): Decision {
  const { taskId, attempt, error } = command;
  const data = { taskId, code: error.code, message: error.message };
  if (!error.retryable) return { events: [{ type: 'VideoFailed', data: { ...data, attempts: attempt } }], settle: ACK };
  if (attempt >= policy.maxAttempts) {
    const message = `Gave up after ${attempt} attempts: ${error.message}`;
    return {
      events: [{ type: 'VideoFailed', data: { ...data, attempts: attempt, message } }],
      settle: { kind: 'dead-letter', reason: `${ErrorCode.MAX_ATTEMPTS}: ${message}` },
    };
  }
  const delayMs = backoffDelayMs(attempt, policy.retryDelaysMs);
  const nextAttemptAt = new Date(now.getTime() + delayMs).toISOString();
  return {
    events: [{ type: 'ProcessingFailed', data: { ...data, attempt, retryable: true, nextAttemptAt } }],
    settle: { kind: 'retry', delayMs },
  };
}

/**
 * A task's message was dead-lettered (the watch queue's copy): make sure the task ends in VideoFailed.
 * Workers record it before they dead-letter a task themselves; this matters when the broker did, e.g.
 * at its delivery limit. An unknown video, a superseded or finished task has nothing to record.
 */
function decideDeadLetter(command: Extract<VideoCommand, { type: 'RecordDeadLetter' }>, state: VideoState | null): Decision {
  if (!isOpen(state, command.taskId)) return nothing(ACK);
  const limit = command.reason === DELIVERY_LIMIT_REASON;
  const code = limit ? ErrorCode.REDELIVERY_LIMIT : ErrorCode.DEAD_LETTERED;
  const message = limit
    ? 'The broker stopped delivering the task: every delivery ended without an outcome (a worker crashed or was killed each time).'
    : `The task's message was dead-lettered (${command.reason ?? 'no reason given'}) before any outcome was recorded.`;
  return { events: [{ type: 'VideoFailed', data: { taskId: command.taskId, attempts: state.attempts, code, message } }], settle: ACK };
}

/** What a resumable upload's later commands are judged by: the terms its UploadStarted set. */
export type UploadTerms = Pick<EventOf<'UploadStarted'>['data'], 'owner' | 'expiresAt'>;

/** What may be asked of a resumable upload (DESIGN §12): open it (createUpload), end it. Its completion is UploadVideo. */
export type UploadCommand =
  /** `data` as the API built it (new task, key, owner, expiry); `maxUploadBytes` is MAX_UPLOAD_BYTES. */
  | { type: 'StartUpload'; videoId: string; data: EventOf<'UploadStarted'>['data']; maxUploadBytes: number }
  /** tus DELETE: `requestedBy` is the caller's principal, `receivedBytes` what the store holds. */
  | { type: 'CancelUpload'; videoId: string; terms: UploadTerms; requestedBy: string; receivedBytes: number }
  /** The sweep: an upload that may be past its expiry. */
  | { type: 'ExpireUpload'; videoId: string; terms: UploadTerms; receivedBytes: number };

/**
 * `decide` for resumable uploads: no message to settle. Refusals are typed errors (StartUpload:
 * BAD_USER_INPUT, UPLOAD_EMPTY, UPLOAD_TOO_LARGE, ILLEGAL_TRANSITION; CancelUpload: VIDEO_NOT_FOUND,
 * FORBIDDEN, notUploading's codes, UPLOAD_EXPIRED); ExpireUpload is the system's and never refused:
 * an upload that is complete, ended or still in time decides to do nothing.
 */
export function decideUpload(command: UploadCommand, state: VideoState | null, now: Date): Decision {
  switch (command.type) {
    case 'StartUpload':
      checkDeclaredSize(command.data.sizeBytes, command.maxUploadBytes);
      if (state !== null) throw new IllegalTransitionError(state.status, 'UploadStarted', 'the video already exists');
      return { events: [{ type: 'UploadStarted', data: command.data }], settle: null };
    case 'CancelUpload': {
      if (state === null) throw new NotFoundError(command.videoId);
      if (command.requestedBy !== command.terms.owner) {
        throw new FramelogError(ErrorCode.FORBIDDEN, 'This upload belongs to another principal; send it with the token that created it.');
      }
      if (state.status !== VideoStatus.UPLOADING) throw notUploading(state);
      if (isExpired(command.terms, now)) throw expiredError(command.terms);
      const { receivedBytes, requestedBy } = command;
      return { events: [{ type: 'UploadCancelled', data: { taskId: state.currentTaskId, receivedBytes, requestedBy } }], settle: null };
    }
    case 'ExpireUpload':
      if (state?.status !== VideoStatus.UPLOADING || !isExpired(command.terms, now)) return nothing(null);
      return { events: [{ type: 'UploadExpired', data: { taskId: state.currentTaskId, receivedBytes: command.receivedBytes } }], settle: null };
  }
}

/** Whether an upload's time is up (UPLOAD_EXPIRY_HOURS after it was opened). */
export const isExpired = (terms: Pick<UploadTerms, 'expiresAt'>, now: Date): boolean => Date.parse(terms.expiresAt) <= now.getTime();

/** UPLOAD_EXPIRED for a request on an upload past its time that the sweep has not ended yet. */
export const expiredError = (terms: Pick<UploadTerms, 'expiresAt'>): FramelogError =>
  new FramelogError(ErrorCode.UPLOAD_EXPIRED, `The upload expired at ${terms.expiresAt}; open a new one with createUpload.`);

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

/** The typed refusal for a request on an upload that is no longer in progress: complete (UPLOAD_CONFLICT), expired or cancelled. */
export function notUploading(state: VideoState): FramelogError {
  if (hasSource(state)) {
    return new FramelogError(ErrorCode.UPLOAD_CONFLICT, `The upload of video ${state.id} is already complete.`, { details: { videoId: state.id, status: state.status } });
  }
  const code = state.lastError?.code === ErrorCode.UPLOAD_CANCELLED ? ErrorCode.UPLOAD_CANCELLED : ErrorCode.UPLOAD_EXPIRED;
  return new FramelogError(code, `The upload of video ${state.id} has ended (${code}); open a new one with createUpload.`, { details: { videoId: state.id } });
}
