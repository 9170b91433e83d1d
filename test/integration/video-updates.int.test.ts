import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VideoEvent } from '../../services/domain/events.js';
import type { VideoState } from '../../services/domain/video.js';
import { appendToStream } from '../../services/eventstore/append.js';
import { notifyProgress } from '../../services/eventstore/notifications.js';
import { createVideoUpdates, type VideoUpdates } from '../../services/api/subscriptions/videoUpdates.js';
import { createLogger } from '../../services/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { metadata, processed, started } from '../helpers/events.js';
import { waitFor } from '../helpers/processes.js';
import { appendStream, historyOf } from '../helpers/streams.js';

let t: TestDatabase;
let updates: VideoUpdates;
beforeAll(async () => {
  t = await createTestDatabase();
  updates = createVideoUpdates({ db: t.db, connectionString: t.url, log: createLogger('test', 'silent') });
  await updates.start();
});
afterAll(async () => {
  await updates.stop();
  await t.drop();
});

/** Drains an iterator into an array in the background. */
function collect(iterator: AsyncIterableIterator<VideoState>): { seen: VideoState[]; done: Promise<void> } {
  const seen: VideoState[] = [];
  const done = (async () => {
    for await (const video of iterator) seen.push(video);
  })();
  return { seen, done };
}

/** Subscribes to one video and waits for the first thing pushed: its current state. */
async function watch(id: string): Promise<{ seen: VideoState[]; end: () => Promise<void> }> {
  const iterator = updates.subscribe(id);
  const { seen, done } = collect(iterator);
  await waitFor(() => seen.length === 1, { message: 'the current state' });
  return {
    seen,
    end: async () => {
      await iterator.return!();
      await done;
    },
  };
}

const append = (state: VideoState, event: VideoEvent) =>
  appendToStream(t.db, { streamId: state.id, expectedVersion: state.version, state, events: [{ event, metadata: metadata() }] });

describe('video updates (LISTEN/NOTIFY fan-out)', () => {
  it('starts an id subscription from the current state, then pushes each committed change of that video only', async () => {
    const { state } = await appendStream(t.db, historyOf(1));
    const other = await appendStream(t.db, historyOf(1));
    const { seen, end } = await watch(state.id);
    expect(seen[0]).toMatchObject({ id: state.id, status: 'QUEUED' });

    const startedState = (await append(state, started(state.currentTaskId))).state;
    await append(other.state, started(other.state.currentTaskId));
    // A rolled-back change sends nothing: NOTIFY is transactional.
    await t.db
      .transaction()
      .execute(async (trx) => {
        await sql`update videos set title = 'rolled back' where id = ${state.id}`.execute(trx);
        throw new Error('roll back');
      })
      .catch(() => undefined);
    await append(startedState, processed(state.currentTaskId));
    await waitFor(() => seen.some((v) => v.status === 'PROCESSED'), { message: 'PROCESSED' });
    expect(seen.map((v) => v.status)).toEqual(['QUEUED', 'PROCESSING', 'PROCESSED']);
    expect(seen.every((v) => v.id === state.id && v.title !== 'rolled back')).toBe(true);

    await end();
  });

  it('pushes each state of an append that notified only its last position', async () => {
    const { state } = await appendStream(t.db, historyOf(1));
    const { seen, end } = await watch(state.id);
    // Two events in one append: one notice, for the position of the second.
    await appendToStream(t.db, {
      streamId: state.id,
      expectedVersion: state.version,
      state,
      events: [started(state.currentTaskId), processed(state.currentTaskId)].map((event) => ({ event, metadata: metadata() })),
    });
    await waitFor(() => seen.length === 3, { message: 'PROCESSING and PROCESSED' });
    expect(seen.map((v) => [v.status, v.version])).toEqual([['QUEUED', 1], ['PROCESSING', 2], ['PROCESSED', 3]]);
    await end();
  });

  it('catches up on the changes made while its LISTEN connection was down, for id and every-video subscriptions', async () => {
    const { state } = await appendStream(t.db, historyOf(1));
    const { seen, end } = await watch(state.id);
    const all = updates.subscribe(null);
    const everything = collect(all);
    // Waits until the backend is gone, so the appends below cannot reach the old connection.
    await sql`select pg_terminate_backend(pid, 5000) from pg_stat_activity
              where application_name = 'framelog-api-listen' and datname = current_database()`.execute(t.db);
    // Committed before the listener is back (it waits at least 500 ms): their notifications are lost.
    const running = (await append(state, started(state.currentTaskId))).state;
    await append(running, processed(state.currentTaskId));
    const uploadedMeanwhile = (await appendStream(t.db, historyOf(1))).state;

    await waitFor(() => seen.length === 3, { message: 'the changes made while disconnected' });
    expect(seen.map((v) => v.status)).toEqual(['QUEUED', 'PROCESSING', 'PROCESSED']);
    await waitFor(() => everything.seen.some((v) => v.id === uploadedMeanwhile.id), { message: 'the upload made while disconnected' });
    expect(everything.seen.filter((v) => v.id === state.id).map((v) => v.status)).toEqual(['PROCESSING', 'PROCESSED']);
    expect(everything.seen.find((v) => v.id === uploadedMeanwhile.id)).toEqual(uploadedMeanwhile);
    await end();
    await all.return!();
    await everything.done;
  });

  it('keeps the latest progress in memory while PROCESSING and forgets it once the video moves on', async () => {
    const { state } = await appendStream(t.db, historyOf(1));
    const { seen, done } = collect(updates.subscribe(null));
    const running = (await append(state, started(state.currentTaskId))).state;
    await notifyProgress(t.db, { videoId: state.id, percent: 42.5 });
    await waitFor(() => updates.progressOf(state.id) === 42.5, { message: 'progress 42.5' });
    await append(running, processed(state.currentTaskId));
    await waitFor(() => seen.some((v) => v.id === state.id && v.status === 'PROCESSED'), { message: 'PROCESSED' });
    expect(updates.progressOf(state.id)).toBeNull();

    // stop() ends every subscription.
    await updates.stop();
    await done;
    await updates.start();
  });
});
