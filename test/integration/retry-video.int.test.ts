import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { retryVideo } from '../../services/api/commands/retryVideo.js';
import { ErrorCode, FramelogError } from '../../services/domain/errors.js';
import type { VideoEvent } from '../../services/domain/events.js';
import { decideTask } from '../../services/domain/task.js';
import type { VideoState } from '../../services/domain/video.js';
import { appendToStream } from '../../services/eventstore/append.js';
import { readStream } from '../../services/eventstore/readStream.js';
import { Names } from '../../services/messaging/topology.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { metadata, started, uploaded, videoFailed } from '../helpers/events.js';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t.drop();
});

/** A video whose stream holds `events` (the first must be VideoUploaded). */
async function videoWith(events: VideoEvent[]): Promise<VideoState> {
  const streamId = randomUUID();
  let state: VideoState | null = null;
  for (const event of events) {
    ({ state } = await appendToStream(t.db, { streamId, expectedVersion: state?.version ?? 0, state, events: [{ event, metadata: metadata() }] }));
  }
  return state!;
}

async function errorOf(promise: Promise<unknown>): Promise<FramelogError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(FramelogError);
  return error as FramelogError;
}

const outboxRows = (streamId: string) => t.db.selectFrom('outbox').selectAll().where('stream_id', '=', streamId).execute();

describe('retryVideo (redrive)', () => {
  it('redrives a FAILED video: RetryRequested with a new task, QUEUED, and its task message in the outbox', async () => {
    const task = randomUUID();
    const failed = await videoWith([uploaded(task), started(task), videoFailed(task)]);
    const correlationId = randomUUID();

    const next = await retryVideo(t.db, { videoId: failed.id, actor: 'ops', correlationId });

    expect(next).toMatchObject({ status: 'QUEUED', attempts: 0, lastError: null, version: 4 });
    expect(next.currentTaskId).not.toBe(task);
    const last = (await readStream(t.db, failed.id)).at(-1)!;
    expect(last).toMatchObject({ type: 'RetryRequested', data: { taskId: next.currentTaskId, requestedBy: 'ops' } });
    expect(last.metadata).toMatchObject({ correlationId, taskId: next.currentTaskId, actor: 'ops' });
    const [row] = await outboxRows(failed.id);
    expect(row).toMatchObject({ id: last.eventId, routing_key: Names.taskRoutingKey });
    expect(row!.payload).toEqual({ schema: 2, kind: 'transcode', videoId: failed.id, taskId: next.currentTaskId });
    // The new task is processed; a late delivery of the old one is skipped.
    const limits = { maxAttempts: 3, maxUnfinishedStarts: 3 };
    expect(decideTask(next, next.currentTaskId, limits)).toEqual({ kind: 'process', attempt: 1 });
    expect(decideTask(next, task, limits)).toEqual({ kind: 'skip', reason: 'superseded' });
  });

  it('refuses any other status with RETRY_NOT_ALLOWED and writes nothing', async () => {
    const task = randomUUID();
    const processing = await videoWith([uploaded(task), started(task)]);
    const error = await errorOf(retryVideo(t.db, { videoId: processing.id, actor: 'ops', correlationId: randomUUID() }));
    expect(error.code).toBe(ErrorCode.RETRY_NOT_ALLOWED);
    expect(await readStream(t.db, processing.id)).toHaveLength(2);
    expect(await outboxRows(processing.id)).toHaveLength(0);
  });

  it('answers VIDEO_NOT_FOUND for an unknown video', async () => {
    const error = await errorOf(retryVideo(t.db, { videoId: randomUUID(), actor: 'ops', correlationId: randomUUID() }));
    expect(error.code).toBe(ErrorCode.VIDEO_NOT_FOUND);
  });

  it('carries the request\'s W3C trace context into the event metadata and the task message headers', async () => {
    const task = randomUUID();
    const failed = await videoWith([uploaded(task), started(task), videoFailed(task)]);
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    await retryVideo(t.db, { videoId: failed.id, actor: 'ops', correlationId: randomUUID(), traceparent });
    expect((await readStream(t.db, failed.id)).at(-1)!.metadata).toMatchObject({ traceparent });
    const [row] = await outboxRows(failed.id);
    expect(row!.headers).toMatchObject({ traceparent });
  });
});
