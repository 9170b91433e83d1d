import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { IllegalTransitionError } from '../../services/domain/errors.js';
import type { VideoEvent } from '../../services/domain/events.js';
import { canRetry, hasProgress } from '../../services/domain/video.js';
import { given, started, uploadCancelled, uploadExpired, uploadStarted, uploaded, videoFailed } from '../helpers/events.js';
import { decideTask } from '../../services/domain/task.js';

// Resumable uploads in evolve: UploadStarted opens an UPLOADING video; VideoUploaded completes it once;
// UploadExpired and UploadCancelled end it FAILED with nothing to retry.

const id = randomUUID();
const task = randomUUID();
const state = (events: VideoEvent[]) => given(id, events)!;
const illegal = (events: VideoEvent[]) => expect(() => given(id, events)).toThrow(IllegalTransitionError);

describe('evolve: resumable uploads', () => {
  it('UploadStarted → UPLOADING with the declared size, no hash yet, and the task chosen now', () => {
    expect(state([uploadStarted(task)])).toMatchObject({ status: 'UPLOADING', sizeBytes: 10, sha256: '', storageKey: 'resumable/x', currentTaskId: task, title: 'big', version: 1 });
    expect(hasProgress('UPLOADING')).toBe(true);
  });
  it('VideoUploaded of the same task completes it: QUEUED with the hash; uploadedAt stays the creation', () => {
    const s = state([uploadStarted(task), uploaded(task, { storageKey: 'resumable/x' })]);
    expect(s).toMatchObject({ status: 'QUEUED', sha256: 'a'.repeat(64), currentTaskId: task, version: 2 });
    expect(s.uploadedAt).toEqual(new Date(1000));
    expect(s.updatedAt).toEqual(new Date(2000));
    expect(s.createdPosition).toBe(1n);
  });
  it('refuses a second VideoUploaded, one of another task, and processing before the bytes arrived', () => {
    illegal([uploadStarted(task), uploaded(task), uploaded(task)]);
    illegal([uploadStarted(task), uploaded(randomUUID())]);
    illegal([uploadStarted(task), started(task)]);
    illegal([uploaded(task), uploadStarted(task)]);
  });
  it('UploadExpired and UploadCancelled end it FAILED with their code, not retryable, and nothing completes it after', () => {
    const expired = state([uploadStarted(task), uploadExpired(task)]);
    expect(expired).toMatchObject({ status: 'FAILED', lastError: { code: 'UPLOAD_EXPIRED', retryable: false } });
    expect(canRetry(expired)).toBe(false);
    expect(state([uploadStarted(task), uploadCancelled(task)]).lastError?.code).toBe('UPLOAD_CANCELLED');
    illegal([uploadStarted(task), uploadExpired(task), uploaded(task)]);
    illegal([uploadStarted(task), uploaded(task), uploadExpired(task)]);
    illegal([uploadStarted(task), uploadCancelled(task), uploadExpired(task)]);
  });
});

describe('decideTask: a message for an upload still in flight', () => {
  it('is skipped: only VideoUploaded enqueues a task', () => {
    expect(decideTask(state([uploadStarted(task)]), task, { maxUnfinishedStarts: 3 })).toEqual({ kind: 'skip', reason: 'not-uploaded' });
    illegal([uploadStarted(task), videoFailed(task)]);
  });
});
