import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendToStream } from '../../services/eventstore/append.js';
import { listVideos } from '../../services/eventstore/videos.js';
import { decodeVideoCursor, encodeVideoCursor } from '../../services/api/input.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { metadata, started } from '../helpers/events.js';
import { appendStream, historyOf } from '../helpers/streams.js';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t.drop();
});

describe('videos paging', () => {
  it('returns every video once while uploads and status changes continue', async () => {
    const existing = [];
    for (let i = 0; i < 60; i += 1) existing.push((await appendStream(t.db, historyOf(1))).state);

    let stop = false;
    let uploads = 0;
    let moves = 0;
    const writer = (async () => {
      while (!stop) {
        await appendStream(t.db, historyOf(1));
        uploads += 1;
        // A status change must not move a video in the listing (the cursor is its upload position).
        const video = existing[moves % existing.length]!;
        if (moves < existing.length) {
          await appendToStream(t.db, { streamId: video.id, expectedVersion: 1, state: video, events: [{ event: started(video.currentTaskId), metadata: metadata() }] });
        }
        moves += 1;
      }
    })();

    const seen: string[] = [];
    let cursor: string | null = null;
    for (;;) {
      const page = await listVideos(t.db, { limit: 7, ...(cursor ? { beforePosition: decodeVideoCursor(cursor) } : {}) });
      seen.push(...page.map((v) => v.id));
      if (page.length < 7) break;
      cursor = encodeVideoCursor(page.at(-1)!.createdPosition);
      // Let the writer interleave with the paging.
      await appendStream(t.db, historyOf(1));
    }
    stop = true;
    await writer;

    expect(uploads).toBeGreaterThan(0);
    expect(new Set(seen).size).toBe(seen.length);
    for (const video of existing) expect(seen).toContain(video.id);
  });
});
