import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendToStream } from '../../services/eventstore/append.js';
import { readAll } from '../../services/eventstore/readAll.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { metadata, uploaded } from '../helpers/events.js';
import { waitFor } from '../helpers/processes.js';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t.drop();
});

const newVideo = (db: TestDatabase['db'], streamId: string) =>
  appendToStream(db, { streamId, expectedVersion: 0, state: null, events: [{ event: uploaded(), metadata: metadata() }] });

/** A reader paging the feed by cursor, one event per page, as a client of `events(afterPosition)` does. */
function cursorReader() {
  const seen: string[] = [];
  let cursor: bigint | undefined;
  return {
    seen,
    async drain(): Promise<void> {
      for (;;) {
        const [event] = await readAll(t.db, { limit: 1, ...(cursor === undefined ? {} : { afterPosition: cursor }) });
        if (event === undefined) return;
        seen.push(event.streamId);
        cursor = event.position;
      }
    },
  };
}

describe('the global feed (DESIGN §1 guarantee 8)', () => {
  it('a reader paging by cursor sees every event exactly once when transactions commit out of position order', async () => {
    const first = randomUUID();
    const second = randomUUID();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let firstPosition: bigint | undefined;
    // Transaction 1 takes the lower position and stays open; transaction 2 takes the next one and commits.
    const slow = t.db.transaction().execute(async (trx) => {
      firstPosition = (await newVideo(trx, first)).events[0]!.position;
      await gate;
    });
    await waitFor(() => firstPosition !== undefined, { message: 'transaction 1 to append' });
    const secondPosition = (await newVideo(t.db, second)).events[0]!.position;
    expect(secondPosition).toBeGreaterThan(firstPosition!);

    const reader = cursorReader();
    await reader.drain();
    // Transaction 1 is still in flight: showing 2 now would move the cursor past 1 for good.
    expect(reader.seen).not.toContain(second);
    expect(reader.seen).not.toContain(first);

    release();
    await slow;
    await waitFor(async () => {
      await reader.drain();
      return reader.seen.length >= 2;
    }, { message: 'both events in the feed' });
    expect(reader.seen).toEqual([first, second]);
  });
});
