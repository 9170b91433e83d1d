import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ErrorCode, IllegalTransitionError } from '../../services/domain/errors.js';
import { evolve, fold, type VideoState } from '../../services/domain/video.js';
import type { VideoEvent } from '../../services/domain/events.js';
import { failedAttempt, given, processed, retryRequested, started, uploaded, videoFailed } from '../helpers/events.js';

const id = randomUUID();
const task = randomUUID();

function then(events: VideoEvent[]): VideoState {
  const state = given(id, events);
  if (state === null) throw new Error('expected a state');
  return state;
}

function expectIllegal(events: VideoEvent[]) {
  let error: unknown;
  try {
    given(id, events);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(IllegalTransitionError);
  expect((error as IllegalTransitionError).code).toBe(ErrorCode.ILLEGAL_TRANSITION);
}

describe('evolve: legal transitions', () => {
  it('VideoUploaded → QUEUED with the upload facts', () => {
    const s = then([uploaded(task)]);
    expect(s).toMatchObject({ id, status: 'QUEUED', currentTaskId: task, attempts: 0, version: 1, title: 'clip', sizeBytes: 10 });
    expect(s.uploadedAt).toEqual(new Date(1000));
    expect(s.createdPosition).toBe(1n);
  });
  it('ProcessingStarted → PROCESSING, counting the attempt and the unfinished start', () => {
    expect(then([uploaded(task), started(task)])).toMatchObject({ status: 'PROCESSING', attempts: 1, unfinishedStarts: 1 });
  });
  it('a redelivery after a crash starts again without an outcome in between', () => {
    expect(then([uploaded(task), started(task, 1), started(task, 2)])).toMatchObject({ status: 'PROCESSING', attempts: 2, unfinishedStarts: 2 });
  });
  it('VideoProcessed → PROCESSED with media, renditions and poster', () => {
    const s = then([uploaded(task), started(task), processed(task)]);
    expect(s).toMatchObject({ status: 'PROCESSED', unfinishedStarts: 0, lastError: null, version: 3 });
    expect(s.renditions).toHaveLength(1);
    expect(s.media?.height).toBe(360);
    expect(s.poster?.storageKey).toBe('renditions/x/poster.jpg');
    expect(s.updatedAt).toEqual(new Date(3000));
  });
  it('ProcessingFailed → RETRYING with the last error', () => {
    expect(then([uploaded(task), started(task), failedAttempt(task)])).toMatchObject({
      status: 'RETRYING',
      lastError: { code: 'TRANSCODE_FAILED', retryable: true, attempt: 1 },
    });
  });
  it('an interrupted attempt (worker shutdown) counts neither as an attempt nor as a crashed start', () => {
    const interrupted: VideoEvent = { type: 'ProcessingFailed', data: { taskId: task, attempt: 2, code: 'WORKER_SHUTDOWN', message: 'stopped', retryable: true, nextAttemptAt: null, interrupted: true } };
    // One earlier crash (attempt 1 without an outcome) stays counted; the interrupted attempt 2 does not.
    const s = then([uploaded(task), started(task, 1), started(task, 2), interrupted]);
    expect(s).toMatchObject({ status: 'RETRYING', attempts: 1, unfinishedStarts: 1, lastError: null });
    // The next run is attempt 2 again.
    expect(then([uploaded(task), started(task, 1), started(task, 2), interrupted, started(task, 2)])).toMatchObject({ status: 'PROCESSING', attempts: 2, unfinishedStarts: 2 });
  });
  it('RETRYING → PROCESSING on the next attempt', () => {
    expect(then([uploaded(task), started(task), failedAttempt(task), started(task, 2)])).toMatchObject({ status: 'PROCESSING', attempts: 2 });
  });
  it('VideoFailed → FAILED from PROCESSING, RETRYING or QUEUED', () => {
    expect(then([uploaded(task), started(task), videoFailed(task)]).status).toBe('FAILED');
    expect(then([uploaded(task), started(task), failedAttempt(task), videoFailed(task)]).status).toBe('FAILED');
    expect(then([uploaded(task), videoFailed(task, 0, 'INVALID_MESSAGE')]).lastError).toMatchObject({ code: 'INVALID_MESSAGE', retryable: false });
  });
  it('RetryRequested → QUEUED with a new task, attempts reset', () => {
    const next = randomUUID();
    expect(then([uploaded(task), started(task), videoFailed(task), retryRequested(next)])).toMatchObject({
      status: 'QUEUED', currentTaskId: next, attempts: 0, lastError: null,
    });
  });
  it('fold of a prefix gives the state as of that point', () => {
    const events = [uploaded(task), started(task), processed(task)].map((e, i) => ({ ...e, streamId: id, version: i + 1, position: BigInt(i + 1), recordedAt: new Date(i) }));
    expect(fold(events.slice(0, 2))?.status).toBe('PROCESSING');
    expect(fold([])).toBeNull();
  });
});

describe('evolve: illegal transitions are typed errors', () => {
  it('VideoProcessed before VideoUploaded', () => expectIllegal([processed(task)]));
  it('ProcessingStarted on a new stream', () => expectIllegal([started(task)]));
  it('a second VideoUploaded', () => expectIllegal([uploaded(task), uploaded(task)]));
  it('VideoProcessed without ProcessingStarted', () => expectIllegal([uploaded(task), processed(task)]));
  it('ProcessingFailed without ProcessingStarted', () => expectIllegal([uploaded(task), failedAttempt(task)]));
  it('a second outcome for a task', () => expectIllegal([uploaded(task), started(task), processed(task), videoFailed(task)]));
  it('starting a finished task', () => expectIllegal([uploaded(task), started(task), processed(task), started(task)]));
  it('an event of another task', () => expectIllegal([uploaded(task), started(randomUUID())]));
  it('RetryRequested unless FAILED', () => {
    expectIllegal([uploaded(task), retryRequested(randomUUID())]);
    expectIllegal([uploaded(task), started(task), processed(task), retryRequested(randomUUID())]);
  });
  it('RetryRequested reusing the failed task id', () => expectIllegal([uploaded(task), started(task), videoFailed(task), retryRequested(task)]));
  it('a version that does not follow', () => {
    const s = then([uploaded(task)]);
    expect(() => evolve(s, { ...started(task), streamId: id, version: 3, position: 2n, recordedAt: new Date() })).toThrow(IllegalTransitionError);
  });
});
