import pg from 'pg';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../services/domain/errors.js';
import { appendToStream } from '../../services/eventstore/append.js';
import { auditLog } from '../../services/eventstore/audit.js';
import type { Db } from '../../services/eventstore/db.js';
import { REBUILD_LOCK_KEY, rebuildProjections } from '../../services/eventstore/rebuild.js';
import { loadVideo } from '../../services/eventstore/videos.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { metadata, started } from '../helpers/events.js';
import { waitFor } from '../helpers/processes.js';
import { appendStream, historyOf, inParallel } from '../helpers/streams.js';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
  const lengths = Array.from({ length: 300 }, (_, i) => 1 + (i % 9));
  await inParallel(lengths, 4, (length) => appendStream(t.db, historyOf(length)));
});
afterAll(async () => {
  await t.drop();
});

/**
 * Everything about `videos` that the swap must carry over: columns, indexes (and that they are built
 * and valid), constraints and triggers, each with its full definition.
 */
async function shapeOfVideos(db: Db) {
  const { rows: columns } = await sql`
    select a.attname as name, format_type(a.atttypid, a.atttypmod) as type, a.attnotnull as not_null, pg_get_expr(d.adbin, d.adrelid) as default
    from pg_attribute a left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
    where a.attrelid = 'videos'::regclass and a.attnum > 0 and not a.attisdropped order by a.attnum`.execute(db);
  const { rows: indexes } = await sql<{ name: string; definition: string; valid: boolean; ready: boolean }>`
    select i.relname as name, pg_get_indexdef(i.oid) as definition, x.indisvalid as valid, x.indisready as ready
    from pg_index x join pg_class i on i.oid = x.indexrelid where x.indrelid = 'videos'::regclass order by i.relname`.execute(db);
  const { rows: constraints } = await sql`
    select conname as name, contype as type, pg_get_constraintdef(oid) as definition
    from pg_constraint where conrelid = 'videos'::regclass order by conname`.execute(db);
  const { rows: triggers } = await sql<{ name: string; definition: string; enabled: string }>`
    select tgname as name, pg_get_triggerdef(oid) as definition, tgenabled as enabled
    from pg_trigger where tgrelid = 'videos'::regclass and not tgisinternal order by tgname`.execute(db);
  return { columns, indexes, constraints, triggers };
}

