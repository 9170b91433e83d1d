import { createHash, randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConcurrencyError, DuplicateOutcomeError, IllegalTransitionError } from '../../services/domain/errors.js';
import type { VideoEvent } from '../../services/domain/events.js';
import { appendToStream } from '../../services/eventstore/append.js';
import { readAll } from '../../services/eventstore/readAll.js';
import { readStream } from '../../services/eventstore/readStream.js';
import { listVideos, loadVideo } from '../../services/eventstore/videos.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { metadata, processed, started, uploaded, videoFailed } from '../helpers/events.js';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t.drop();
});

async function newVideo(withOutbox = false) {
  const streamId = randomUUID();
  const taskId = randomUUID();
  const result = await appendToStream(t.db, {
    streamId,
    expectedVersion: 0,
    state: null,
    events: [{ event: uploaded(taskId), metadata: metadata({ taskId }) }],
    ...(withOutbox ? { outbox: { id: randomUUID(), routingKey: 'video.process', payload: { schema: 1, videoId: streamId }, headers: { correlationId: 'c' } } } : {}),
  });
  return { streamId, taskId, state: result.state, events: result.events };
}

async function append(streamId: string, state: Awaited<ReturnType<typeof newVideo>>['state'], event: VideoEvent) {
  return appendToStream(t.db, { streamId, expectedVersion: state.version, state, events: [{ event, metadata: metadata() }] });
}

