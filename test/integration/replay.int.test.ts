import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../services/eventstore/db.js';
import { rebuildProjections, type RebuildProgress } from '../../services/eventstore/rebuild.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { appendStream, historyOf, inParallel } from '../helpers/streams.js';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t.drop();
});

/** The whole table as one digest, row by row in id order: equal digests mean byte-for-byte equal rows. */
async function tableDigest(db: Db): Promise<{ digest: string; rows: number }> {
  const { rows } = await sql<{ digest: string; rows: string }>`
    select md5(coalesce(string_agg(v::text, E'\\n' order by v.id), '')) as digest, count(*) as rows from videos v`.execute(db);
  return { digest: rows[0]!.digest, rows: Number(rows[0]!.rows) };
}

async function tableOid(db: Db): Promise<string> {
  const { rows } = await sql<{ oid: string }>`select 'videos'::regclass::oid::text as oid`.execute(db);
  return rows[0]!.oid;
}

async function schemaOfVideos(db: Db) {
  const { rows: indexes } = await sql<{ name: string; definition: string }>`
    select indexname as name, indexdef as definition from pg_indexes where tablename = 'videos' order by indexname`.execute(db);
  const { rows: triggers } = await sql<{ name: string }>`
    select tgname as name from pg_trigger where tgrelid = 'videos'::regclass and not tgisinternal order by tgname`.execute(db);
  const { rows: constraints } = await sql<{ name: string }>`
    select conname as name from pg_constraint where conrelid = 'videos'::regclass order by conname`.execute(db);
  return { indexes, triggers, constraints };
}

describe('replay of 100,000 events', () => {
  it('rebuilds a projection identical to the live one', { timeout: 120_000 }, async () => {
    // 4,000 short streams and 880 long ones (upload, failed tasks redriven, processed): 100,000 events,
    // each stream appended in one transaction through the real inline projection.
    const lengths = [...Array<number>(4_000).fill(3), ...Array<number>(880).fill(100)];
    await inParallel(lengths, 8, (length) => appendStream(t.db, historyOf(length)));
    const { rows: counted } = await sql<{ n: string }>`select count(*) as n from events`.execute(t.db);
    expect(Number(counted[0]!.n)).toBe(100_000);

    const liveDigest = await tableDigest(t.db);
    const liveSchema = await schemaOfVideos(t.db);
    const liveTable = await tableOid(t.db);
    const progress: RebuildProgress[] = [];
    const report = await rebuildProjections(t.db, { onProgress: (p) => progress.push(p) });

    expect(report).toMatchObject({ events: 100_000, videos: 4_880, differences: 0 });
    expect(await tableOid(t.db)).not.toBe(liveTable);
    expect(await tableDigest(t.db)).toEqual(liveDigest);
    expect(liveDigest.rows).toBe(4_880);
    // The fresh table took the old one's place whole: same index and constraint names, same triggers.
    expect(await schemaOfVideos(t.db)).toEqual(liveSchema);
    expect(progress.at(-1)).toMatchObject({ eventsRead: 100_000, eventsTotal: 100_000, videos: 4_880 });
    // Progress is reported per page of events (5,000) and once more after the swap.
    expect(progress.length).toBeGreaterThanOrEqual(20);
  });
});
