import { randomUUID } from 'node:crypto';
import type { EventMetadata, VideoEvent } from '../../services/domain/events.js';
import { evolve, type VideoState } from '../../services/domain/video.js';

/** Builders for tests: valid events with overridable fields. */
export const sha = 'a'.repeat(64);

export function uploaded(taskId: string = randomUUID(), overrides: Partial<Extract<VideoEvent, { type: 'VideoUploaded' }>['data']> = {}): VideoEvent {
  return {
    type: 'VideoUploaded',
    data: { taskId, title: 'clip', originalFilename: 'clip.mp4', contentType: 'video/mp4', sizeBytes: 10, sha256: sha, storageKey: 'uploads/x/source', ...overrides },
  };
}
export function uploadStarted(taskId: string = randomUUID(), overrides: Partial<Extract<VideoEvent, { type: 'UploadStarted' }>['data']> = {}): VideoEvent {
  return {
    type: 'UploadStarted',
    data: { taskId, title: 'big', originalFilename: 'big.mp4', sizeBytes: 10, storageKey: 'resumable/x', owner: 'alice', expiresAt: '2026-12-01T00:00:00.000Z', ...overrides },
  };
}
export const uploadExpired = (taskId: string, receivedBytes = 5): VideoEvent => ({ type: 'UploadExpired', data: { taskId, receivedBytes } });
export const uploadCancelled = (taskId: string, receivedBytes = 5): VideoEvent => ({ type: 'UploadCancelled', data: { taskId, receivedBytes, requestedBy: 'alice' } });
export const started = (taskId: string, attempt = 1): VideoEvent => ({ type: 'ProcessingStarted', data: { taskId, attempt, workerId: 'w1' } });
export const processed = (taskId: string, attempt = 1): VideoEvent => ({
  type: 'VideoProcessed',
  data: {
    taskId,
    attempt,
    media: { durationSeconds: 1, width: 640, height: 360, videoCodec: 'h264', audioCodec: null, frameRate: 25, rotation: 0 },
    renditions: [{ label: '360p', width: 640, height: 360, sizeBytes: 100, storageKey: 'renditions/x/360p.mp4' }],
    poster: { storageKey: 'renditions/x/poster.jpg', width: 640, height: 360 },
    elapsedMs: 5,
  },
});
export const failedAttempt = (taskId: string, attempt = 1, retryable = true): VideoEvent => ({
  type: 'ProcessingFailed',
  data: { taskId, attempt, code: 'TRANSCODE_FAILED', message: 'boom', retryable, nextAttemptAt: null },
});
export const videoFailed = (taskId: string, attempts = 1, code = 'NOT_A_VIDEO'): VideoEvent => ({
  type: 'VideoFailed',
  data: { taskId, attempts, code, message: 'nope' },
});
export const retryRequested = (taskId: string): VideoEvent => ({
  type: 'RetryRequested',
  data: { taskId, requestedBy: 'tester', reason: null },
});

export const metadata = (overrides: Partial<EventMetadata> = {}): EventMetadata => ({
  correlationId: randomUUID(),
  actor: 'test',
  ...overrides,
});

/** Folds events as if recorded one after another in a stream. */
export function given(streamId: string, events: readonly VideoEvent[]): VideoState | null {
  let state: VideoState | null = null;
  events.forEach((event, i) => {
    state = evolve(state, { ...event, streamId, version: i + 1, position: BigInt(i + 1), recordedAt: new Date(1_000 * (i + 1)) });
  });
  return state;
}