describe('projection rebuild', () => {
  it('loses no append made while it runs, and reads keep being served', async () => {
    let stop = false;
    let appended = 0;
    let reads = 0;
    // Writers: new videos, and new events on videos the scan has probably already passed.
    const writers = Array.from({ length: 3 }, async () => {
      while (!stop) {
        const { state } = await appendStream(t.db, historyOf(1));
        await appendToStream(t.db, { streamId: state.id, expectedVersion: 1, state, events: [{ event: started(state.currentTaskId), metadata: metadata() }] });
        appended += 2;
      }
    });
    const reader = (async () => {
      const { id } = await t.db.selectFrom('videos').select('id').limit(1).executeTakeFirstOrThrow();
      while (!stop) {
        expect(await loadVideo(t.db, id)).not.toBeNull();
        reads += 1;
      }
    })();

    // A small page size makes the scan long enough for the writers to interleave with it.
    const report = await rebuildProjections(t.db, { pageSize: 7 });
    stop = true;
    await Promise.all([...writers, reader]);

    expect(appended).toBeGreaterThan(0);
    expect(reads).toBeGreaterThan(0);
    expect(report.differences).toBe(0);
    // Every event, including those appended during the rebuild, is in the new table as evolve() folds it.
    const audit = await auditLog(t.db);
    expect(audit.mismatches).toEqual([]);
    const { rows } = await sql<{ n: string }>`select count(*) as n from events`.execute(t.db);
    expect(audit.eventsChecked).toBe(Number(rows[0]!.n));
  });

  it('repairs rows that drifted from the log and counts them as differences', async () => {
    const drifted = await t.db.selectFrom('videos').select(['id', 'status']).limit(2).execute();
    await sql`update videos set status = 'FAILED', attempts = 42 where id = ${drifted[0]!.id}`.execute(t.db);
    await sql`delete from videos where id = ${drifted[1]!.id}`.execute(t.db);
    expect((await auditLog(t.db)).ok).toBe(false);

    const report = await rebuildProjections(t.db);
    expect(report.differences).toBe(2);
    expect((await auditLog(t.db)).ok).toBe(true);
    expect((await loadVideo(t.db, drifted[0]!.id))?.status).toBe(drifted[0]!.status);
  });

  it('swaps in a table with the columns, indexes, constraints and triggers of the live one, and its trigger fires', async () => {
    const before = await shapeOfVideos(t.db);
    // What later code and migrations rely on (migrations 0001, 0002), not only "whatever was there".
    expect(before.indexes.map((i) => i.name)).toEqual(expect.arrayContaining(['videos_pkey', 'videos_created_position_key', 'videos_status_created']));
    expect(before.triggers.map((tr) => tr.name)).toEqual(['videos_notify']);
    const { rows: oidBefore } = await sql<{ oid: string }>`select 'videos'::regclass::oid::text as oid`.execute(t.db);

    await rebuildProjections(t.db, { pageSize: 50 });

    const { rows: oidAfter } = await sql<{ oid: string }>`select 'videos'::regclass::oid::text as oid`.execute(t.db);
    expect(oidAfter[0]!.oid).not.toBe(oidBefore[0]!.oid);
    expect(await shapeOfVideos(t.db)).toEqual(before);
    expect((await sql<{ n: string }>`select count(*) as n from pg_class where relname like 'videos_rebuild%'`.execute(t.db)).rows[0]!.n).toBe('0');

    // videos_notify works on the new table: an append notifies its id and position.
    const listener = new pg.Client({ connectionString: t.url });
    await listener.connect();
    try {
      const payloads: string[] = [];
      listener.on('notification', (n) => payloads.push(n.payload ?? ''));
      await listener.query('listen framelog_video_updated');
      const { state } = await appendStream(t.db, historyOf(1));
      await waitFor(() => payloads.find((p) => p === `${state.id} ${state.lastPosition}`), { message: 'videos_notify after the rebuild' });
    } finally {
      await listener.end();
    }
  });

  it('refuses to run twice at once', async () => {
    const other = new pg.Client({ connectionString: t.url });
    await other.connect();
    try {
      await other.query('select pg_advisory_lock($1)', [REBUILD_LOCK_KEY]);
      await expect(rebuildProjections(t.db)).rejects.toMatchObject({ code: ErrorCode.REBUILD_IN_PROGRESS });
    } finally {
      await other.end();
    }
    const { rows } = await sql<{ n: string }>`select count(*) as n from pg_class where relname = 'videos_rebuild'`.execute(t.db);
    expect(Number(rows[0]!.n)).toBe(0);
  });
});

describe('projection rebuild of a log that does not fold', () => {
  let bad: TestDatabase;
  beforeAll(async () => {
    bad = await createTestDatabase();
    await inParallel(Array.from({ length: 40 }, () => 3), 4, (length) => appendStream(bad.db, historyOf(length)));
  });
  afterAll(async () => {
    await bad.drop();
  });

  it('fails, and leaves the live table as it was and no fresh table behind', async () => {
    // Written around the append (as a buggy tool could): a start for a task that is not the video's.
    const { state } = await appendStream(bad.db, historyOf(1));
    await sql`
      insert into events (stream_id, version, event_id, type, data, metadata)
      values (${state.id}::uuid, 2, gen_random_uuid(), 'ProcessingStarted',
        jsonb_build_object('taskId', gen_random_uuid(), 'attempt', 1, 'workerId', 'w1'), ${JSON.stringify(metadata())}::jsonb)`.execute(bad.db);
    const digest = async () =>
      (await sql<{ d: string }>`select md5(string_agg(v::text, ',' order by v.id)) as d from videos v`.execute(bad.db)).rows[0]!.d;
    const live = await digest();

    // Small pages: the failure comes with a read and an insert still in flight.
    await expect(rebuildProjections(bad.db, { pageSize: 10 })).rejects.toMatchObject({ code: ErrorCode.ILLEGAL_TRANSITION });

    expect(await digest()).toBe(live);
    const { rows } = await sql<{ n: string }>`select count(*) as n from pg_class where relname like 'videos_rebuild%'`.execute(bad.db);
    expect(rows[0]!.n).toBe('0');
    // The advisory lock was let go: the audit names the stream, and a later rebuild gets as far as the fold.
    expect((await auditLog(bad.db)).mismatches).toMatchObject([{ streamId: state.id, kind: 'FOLD_FAILED' }]);
    await expect(rebuildProjections(bad.db)).rejects.toMatchObject({ code: ErrorCode.ILLEGAL_TRANSITION });
  });
});
