import pg from 'pg';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../services/domain/errors.js';
import { appendToStream } from '../../services/eventstore/append.js';
import { auditLog } from '../../services/eventstore/audit.js';
import { REBUILD_LOCK_KEY, rebuildProjections } from '../../services/eventstore/rebuild.js';
import { loadVideo } from '../../services/eventstore/videos.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { metadata, started } from '../helpers/events.js';
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
