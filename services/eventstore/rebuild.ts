import { sql, type Transaction } from 'kysely';
import { ErrorCode, FramelogError } from '../domain/errors.js';
import { evolve, type VideoState } from '../domain/video.js';
import type { Db } from './db.js';
import { SqlState, isPgError } from './pgErrors.js';
import { videoStateToJsonRecord } from './projection.js';
import { toRecordedEvent } from './readStream.js';
import type { Database } from './schema.js';
import { scanStreams } from './streamScan.js';

export interface RebuildProgress {
  eventsRead: number;
  /** Events in the log when the rebuild started (the tail that arrives meanwhile comes on top). */
  eventsTotal: number;
  videos: number;
}

export interface RebuildOptions {
  /** Events per read and rows per insert. */
  pageSize?: number;
  onProgress?: (progress: RebuildProgress) => void;
  /** How long the swap may wait for writers to let go of `videos` before giving up. */
  lockTimeoutMs?: number;
}

export interface RebuildReport {
  events: number;
  videos: number;
  durationMs: number;
  /** Rows of the replaced table that were not byte-for-byte what the log folds to (changed, missing or extra). */
  differences: number;
}

const FRESH_TABLE = 'videos_rebuild';
// Only one rebuild at a time in a database; a second one is refused rather than queued.
export const REBUILD_LOCK_KEY = 0x66_72_62_6c; // "frbl"

/**
 * Rebuilds the `videos` projection from the log (DESIGN §1, guarantee 5) while the API keeps serving:
 *  1. folds every stream, one at a time in (stream_id, version) order with keyset pages, into a fresh
 *     table shaped `like videos` — memory is bounded by a page, not by the log;
 *  2. takes an EXCLUSIVE lock on `videos` (readers go on; appends wait at their projection write, which
 *     is in the same transaction as their events, so every append that committed is in `videos`) and
 *     refolds every stream the live table shows ahead of or missing from the fresh one: the appends
 *     that landed during step 1;
 *  3. counts the rows that differ, drops the old table and renames the fresh one in place, with the
 *     old table's index names and triggers, in that same transaction. Appends that waited resolve
 *     `videos` again once the lock is released and write their row into the new table.
 */
export async function rebuildProjections(db: Db, options: RebuildOptions = {}): Promise<RebuildReport> {
  const startedAt = performance.now();
  const pageSize = options.pageSize ?? 5_000;
  return db.connection().execute(async (session) => {
    const { rows: locked } = await sql<{ ok: boolean }>`select pg_try_advisory_lock(${REBUILD_LOCK_KEY}) as ok`.execute(session);
    if (locked[0]?.ok !== true) {
      throw new FramelogError(ErrorCode.REBUILD_IN_PROGRESS, 'A projection rebuild is already running on this database; wait for it to finish.', { retryable: true });
    }
    try {
      await sql`drop table if exists ${sql.table(FRESH_TABLE)}`.execute(session);
      // INCLUDING ALL copies columns, defaults, constraints and indexes, so the fresh table can take
      // the live one's place as it is.
      await sql`create table ${sql.table(FRESH_TABLE)} (like videos including all)`.execute(session);

      const { rows: counted } = await sql<{ n: string }>`select count(*) as n from events`.execute(session);
      const progress: RebuildProgress = { eventsRead: 0, eventsTotal: Number(counted[0]?.n ?? 0), videos: 0 };
      let batch: VideoState[] = [];
      let eventsInBatch = 0;
      for await (const stream of scanStreams(session, { pageSize })) {
        batch.push(foldRows(stream.rows));
        eventsInBatch += stream.rows.length;
        progress.eventsRead += stream.rows.length;
        progress.videos += 1;
        // Flushed per page of events, so progress moves steadily however long the streams are.
        if (eventsInBatch >= pageSize) {
          await insertFresh(session, batch);
          batch = [];
          eventsInBatch = 0;
          options.onProgress?.({ ...progress });
        }
      }
      await insertFresh(session, batch);
      options.onProgress?.({ ...progress });

      const swapped = await session.transaction().execute(async (trx) => {
        await sql`set local lock_timeout = ${sql.lit(`${options.lockTimeoutMs ?? 10_000}ms`)}`.execute(trx);
        await lockVideos(trx);
        await catchUp(trx, pageSize);
        const counts = await countFresh(trx);
        const differences = await countDifferences(trx);
        await swapIn(trx);
        return { ...counts, differences };
      });
      options.onProgress?.({ eventsRead: swapped.events, eventsTotal: Math.max(progress.eventsTotal, swapped.events), videos: swapped.videos });
      return { events: swapped.events, videos: swapped.videos, durationMs: Math.round(performance.now() - startedAt), differences: swapped.differences };
    } catch (error) {
      await sql`drop table if exists ${sql.table(FRESH_TABLE)}`.execute(session).catch(() => undefined);
      throw error;
    } finally {
      await sql`select pg_advisory_unlock(${REBUILD_LOCK_KEY})`.execute(session);
    }
  });
}

