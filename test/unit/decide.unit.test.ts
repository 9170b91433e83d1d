import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decide, type AttemptResult, type Decision, type TaskPolicy, type VideoCommand } from '../../services/domain/decide.js';
import type { FramelogError } from '../../services/domain/errors.js';
import { ErrorCode } from '../../services/domain/errors.js';
import type { VideoEvent } from '../../services/domain/events.js';
import { failedAttempt, given, processed, retryRequested, started, uploadCancelled, uploadExpired, uploadStarted, uploaded, videoFailed } from '../helpers/events.js';

// given(events).when(command).then(events, settle): every rule of decide(), no broker, no database.

const policy: TaskPolicy = { maxAttempts: 3, deliveryLimit: 2, retryDelaysMs: [5_000, 30_000] };
const now = new Date('2026-11-30T12:00:00.000Z');
const videoId = randomUUID();
const task = randomUUID();
const worker = 'w1';

function spec(events: VideoEvent[]) {
  return {
    when: (command: VideoCommand) => ({
      then: (expected: Decision) => expect(decide(command, given(videoId, events), policy, now)).toEqual(expected),
      throws: (code: ErrorCode) => expect(() => decide(command, given(videoId, events), policy, now)).toThrow(expect.objectContaining({ code }) as FramelogError),
    }),
  };
}

const start = (interruptedAttempt: number | null = null): VideoCommand => ({ type: 'StartAttempt', videoId, taskId: task, workerId: worker, interruptedAttempt });
const result: AttemptResult = { media: { durationSeconds: 1, width: 640, height: 360, videoCodec: 'h264', audioCodec: null, frameRate: 25, rotation: 0 }, renditions: [], poster: null };
const succeed = (attempt = 1): VideoCommand => ({ type: 'SucceedAttempt', videoId, taskId: task, attempt, result, elapsedMs: 7 });
const fail = (attempt: number, retryable: boolean): VideoCommand => ({ type: 'FailAttempt', videoId, taskId: task, attempt, error: { code: 'TRANSCODE_FAILED', message: 'boom', retryable } });
const interrupt = (attempt = 1): VideoCommand => ({ type: 'InterruptAttempt', videoId, taskId: task, attempt, code: ErrorCode.WORKER_SHUTDOWN, message: 'stopped' });
const deadLetter = (reason: string | null): VideoCommand => ({ type: 'RecordDeadLetter', videoId, taskId: task, reason });
const ack = { kind: 'ack' } as const;

describe('decide: upload and retry (API commands)', () => {
  const facts = (uploaded(task).data as Extract<VideoEvent, { type: 'VideoUploaded' }>['data']);
  it('an upload starts a new stream with VideoUploaded', () => {
    spec([]).when({ type: 'UploadVideo', videoId, data: facts }).then({ events: [{ type: 'VideoUploaded', data: facts }], settle: null });
  });
  it('an upload onto an existing stream is refused', () => {
    spec([uploaded(task)]).when({ type: 'UploadVideo', videoId, data: facts }).throws(ErrorCode.ILLEGAL_TRANSITION);
  });
  const next = randomUUID();
  const retry: VideoCommand = { type: 'RetryVideo', videoId, taskId: next, requestedBy: 'ops', reason: 'again' };
  it('a FAILED video is redriven with a new task', () => {
    spec([uploaded(task), started(task), videoFailed(task)]).when(retry).then({ events: [{ type: 'RetryRequested', data: { taskId: next, requestedBy: 'ops', reason: 'again' } }], settle: null });
  });
  it('a retry of an unknown video is VIDEO_NOT_FOUND, of one not FAILED RETRY_NOT_ALLOWED', () => {
    spec([]).when(retry).throws(ErrorCode.VIDEO_NOT_FOUND);
    spec([uploaded(task), started(task)]).when(retry).throws(ErrorCode.RETRY_NOT_ALLOWED);
    spec([uploaded(task), started(task), processed(task)]).when(retry).throws(ErrorCode.RETRY_NOT_ALLOWED);
  });
});