describe('event store', () => {
  it('appends, projects in the same transaction, and writes the outbox row with the event', async () => {
    const { streamId, events } = await newVideo(true);
    expect(events[0]).toMatchObject({ version: 1, type: 'VideoUploaded', streamId });
    expect((await loadVideo(t.db, streamId))?.status).toBe('QUEUED');
    const outbox = await t.db.selectFrom('outbox').selectAll().where('stream_id', '=', streamId).execute();
    expect(outbox).toHaveLength(1);
    expect(BigInt(outbox[0]!.event_position)).toBe(events[0]!.position);
    expect(outbox[0]!.payload).toEqual({ schema: 1, videoId: streamId });
  });

  it('chains hashes in the database: sha256 over the previous hash and the canonical content', async () => {
    const { streamId, taskId, state } = await newVideo();
    await append(streamId, state, started(taskId));
    const rows = await t.db.selectFrom('events').selectAll().where('stream_id', '=', streamId).orderBy('version').execute();
    expect(rows[0]!.prev_hash.equals(Buffer.alloc(32))).toBe(true);
    expect(rows[1]!.prev_hash.equals(rows[0]!.hash)).toBe(true);
    const r = rows[1]!;
    const micros = BigInt(r.recorded_at.getTime()) * 1000n;
    const { rows: [db] } = await sql<{ text: string; micros: string }>`
      select data::text || chr(31) || metadata::text as text, (extract(epoch from recorded_at) * 1000000)::bigint::text as micros
      from events where event_id = ${r.event_id}`.execute(t.db);
    expect(BigInt(db!.micros) / 1000n).toBe(micros / 1000n);
    const content = [r.stream_id, String(r.version), r.event_id, r.type, db!.text, db!.micros].join('\x1f');
    const expected = createHash('sha256').update(Buffer.concat([r.prev_hash, Buffer.from(content, 'utf8')])).digest();
    expect(r.hash.equals(expected)).toBe(true);
  });

  it('refuses UPDATE, DELETE and TRUNCATE of events', async () => {
    const { streamId } = await newVideo();
    await expect(sql`update events set type = 'X' where stream_id = ${streamId}`.execute(t.db)).rejects.toMatchObject({ code: 'FL002' });
    await expect(sql`delete from events where stream_id = ${streamId}`.execute(t.db)).rejects.toMatchObject({ code: 'FL002' });
    await expect(sql`truncate events`.execute(t.db)).rejects.toMatchObject({ code: 'FL002' });
    expect(await readStream(t.db, streamId)).toHaveLength(1);
  });

  it('an append with a stale expected version fails with the typed conflict and changes nothing', async () => {
    const { streamId, taskId, state } = await newVideo();
    await append(streamId, state, started(taskId));
    // `state` is now stale (version 1, the stream is at 2).
    await expect(append(streamId, state, started(taskId))).rejects.toBeInstanceOf(ConcurrencyError);
    expect(await readStream(t.db, streamId)).toHaveLength(2);
    expect((await loadVideo(t.db, streamId))?.version).toBe(2);
  });

  it('concurrent appends at one version: exactly one wins', async () => {
    const { streamId, taskId, state } = await newVideo();
    const results = await Promise.allSettled([append(streamId, state, started(taskId)), append(streamId, state, started(taskId))]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.find((r) => r.status === 'rejected');
    expect(rejected?.reason).toBeInstanceOf(ConcurrencyError);
  });

  it('a second terminal event for the same task is refused by the database index', async () => {
    const { streamId, taskId, state } = await newVideo();
    const s2 = await append(streamId, state, started(taskId));
    await append(streamId, s2.state, processed(taskId));
    // Bypass evolve() and the version check: only the partial unique index stands in the way.
    const insert = sql`insert into events (stream_id, version, event_id, type, data, metadata)
      values (${streamId}, 4, ${randomUUID()}, 'VideoFailed', ${JSON.stringify(videoFailed(taskId).data)}::jsonb, '{}'::jsonb)`;
    await expect(insert.execute(t.db)).rejects.toMatchObject({ code: '23505', constraint: 'events_one_outcome_per_task' });
  });

  it('maps the outcome index violation to DuplicateOutcomeError', async () => {
    const { streamId, taskId, state } = await newVideo();
    const s2 = await append(streamId, state, started(taskId));
    const done = await append(streamId, s2.state, processed(taskId));
    // Pretend the caller decided from a state where the task had no outcome (a racing worker).
    const racing = { ...done.state, status: 'PROCESSING' as const };
    await expect(append(streamId, racing, videoFailed(taskId))).rejects.toBeInstanceOf(DuplicateOutcomeError);
  });

  it('an illegal transition is refused before anything is written', async () => {
    const { streamId, taskId, state } = await newVideo();
    await expect(append(streamId, state, processed(taskId))).rejects.toBeInstanceOf(IllegalTransitionError);
    expect(await readStream(t.db, streamId)).toHaveLength(1);
  });

  it('a version gap is refused by the database', async () => {
    const { streamId } = await newVideo();
    const insert = sql`insert into events (stream_id, version, event_id, type, data, metadata)
      values (${streamId}, 5, ${randomUUID()}, 'X', '{}'::jsonb, '{}'::jsonb)`;
    await expect(insert.execute(t.db)).rejects.toMatchObject({ code: 'FL001' });
  });

  it('appends several events in one call in version order, with the projection row at the last one', async () => {
    const { streamId, taskId, state } = await newVideo();
    const { events, state: next } = await appendToStream(t.db, {
      streamId,
      expectedVersion: state.version,
      state,
      events: [started(taskId), processed(taskId)].map((event) => ({ event, metadata: metadata() })),
    });
    expect(events.map((e) => [e.version, e.type])).toEqual([[2, 'ProcessingStarted'], [3, 'VideoProcessed']]);
    expect(events[1]!.position).toBeGreaterThan(events[0]!.position);
    expect(next).toMatchObject({ status: 'PROCESSED', version: 3, lastPosition: events[1]!.position, createdPosition: state.createdPosition });
    expect(await loadVideo(t.db, streamId)).toEqual(next);
  });

  it('the append function refuses an append of no event (FL003) and writes nothing', async () => {
    const { streamId, state } = await newVideo();
    const call = sql`select * from framelog_append(${streamId}::uuid, 1, '[]'::jsonb, '{}'::jsonb, null)`;
    await expect(call.execute(t.db)).rejects.toMatchObject({ code: 'FL003' });
    expect(await readStream(t.db, streamId)).toHaveLength(1);
    expect(await loadVideo(t.db, streamId)).toEqual(state);
  });

  it('reads streams by bound and the global log by position', async () => {
    const { streamId, taskId, state, events } = await newVideo();
    const s2 = await append(streamId, state, started(taskId));
    expect((await readStream(t.db, streamId, { toPosition: events[0]!.position })).map((e) => e.type)).toEqual(['VideoUploaded']);
    const all = await readAll(t.db, { afterPosition: events[0]!.position, limit: 10, streamId });
    expect(all.map((e) => e.position)).toEqual([s2.events[0]!.position]);
    expect((await readAll(t.db, { limit: 1000, types: ['ProcessingStarted'] })).every((e) => e.type === 'ProcessingStarted')).toBe(true);
  });

  it('lists videos newest first with a stable cursor', async () => {
    const a = await newVideo();
    const b = await newVideo();
    const page = await listVideos(t.db, { limit: 2 });
    expect(page.map((v) => v.id)).toEqual([b.streamId, a.streamId]);
    const next = await listVideos(t.db, { limit: 1, beforePosition: b.state.createdPosition });
    expect(next[0]?.id).toBe(a.streamId);
  });
});