function foldRows(rows: Parameters<typeof toRecordedEvent>[0][]): VideoState {
  let state: VideoState | null = null;
  // Exactly what the inline projection folds (append.ts): the stored rows, validated when appended.
  // The audit, not the rebuild, re-validates them (FOLD_FAILED).
  for (const row of rows) state = evolve(state, toRecordedEvent(row));
  if (state === null) throw new Error('unreachable: a scanned stream has at least one event');
  return state;
}

type Executor = Db | Transaction<Database>;

async function insertFresh(db: Executor, states: readonly VideoState[]): Promise<void> {
  if (states.length === 0) return;
  const records = JSON.stringify(states.map(videoStateToJsonRecord));
  await sql`
    insert into ${sql.table(FRESH_TABLE)}
    select * from jsonb_populate_recordset(null::${sql.table(FRESH_TABLE)}, ${records}::jsonb)`.execute(db);
}

async function lockVideos(trx: Transaction<Database>): Promise<void> {
  try {
    // EXCLUSIVE: blocks the inline projection's writes, not the API's reads.
    await sql`lock table videos in exclusive mode`.execute(trx);
  } catch (error) {
    if (isPgError(error) && error.code === SqlState.LOCK_NOT_AVAILABLE) {
      throw new FramelogError(ErrorCode.REBUILD_IN_PROGRESS, 'Could not lock the videos table for the swap: long transactions hold it. Try again.', {
        retryable: true,
        cause: error,
      });
    }
    throw error;
  }
}

/**
 * Under the lock every committed append is in the live table (it writes its row in its own
 * transaction), so a stream whose live version is ahead of the fresh row, or that the fresh table
 * lacks, received events after the scan read it: fold those streams again from the log.
 */
async function catchUp(trx: Transaction<Database>, pageSize: number): Promise<void> {
  const { rows } = await sql<{ id: string }>`
    select l.id from videos l
    left join ${sql.table(FRESH_TABLE)} r on r.id = l.id
    where r.id is null or r.version < l.version`.execute(trx);
  if (rows.length === 0) return;
  const ids = rows.map((r) => r.id);
  await sql`delete from ${sql.table(FRESH_TABLE)} where id = any(${ids}::uuid[])`.execute(trx);
  let batch: VideoState[] = [];
  for await (const stream of scanStreams(trx, { streamIds: ids, pageSize })) {
    batch.push(foldRows(stream.rows));
    if (batch.length >= pageSize) {
      await insertFresh(trx, batch);
      batch = [];
    }
  }
  await insertFresh(trx, batch);
}

/** Events folded into the fresh table (each row's version is its stream's event count) and rows. */
async function countFresh(trx: Transaction<Database>): Promise<{ events: number; videos: number }> {
  const { rows } = await sql<{ events: string | null; videos: string }>`
    select sum(version) as events, count(*) as videos from ${sql.table(FRESH_TABLE)}`.execute(trx);
  return { events: Number(rows[0]?.events ?? 0), videos: Number(rows[0]?.videos ?? 0) };
}

async function countDifferences(trx: Transaction<Database>): Promise<number> {
  const { rows } = await sql<{ n: string }>`
    select count(*) as n from videos l
    full join ${sql.table(FRESH_TABLE)} r on r.id = l.id
    where l.id is null or r.id is null or row(l.*) is distinct from row(r.*)`.execute(trx);
  return Number(rows[0]?.n ?? 0);
}

/** Replaces `videos` by the fresh table, keeping the old index names and triggers. */
async function swapIn(trx: Transaction<Database>): Promise<void> {
  const { rows: indexes } = await sql<{ old_name: string; fresh_name: string }>`
    select o.relname as old_name, f.relname as fresh_name
    from pg_index oi join pg_class o on o.oid = oi.indexrelid
    join pg_index fi on fi.indrelid = ${FRESH_TABLE}::regclass
      and fi.indkey = oi.indkey and fi.indisunique = oi.indisunique and fi.indisprimary = oi.indisprimary
      and fi.indclass = oi.indclass and fi.indoption = oi.indoption
      and pg_get_expr(fi.indpred, fi.indrelid) is not distinct from pg_get_expr(oi.indpred, oi.indrelid)
    join pg_class f on f.oid = fi.indexrelid
    where oi.indrelid = 'videos'::regclass`.execute(trx);
  const { rows: triggers } = await sql<{ definition: string }>`
    select pg_get_triggerdef(oid) as definition from pg_trigger
    where tgrelid = 'videos'::regclass and not tgisinternal`.execute(trx);
  await sql`drop table videos`.execute(trx);
  await sql`alter table ${sql.table(FRESH_TABLE)} rename to videos`.execute(trx);
  // Renaming an index that backs a constraint renames the constraint too.
  for (const { old_name, fresh_name } of indexes) {
    await sql`alter index ${sql.id(fresh_name)} rename to ${sql.id(old_name)}`.execute(trx);
  }
  // The definitions name `videos`, which is now the fresh table.
  for (const { definition } of triggers) await sql.raw(definition).execute(trx);
}