describe('decide: start', () => {
  it('a queued task starts attempt 1 and is not settled yet (the attempt runs)', () => {
    spec([uploaded(task)]).when(start()).then({ events: [{ type: 'ProcessingStarted', data: { taskId: task, attempt: 1, workerId: worker } }], settle: null });
  });
  it('after a retryable failure the next attempt starts', () => {
    spec([uploaded(task), started(task), failedAttempt(task)]).when(start()).then({ events: [{ type: 'ProcessingStarted', data: { taskId: task, attempt: 2, workerId: worker } }], settle: null });
  });
  it('a finished or superseded task is acked without events', () => {
    spec([uploaded(task), started(task), processed(task)]).when(start()).then({ events: [], settle: ack });
    spec([uploaded(task), started(task), videoFailed(task), retryRequested(randomUUID())]).when(start()).then({ events: [], settle: ack });
  });
  it('an unknown video is dead-lettered as INVALID_MESSAGE', () => {
    spec([]).when(start()).then({ events: [], settle: { kind: 'dead-letter', reason: `INVALID_MESSAGE: no video ${videoId}` } });
  });
  it('past the delivery limit of starts without an outcome, the task fails with REDELIVERY_LIMIT and is dead-lettered', () => {
    const decision = decide(start(), given(videoId, [uploaded(task), started(task, 1), started(task, 2)]), policy, now);
    expect(decision.events).toEqual([{ type: 'VideoFailed', data: { taskId: task, attempts: 2, code: 'REDELIVERY_LIMIT', message: expect.stringMatching(/^2 deliveries ended without an outcome/) as unknown } }]);
    expect(decision.settle).toMatchObject({ kind: 'dead-letter', reason: expect.stringMatching(/^REDELIVERY_LIMIT: /) as unknown });
  });
  it('an attempt the previous delivery could not close is recorded as interrupted, then the same attempt starts again', () => {
    spec([uploaded(task), started(task, 1), started(task, 2)]).when(start(2)).then({
      events: [
        { type: 'ProcessingFailed', data: { taskId: task, attempt: 2, code: 'DATABASE_UNAVAILABLE', message: 'The worker could not reach the database to record this attempt; the task was requeued.', retryable: true, nextAttemptAt: null, interrupted: true } },
        { type: 'ProcessingStarted', data: { taskId: task, attempt: 2, workerId: worker } },
      ],
      settle: null,
    });
  });
  it('an interrupted attempt the log no longer shows running is not recorded again', () => {
    spec([uploaded(task), started(task, 1), failedAttempt(task, 1)]).when(start(1)).then({ events: [{ type: 'ProcessingStarted', data: { taskId: task, attempt: 2, workerId: worker } }], settle: null });
  });
});

describe('decide: succeed', () => {
  it('a running attempt ends in VideoProcessed and is acked', () => {
    spec([uploaded(task), started(task)]).when(succeed()).then({ events: [{ type: 'VideoProcessed', data: { taskId: task, attempt: 1, ...result, elapsedMs: 7 } }], settle: ack });
  });
  it('a late success of a task that already has its outcome, or was superseded, appends nothing', () => {
    spec([uploaded(task), started(task), processed(task)]).when(succeed()).then({ events: [], settle: ack });
    spec([uploaded(task), started(task), videoFailed(task), retryRequested(randomUUID())]).when(succeed()).then({ events: [], settle: ack });
  });
});

