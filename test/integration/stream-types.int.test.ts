import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { appendEvents, appendToStream } from '../../services/eventstore/append.js';
import { auditLog } from '../../services/eventstore/audit.js';
import { handleCommand, loadState } from '../../services/eventstore/handleCommand.js';
import { readAll } from '../../services/eventstore/readAll.js';
import { readStream } from '../../services/eventstore/readStream.js';
import { rebuildProjections } from '../../services/eventstore/rebuild.js';
import { registerStreamType, type Folded, type StreamType } from '../../services/eventstore/streamTypes.js';
import { loadVideo } from '../../services/eventstore/videos.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { metadata, started, uploaded } from '../helpers/events.js';

// A second, test-only stream type (a segment job, as DESIGN §11 foresees) with its own projection
// table: the store's append, read, rebuild and audit handle it beside the video streams.

const SegmentEvent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('SegmentPlanned'), data: z.object({ videoId: z.uuid(), index: z.number().int().nonnegative() }) }),
  z.object({ type: z.literal('SegmentEncoded'), data: z.object({ sizeBytes: z.number().int().nonnegative() }) }),
]);
type SegmentEvent = z.infer<typeof SegmentEvent>;
interface Segment {
  id: string;
  videoId: string;
  index: number;
  status: 'PLANNED' | 'ENCODED';
  sizeBytes: number | null;
  version: number;
}

function evolveSegment(state: Segment | null, event: Folded<SegmentEvent>): Segment {
  if (event.type === 'SegmentPlanned') {
    if (state !== null) throw new Error('segment already planned');
    return { id: event.streamId, videoId: event.data.videoId, index: event.data.index, status: 'PLANNED', sizeBytes: null, version: event.version };
  }
  if (state?.status !== 'PLANNED') throw new Error('only a planned segment can be encoded');
  return { ...state, status: 'ENCODED', sizeBytes: event.data.sizeBytes, version: event.version };
}

const segmentStream: StreamType<Segment, SegmentEvent> = {
  name: 'test_segment',
  parse: (type, data) => SegmentEvent.parse({ type, data }),
  evolve: evolveSegment,
  versionOf: (state) => state.version,
  projection: {
    table: 'test_segments',
    toRecord: (s) => ({ id: s.id, video_id: s.videoId, index: s.index, status: s.status, size_bytes: s.sizeBytes, version: s.version }),
  },
};

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
  await sql`create table test_segments (id uuid primary key, video_id uuid not null, index integer not null, status text not null, size_bytes bigint, version integer not null)`.execute(t.db);
  registerStreamType(segmentStream);
});
afterAll(async () => {
  await t.drop();
});

const segmentRow = (id: string) => t.db.selectFrom('test_segments' as never).selectAll().where('id' as never, '=', id as never).executeTakeFirst();

describe('a second stream type', () => {
  it('is appended with its projection and its outbox rows, read, rebuilt and audited beside the videos', async () => {
    const videoId = randomUUID();
    const task = randomUUID();
    const video = await appendToStream(t.db, { streamId: videoId, expectedVersion: 0, state: null, events: [{ event: uploaded(task), metadata: metadata() }] });
    await appendToStream(t.db, { streamId: videoId, expectedVersion: 1, state: video.state, events: [{ event: started(task), metadata: metadata() }] });

    // A planning append fans out: one stream, two outbox messages in the same transaction.
    const segmentId = randomUUID();
    const outbox = [0, 1].map((i) => ({ id: randomUUID(), routingKey: 'test.segment', payload: { i }, headers: {} }));
    const planned = await appendEvents(t.db, segmentStream, {
      streamId: segmentId,
      expectedVersion: 0,
      state: null,
      events: [{ event: { type: 'SegmentPlanned', data: { videoId, index: 0 } }, metadata: metadata() }],
      outbox,
    });
    expect(planned.state).toMatchObject({ status: 'PLANNED', version: 1 });
    expect(await segmentRow(segmentId)).toMatchObject({ video_id: videoId, status: 'PLANNED', version: 1 });
    const rows = await t.db.selectFrom('outbox').select(['id']).where('stream_id', '=', segmentId).execute();
    expect(rows.map((r) => r.id).sort()).toEqual(outbox.map((o) => o.id).sort());

    // handleCommand works on it too, loading the state by folding the stream (the type reads no rows).
    const encode = { type: segmentStream, decide: (size: number, s: Segment | null) => ({ events: s?.status === 'PLANNED' ? [{ type: 'SegmentEncoded' as const, data: { sizeBytes: size } }] : [] }) };
    const encoded = await handleCommand(t.db, segmentId, encode, 42, { metadata: () => metadata() });
    expect(encoded.state).toMatchObject({ status: 'ENCODED', sizeBytes: 42, version: 2 });
    expect(await loadState(t.db, segmentStream, segmentId)).toEqual(encoded.state);

    // Read: the stream and the feed hold both types, each event with its stream's id.
    expect((await readStream(t.db, segmentId)).map((e) => e.type)).toEqual(['SegmentPlanned', 'SegmentEncoded']);
    const streamsInFeed = new Set((await readAll(t.db, { limit: 100 })).map((e) => e.streamId));
    expect(streamsInFeed).toEqual(new Set([videoId, segmentId]));
    const stored = await t.db.selectFrom('events').select(['stream_type']).where('stream_id', '=', segmentId).execute();
    expect(stored.map((e) => e.stream_type)).toEqual(['test_segment', 'test_segment']);

    // Audit: both chains and both projections check out; a drifted segment row is found.
    expect(await auditLog(t.db)).toMatchObject({ ok: true, streamsChecked: 2, eventsChecked: 4 });
    await sql`update test_segments set size_bytes = 7 where id = ${segmentId}`.execute(t.db);
    const drifted = await auditLog(t.db);
    expect(drifted.mismatches).toEqual([expect.objectContaining({ streamId: segmentId, kind: 'PROJECTION_MISMATCH', detail: expect.stringContaining('size_bytes') as unknown })]);

    // Rebuild: both projections are folded again from the log; the drift is repaired and counted.
    const report = await rebuildProjections(t.db);
    expect(report).toMatchObject({ events: 4, videos: 1, differences: 1 });
    expect(await segmentRow(segmentId)).toMatchObject({ status: 'ENCODED', size_bytes: '42', version: 2 });
    expect(await loadVideo(t.db, videoId)).toMatchObject({ status: 'PROCESSING', version: 2 });
    expect(await auditLog(t.db)).toMatchObject({ ok: true, mismatches: [] });
  });
});
