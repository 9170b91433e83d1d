import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditMismatchKind, auditLog } from '../../services/eventstore/audit.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { appendStream, historyOf } from '../helpers/streams.js';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t.drop();
});

/** Runs `statement` as the superuser with triggers off: what an attacker with database access could do. */
async function tamper(statement: ReturnType<typeof sql>): Promise<void> {
  await t.db.transaction().execute(async (trx) => {
    await sql`set local session_replication_role = replica`.execute(trx);
    await statement.execute(trx);
  });
}

describe('audit', () => {
  it('reports ok for an intact log, across pages and streams', async () => {
    const lengths = [1, 3, 7, 12, 4];
    for (const length of lengths) await appendStream(t.db, historyOf(length));
    // A page size smaller than a stream makes streams span pages.
    const report = await auditLog(t.db, { pageSize: 5 });
    expect(report).toEqual({ ok: true, streamsChecked: lengths.length, eventsChecked: lengths.reduce((a, b) => a + b, 0), mismatches: [] });
  });

  it('pinpoints an event whose data was altered behind the trigger', async () => {
    const victim = await appendStream(t.db, historyOf(6));
    const bystander = await appendStream(t.db, historyOf(4));
    const target = victim.events[2]!;
    await tamper(sql`update events set data = jsonb_set(data, '{attempt}', '9') where position = ${target.position.toString()}`);

    const report = await auditLog(t.db, { pageSize: 4 });
    expect(report.ok).toBe(false);
    const hashMismatches = report.mismatches.filter((m) => m.kind === AuditMismatchKind.HASH_MISMATCH);
    expect(hashMismatches).toEqual([expect.objectContaining({ streamId: victim.state.id, position: target.position })]);

    expect((await auditLog(t.db, { streamId: bystander.state.id })).ok).toBe(true);
    const single = await auditLog(t.db, { streamId: victim.state.id });
    expect(single.streamsChecked).toBe(1);
    expect(single.mismatches.map((m) => [m.kind, m.position])).toContainEqual([AuditMismatchKind.HASH_MISMATCH, target.position]);
  });

  it('finds an event whose hash was recomputed to hide the change: the next event no longer links to it', async () => {
    const victim = await appendStream(t.db, historyOf(4));
    const [, second, third] = victim.events;
    await tamper(sql`
      update events set metadata = metadata || '{"actor":"mallory"}',
        hash = framelog_event_hash(prev_hash, stream_id, version, event_id, type, data, metadata || '{"actor":"mallory"}', recorded_at)
      where position = ${second!.position.toString()}`);
    const report = await auditLog(t.db, { streamId: victim.state.id });
    expect(report.mismatches).toEqual([expect.objectContaining({ kind: AuditMismatchKind.CHAIN_BROKEN, position: third!.position })]);
  });

  it('compares the projection with a fresh fold: altered, missing and orphan rows', async () => {
    const altered = await appendStream(t.db, historyOf(3));
    const missing = await appendStream(t.db, historyOf(3));
    const orphan = await appendStream(t.db, historyOf(1));
    await sql`update videos set title = 'not from the log' where id = ${altered.state.id}`.execute(t.db);
    await sql`delete from videos where id = ${missing.state.id}`.execute(t.db);
    // An orphan: a row whose stream has no events (copied under another id).
    const orphanId = '00000000-0000-4000-8000-000000000001';
    await sql`insert into videos select ${orphanId}::uuid, status, title, original_filename, content_type, size_bytes, sha256, storage_key,
      current_task_id, attempts, unfinished_starts, last_error, media, renditions, poster, uploaded_at, updated_at, version, -1, -1
      from videos where id = ${orphan.state.id}`.execute(t.db);

    const report = await auditLog(t.db);
    const byKind = (kind: string) => report.mismatches.filter((m) => m.kind === kind);
    expect(byKind(AuditMismatchKind.PROJECTION_MISMATCH)).toEqual([
      expect.objectContaining({ streamId: altered.state.id, position: altered.state.lastPosition, detail: expect.stringContaining('title') as string }),
    ]);
    expect(byKind(AuditMismatchKind.PROJECTION_MISSING)).toEqual([expect.objectContaining({ streamId: missing.state.id })]);
    expect(byKind(AuditMismatchKind.PROJECTION_ORPHAN)).toEqual([expect.objectContaining({ streamId: orphanId, position: null })]);
  });
});