describe('decide: fail', () => {
  it('a retryable failure with attempts left is ProcessingFailed with nextAttemptAt, retried after the backoff', () => {
    spec([uploaded(task), started(task, 1)]).when(fail(1, true)).then({
      events: [{ type: 'ProcessingFailed', data: { taskId: task, attempt: 1, code: 'TRANSCODE_FAILED', message: 'boom', retryable: true, nextAttemptAt: '2026-11-30T12:00:05.000Z' } }],
      settle: { kind: 'retry', delayMs: 5_000 },
    });
    spec([uploaded(task), started(task, 1), failedAttempt(task, 1), started(task, 2)]).when(fail(2, true)).then({
      events: [{ type: 'ProcessingFailed', data: { taskId: task, attempt: 2, code: 'TRANSCODE_FAILED', message: 'boom', retryable: true, nextAttemptAt: '2026-11-30T12:00:30.000Z' } }],
      settle: { kind: 'retry', delayMs: 30_000 },
    });
  });
  it('a failure that is not retryable is VideoFailed at once and acked', () => {
    spec([uploaded(task), started(task)]).when(fail(1, false)).then({ events: [{ type: 'VideoFailed', data: { taskId: task, attempts: 1, code: 'TRANSCODE_FAILED', message: 'boom' } }], settle: ack });
  });
  it('the last attempt failing is VideoFailed and dead-lettered with MAX_ATTEMPTS', () => {
    spec([uploaded(task), started(task, 1), failedAttempt(task, 1), started(task, 2), failedAttempt(task, 2), started(task, 3)]).when(fail(3, true)).then({
      events: [{ type: 'VideoFailed', data: { taskId: task, attempts: 3, code: 'TRANSCODE_FAILED', message: 'Gave up after 3 attempts: boom' } }],
      settle: { kind: 'dead-letter', reason: 'MAX_ATTEMPTS: Gave up after 3 attempts: boom' },
    });
  });
  it('a failure of an attempt that is no longer running appends nothing', () => {
    spec([uploaded(task), started(task), processed(task)]).when(fail(1, true)).then({ events: [], settle: ack });
  });
});

describe('decide: interrupt', () => {
  it('a running attempt stopped by shutdown is handed back uncounted and requeued', () => {
    spec([uploaded(task), started(task)]).when(interrupt()).then({
      events: [{ type: 'ProcessingFailed', data: { taskId: task, attempt: 1, code: 'WORKER_SHUTDOWN', message: 'stopped', retryable: true, nextAttemptAt: null, interrupted: true } }],
      settle: { kind: 'requeue' },
    });
  });
  it('nothing to record when the attempt already ended', () => {
    spec([uploaded(task), started(task), processed(task)]).when(interrupt()).then({ events: [], settle: { kind: 'requeue' } });
  });
});

describe('decide: dead-letter (the watch queue)', () => {
  it('a task the broker stopped at its delivery limit ends in VideoFailed REDELIVERY_LIMIT', () => {
    const decision = decide(deadLetter('delivery_limit'), given(videoId, [uploaded(task), started(task)]), policy, now);
    expect(decision).toMatchObject({ events: [{ type: 'VideoFailed', data: { taskId: task, attempts: 1, code: 'REDELIVERY_LIMIT' } }], settle: ack });
  });
  it('any other dead letter ends the task in VideoFailed DEAD_LETTERED naming the reason', () => {
    const decision = decide(deadLetter('rejected'), given(videoId, [uploaded(task)]), policy, now);
    expect(decision).toMatchObject({ events: [{ type: 'VideoFailed', data: { attempts: 0, code: 'DEAD_LETTERED', message: expect.stringContaining('(rejected)') as unknown } }], settle: ack });
  });
  it('a finished, superseded or unknown task has nothing to record', () => {
    spec([uploaded(task), started(task), processed(task)]).when(deadLetter('delivery_limit')).then({ events: [], settle: ack });
    spec([uploaded(task), started(task), videoFailed(task), retryRequested(randomUUID())]).when(deadLetter('rejected')).then({ events: [], settle: ack });
    spec([]).when(deadLetter('rejected')).then({ events: [], settle: ack });
  });
});

