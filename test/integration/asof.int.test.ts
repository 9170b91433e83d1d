import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VideoEvent } from '../../services/domain/events.js';
import { fold, type VideoState } from '../../services/domain/video.js';
import { appendToStream } from '../../services/eventstore/append.js';
import { readStream } from '../../services/eventstore/readStream.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { failedAttempt, metadata, processed, retryRequested, started, videoFailed } from '../helpers/events.js';
import { appendStream, historyOf } from '../helpers/streams.js';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t.drop();
});

/** Appends one event at a time, with another stream writing in between, so positions interleave. */
async function appendInterleaved(state: VideoState, events: readonly VideoEvent[]): Promise<VideoState> {
  let current = state;
  for (const event of events) {
    await appendStream(t.db, historyOf(1));
    current = (await appendToStream(t.db, { streamId: current.id, expectedVersion: current.version, state: current, events: [{ event, metadata: metadata() }] })).state;
  }
  return current;
}

describe('video asOf', () => {
  it('at each position of a stream, folds to the status the video had then', async () => {
    const { state } = await appendStream(t.db, historyOf(1));
    const first = state.currentTaskId;
    const second = '5c1f3f4e-2d4b-4b8e-9f7a-0d6f4c3e2a10';
    await appendInterleaved(state, [
      started(first),
      failedAttempt(first),
      started(first, 2),
      videoFailed(first, 2),
      retryRequested(second),
      started(second),
      processed(second),
    ]);
    const expected = ['QUEUED', 'PROCESSING', 'RETRYING', 'PROCESSING', 'FAILED', 'QUEUED', 'PROCESSING', 'PROCESSED'];

    const events = await readStream(t.db, state.id);
    expect(events).toHaveLength(expected.length);
    const byPosition = [];
    const byTime = [];
    for (const event of events) {
      byPosition.push(fold(await readStream(t.db, state.id, { toPosition: event.position }))?.status);
      byTime.push(fold(await readStream(t.db, state.id, { toTime: event.recordedAt }))?.status);
      // Between this event and the next one of the stream, another stream wrote: same answer there.
      expect(fold(await readStream(t.db, state.id, { toPosition: event.position + 1n }))?.status).toBe(byPosition.at(-1));
    }
    expect(byPosition).toEqual(expected);
    expect(byTime).toEqual(expected);
    // Before its first event the video did not exist yet.
    expect(fold(await readStream(t.db, state.id, { toPosition: events[0]!.position - 1n }))).toBeNull();
  });
});