describe('decide: resumable uploads (createUpload, tus DELETE, the expiry sweep)', () => {
  const opened = uploadStarted(task);
  const data = opened.data as Extract<VideoEvent, { type: 'UploadStarted' }>['data'];
  const terms = { owner: 'alice', expiresAt: data.expiresAt };
  const startUpload = (sizeBytes: number): VideoCommand => ({ type: 'StartUpload', videoId, data: { ...data, sizeBytes }, maxUploadBytes: 100 });
  const cancel = (requestedBy = 'alice', expiresAt = terms.expiresAt): VideoCommand => ({ type: 'CancelUpload', videoId, terms: { owner: 'alice', expiresAt }, requestedBy, receivedBytes: 4 });
  const expire = (expiresAt: string): VideoCommand => ({ type: 'ExpireUpload', videoId, terms: { ...terms, expiresAt }, receivedBytes: 4 });
  const past = '2026-11-30T11:59:59.000Z';

  it('createUpload opens a new stream with UploadStarted', () => {
    spec([]).when(startUpload(100)).then({ events: [{ type: 'UploadStarted', data: { ...data, sizeBytes: 100 } }], settle: null });
  });
  it('createUpload refuses a size above MAX_UPLOAD_BYTES, an empty or fractional one, and an existing stream', () => {
    spec([]).when(startUpload(101)).throws(ErrorCode.UPLOAD_TOO_LARGE);
    spec([]).when(startUpload(0)).throws(ErrorCode.UPLOAD_EMPTY);
    spec([]).when(startUpload(1.5)).throws(ErrorCode.BAD_USER_INPUT);
    spec([]).when(startUpload(-1)).throws(ErrorCode.BAD_USER_INPUT);
    spec([opened]).when(startUpload(10)).throws(ErrorCode.ILLEGAL_TRANSITION);
  });
  it('the owner cancels an upload in progress: UploadCancelled with the bytes received', () => {
    spec([opened]).when(cancel()).then({ events: [{ type: 'UploadCancelled', data: { taskId: task, receivedBytes: 4, requestedBy: 'alice' } }], settle: null });
  });
  it('a cancel by another principal is FORBIDDEN, of an unknown upload VIDEO_NOT_FOUND, after its expiry UPLOAD_EXPIRED', () => {
    spec([opened]).when(cancel('bob')).throws(ErrorCode.FORBIDDEN);
    spec([]).when(cancel()).throws(ErrorCode.VIDEO_NOT_FOUND);
    spec([opened]).when(cancel('alice', past)).throws(ErrorCode.UPLOAD_EXPIRED);
  });
  it('a cancel after the upload completed is UPLOAD_CONFLICT, after it ended its end’s code', () => {
    spec([opened, uploaded(task, { storageKey: 'resumable/x' })]).when(cancel()).throws(ErrorCode.UPLOAD_CONFLICT);
    spec([opened, uploadCancelled(task)]).when(cancel()).throws(ErrorCode.UPLOAD_CANCELLED);
    spec([opened, uploadExpired(task)]).when(cancel()).throws(ErrorCode.UPLOAD_EXPIRED);
  });
  it('the sweep expires an upload in progress past its time: UploadExpired with the bytes received', () => {
    spec([opened]).when(expire(past)).then({ events: [{ type: 'UploadExpired', data: { taskId: task, receivedBytes: 4 } }], settle: null });
    spec([opened]).when(expire(now.toISOString())).then({ events: [{ type: 'UploadExpired', data: { taskId: task, receivedBytes: 4 } }], settle: null });
  });
  it('the sweep does nothing to an upload still in time, complete, ended or unknown', () => {
    const none = { events: [], settle: null };
    spec([opened]).when(expire(terms.expiresAt)).then(none);
    spec([opened, uploaded(task, { storageKey: 'resumable/x' })]).when(expire(past)).then(none);
    spec([opened, uploadCancelled(task)]).when(expire(past)).then(none);
    spec([]).when(expire(past)).then(none);
  });
});
