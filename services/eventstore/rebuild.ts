import { sql, type Transaction } from 'kysely';
import { ErrorCode, FramelogError } from '../domain/errors.js';
import type { Db } from './db.js';
import { SqlState, isPgError } from './pgErrors.js';
import type { Database } from './schema.js';
import { scanStreamsForFold, toFoldEvent, type FoldEventRow } from './streamScan.js';
import { streamTypes, type AnyStreamType, type InlineProjection } from './streamTypes.js';

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

/** One projection being rebuilt: its stream type, its live table and the fresh table that replaces it. */
interface Target {
  type: AnyStreamType;
  projection: InlineProjection<unknown>;
  table: string;
  fresh: string;
}

const targetsOf = (types: readonly AnyStreamType[]): Target[] =>
  types.flatMap((type) => (type.projection === null ? [] : [{ type, projection: type.projection, table: type.projection.table, fresh: `${type.projection.table}_rebuild` }]));
// Only one rebuild at a time in a database; a second one is refused rather than queued.
export const REBUILD_LOCK_KEY = 0x66_72_62_6c; // "frbl"

/**
 * Rebuilds every registered stream type's projection from the log (DESIGN §1, guarantee 5) while the
 * API keeps serving, one projection after the other (rebuildProjection). The report sums them; its
 * `videos` counts the rows of the video streams' projection.
 */
export async function rebuildProjections(db: Db, options: RebuildOptions = {}): Promise<RebuildReport> {
  const startedAt = performance.now();
  return db.connection().execute(async (session) => {
    const { rows: locked } = await sql<{ ok: boolean }>`select pg_try_advisory_lock(${REBUILD_LOCK_KEY}) as ok`.execute(session);
    if (locked[0]?.ok !== true) {
      throw new FramelogError(ErrorCode.REBUILD_IN_PROGRESS, 'A projection rebuild is already running on this database; wait for it to finish.', { retryable: true });
    }
    try {
      const { rows: counted } = await sql<{ n: string }>`select count(*) as n from events`.execute(session);
      const progress: RebuildProgress = { eventsRead: 0, eventsTotal: Number(counted[0]?.n ?? 0), videos: 0 };
      const report = { events: 0, videos: 0, differences: 0 };
      for (const target of targetsOf(streamTypes())) {
        const rebuilt = await rebuildProjection(db, session, target, progress, options);
        report.events += rebuilt.events;
        report.differences += rebuilt.differences;
        if (target.table === 'videos') report.videos = rebuilt.rows;
      }
      options.onProgress?.({ eventsRead: report.events, eventsTotal: Math.max(progress.eventsTotal, report.events), videos: report.videos });
      return { ...report, durationMs: Math.round(performance.now() - startedAt) };
    } finally {
      await sql`select pg_advisory_unlock(${REBUILD_LOCK_KEY})`.execute(session);
    }
  });
}

/**
 * Rebuilds one projection:
 *  1. folds every stream of its type, one at a time in (stream_id, version) order with keyset pages,
 *     into a fresh table shaped `like` the live one — memory is bounded by a page, not by the log. The
 *     fresh table gets its indexes after the load (building an index once costs less than maintaining
 *     it row by row), and the pages are read on a pool connection while the rebuild's own connection
 *     inserts, so PostgreSQL reads, this process folds and PostgreSQL writes at the same time;
 *  2. takes an EXCLUSIVE lock on the live table (readers go on; appends wait at their projection write,
 *     which is in the same transaction as their events, so every append that committed is in it) and
 *     refolds every stream the live table shows ahead of or missing from the fresh one: the appends
 *     that landed during step 1;
 *  3. counts the rows that differ, drops the old table and renames the fresh one in place, with the
 *     old table's index names and triggers, in that same transaction. Appends that waited resolve
 *     the table again once the lock is released and write their row into the new one.
 * A projection table has an `id` (the stream id) and a `version` (events folded into the row).
 */
async function rebuildProjection(db: Db, session: Db, target: Target, progress: RebuildProgress, options: RebuildOptions): Promise<{ events: number; rows: number; differences: number }> {
  const pageSize = options.pageSize ?? 5_000;
  try {
    await sql`drop table if exists ${sql.table(target.fresh)}`.execute(session);
    const fresh = await createFreshTable(session, target);
    const writer = new FreshWriter(session, fresh);
    let batch: unknown[] = [];
    let eventsInBatch = 0;
    // Read through the pool, not `session`: one backend reads a page while another inserts the
    // previous one. The rebuild so takes two of the pool's connections while it loads.
    for await (const stream of scanStreamsForFold(db, { pageSize, streamType: target.type.name })) {
      batch.push(foldRows(target.type, stream.rows));
      eventsInBatch += stream.rows.length;
      progress.eventsRead += stream.rows.length;
      if (target.table === 'videos') progress.videos += 1;
      // Flushed per page of events, so progress moves steadily however long the streams are.
      if (eventsInBatch >= pageSize) {
        await writer.write(batch);
        batch = [];
        eventsInBatch = 0;
        options.onProgress?.({ ...progress });
      }
    }
    await writer.write(batch);
    await writer.done();
    options.onProgress?.({ ...progress });
    await fresh.buildIndexes(session);

    return await session.transaction().execute(async (trx) => {
      await sql`set local lock_timeout = ${sql.lit(`${options.lockTimeoutMs ?? 10_000}ms`)}`.execute(trx);
      await lockLive(trx, target.table);
      await catchUp(trx, target, fresh, pageSize);
      const counts = await countFresh(trx, target);
      const differences = await countDifferences(trx, target);
      await swapIn(trx, target);
      return { ...counts, differences };
    });
  } catch (error) {
    await sql`drop table if exists ${sql.table(target.fresh)}`.execute(session).catch(() => undefined);
    throw error;
  }
}

function foldRows(type: AnyStreamType, rows: readonly FoldEventRow[]): unknown {
  let state: unknown = null;
  // Exactly what the inline projection folds (append.ts): the stored rows, validated when appended.
  // The audit, not the rebuild, re-validates them (FOLD_FAILED).
  for (const row of rows) state = type.evolve(state, toFoldEvent(row));
  if (state === null) throw new Error('unreachable: a scanned stream has at least one event');
  return state;
}

type Executor = Db | Transaction<Database>;

/** An index of the fresh table, dropped for the load and built again after it. */
interface FreshIndex {
  name: string;
  /** The constraint the index backs (primary key, unique…), if any, and its definition. */
  constraint: { name: string; definition: string } | null;
  /** CREATE INDEX … ON videos_rebuild, for an index that backs no constraint. */
  definition: string;
}

interface FreshTable {
  /** Inserts the rows of these states. */
  insert(db: Executor, states: readonly unknown[]): Promise<void>;
  /** Builds the indexes that were dropped for the load, under their names. */
  buildIndexes(db: Db): Promise<void>;
}

/**
 * Creates the fresh table shaped like `videos` — INCLUDING ALL copies columns, defaults, constraints
 * and indexes, so it can take the live table's place as it is — then drops its indexes for the load.
 *
 * Rows go in as one JSON array of positional arrays per batch, in the table's column order read from
 * the catalog: PostgreSQL parses that markedly faster than an array of objects keyed by column
 * (no keys to parse and sort, an element found by its index), and this process writes less. Each
 * column is taken from its element as `jsonb_populate_recordset` would (JSON null is SQL NULL, a
 * jsonb column takes the element itself, any other type its text; timestamps come as epoch
 * milliseconds), so the rows are the same.
 */
async function createFreshTable(session: Db, target: Target): Promise<FreshTable> {
  const FRESH_TABLE = target.fresh;
  await sql`create table ${sql.table(FRESH_TABLE)} (like ${sql.table(target.table)} including all)`.execute(session);
  const { rows: columns } = await sql<{ name: string; type: string }>`
    select attname as name, format_type(atttypid, atttypmod) as type from pg_attribute
    where attrelid = ${FRESH_TABLE}::regclass and attnum > 0 and not attisdropped
    order by attnum`.execute(session);
  const { rows: found } = await sql<{ name: string; definition: string; constraint_name: string | null; constraint_definition: string | null }>`
    select i.relname as name, pg_get_indexdef(i.oid) as definition,
      c.conname as constraint_name, pg_get_constraintdef(c.oid) as constraint_definition
    from pg_index x join pg_class i on i.oid = x.indexrelid
    left join pg_constraint c on c.conindid = x.indexrelid and c.conrelid = x.indrelid
    where x.indrelid = ${FRESH_TABLE}::regclass
    order by i.relname`.execute(session);
  const indexes: FreshIndex[] = found.map(({ name, definition, constraint_name, constraint_definition }) => ({
    name,
    definition,
    constraint: constraint_name === null || constraint_definition === null ? null : { name: constraint_name, definition: constraint_definition },
  }));
  for (const index of indexes) {
    if (index.constraint !== null) await sql`alter table ${sql.table(FRESH_TABLE)} drop constraint ${sql.id(index.constraint.name)}`.execute(session);
    else await sql`drop index ${sql.id(index.name)}`.execute(session);
  }

  const names = columns.map((c) => c.name);
  const values = sql.join(
    columns.map(({ type }, i) => {
      if (type === 'jsonb') return sql`nullif(r -> ${sql.lit(i)}, 'null'::jsonb)`;
      // Milliseconds since the epoch (exact: integer microseconds), see toElement.
      if (type === 'timestamp with time zone') return sql`timestamptz 'epoch' + (r ->> ${sql.lit(i)})::int8 * interval '1 millisecond'`;
      return sql`(r ->> ${sql.lit(i)})::${sql.raw(type)}`;
    }),
  );
  return {
    async insert(db, states) {
      if (states.length === 0) return;
      const rows = JSON.stringify(
        states.map((state) => {
          const record = target.projection.toRecord(state);
          return names.map((name) => toElement(record[name]));
        }),
      );
      await sql`
        insert into ${sql.table(FRESH_TABLE)} (${sql.join(names.map((name) => sql.id(name)))})
        select ${values} from jsonb_array_elements(${rows}::jsonb) r`.execute(db);
    },
    async buildIndexes(db) {
      for (const index of indexes) {
        if (index.constraint !== null) {
          await sql`alter table ${sql.table(FRESH_TABLE)} add constraint ${sql.id(index.constraint.name)} ${sql.raw(index.constraint.definition)}`.execute(db);
        } else {
          await sql.raw(index.definition).execute(db);
        }
      }
    },
  };
}

/**
 * A Date goes as its milliseconds since the epoch, not as the ISO text JSON.stringify would make of
 * it: a number costs less to write here and to read there (the Dates were over half the stringify time).
 */
const toElement = (value: unknown): unknown => (value instanceof Date ? value.getTime() : value);

/**
 * Inserts batches into the fresh table with one insert in flight: the next batch is folded while
 * PostgreSQL writes the previous one. `done()` waits for the last and surfaces its error.
 */
class FreshWriter {
  #inFlight: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Db,
    private readonly fresh: FreshTable,
  ) {}

  async write(states: readonly unknown[]): Promise<void> {
    await this.#inFlight;
    const insert = this.fresh.insert(this.db, states);
    // Awaited by the next write or by done(); meanwhile a failure must not count as unhandled.
    insert.catch(() => undefined);
    this.#inFlight = insert;
  }

  done(): Promise<void> {
    return this.#inFlight;
  }
}

async function lockLive(trx: Transaction<Database>, table: string): Promise<void> {
  try {
    // EXCLUSIVE: blocks the inline projection's writes, not the API's reads.
    await sql`lock table ${sql.table(table)} in exclusive mode`.execute(trx);
  } catch (error) {
    if (isPgError(error) && error.code === SqlState.LOCK_NOT_AVAILABLE) {
      throw new FramelogError(ErrorCode.REBUILD_IN_PROGRESS, `Could not lock the ${table} table for the swap: long transactions hold it. Try again.`, {
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
async function catchUp(trx: Transaction<Database>, target: Target, fresh: FreshTable, pageSize: number): Promise<void> {
  const { rows } = await sql<{ id: string }>`
    select l.id from ${sql.table(target.table)} l
    left join ${sql.table(target.fresh)} r on r.id = l.id
    where r.id is null or r.version < l.version`.execute(trx);
  if (rows.length === 0) return;
  const ids = rows.map((r) => r.id);
  await sql`delete from ${sql.table(target.fresh)} where id = any(${ids}::uuid[])`.execute(trx);
  let batch: unknown[] = [];
  for await (const stream of scanStreamsForFold(trx, { streamIds: ids, pageSize })) {
    batch.push(foldRows(target.type, stream.rows));
    if (batch.length >= pageSize) {
      await fresh.insert(trx, batch);
      batch = [];
    }
  }
  await fresh.insert(trx, batch);
}

/** Events folded into the fresh table (each row's version is its stream's event count) and rows. */
async function countFresh(trx: Transaction<Database>, target: Target): Promise<{ events: number; rows: number }> {
  const { rows } = await sql<{ events: string | null; rows: string }>`
    select sum(version) as events, count(*) as rows from ${sql.table(target.fresh)}`.execute(trx);
  return { events: Number(rows[0]?.events ?? 0), rows: Number(rows[0]?.rows ?? 0) };
}

async function countDifferences(trx: Transaction<Database>, target: Target): Promise<number> {
  const { rows } = await sql<{ n: string }>`
    select count(*) as n from ${sql.table(target.table)} l
    full join ${sql.table(target.fresh)} r on r.id = l.id
    where l.id is null or r.id is null or row(l.*) is distinct from row(r.*)`.execute(trx);
  return Number(rows[0]?.n ?? 0);
}

/** Replaces the live table by the fresh one, keeping the old index names and triggers. */
async function swapIn(trx: Transaction<Database>, target: Target): Promise<void> {
  const FRESH_TABLE = target.fresh;
  const { rows: indexes } = await sql<{ old_name: string; fresh_name: string }>`
    select o.relname as old_name, f.relname as fresh_name
    from pg_index oi join pg_class o on o.oid = oi.indexrelid
    join pg_index fi on fi.indrelid = ${FRESH_TABLE}::regclass
      and fi.indkey = oi.indkey and fi.indisunique = oi.indisunique and fi.indisprimary = oi.indisprimary
      and fi.indclass = oi.indclass and fi.indoption = oi.indoption
      and pg_get_expr(fi.indpred, fi.indrelid) is not distinct from pg_get_expr(oi.indpred, oi.indrelid)
    join pg_class f on f.oid = fi.indexrelid
    where oi.indrelid = ${target.table}::regclass`.execute(trx);
  const { rows: triggers } = await sql<{ definition: string }>`
    select pg_get_triggerdef(oid) as definition from pg_trigger
    where tgrelid = ${target.table}::regclass and not tgisinternal`.execute(trx);
  await sql`drop table ${sql.table(target.table)}`.execute(trx);
  await sql`alter table ${sql.table(FRESH_TABLE)} rename to ${sql.id(target.table)}`.execute(trx);
  // Renaming an index that backs a constraint renames the constraint too.
  for (const { old_name, fresh_name } of indexes) {
    await sql`alter index ${sql.id(fresh_name)} rename to ${sql.id(old_name)}`.execute(trx);
  }
  // The definitions name the live table, which is now the fresh one.
  for (const { definition } of triggers) await sql.raw(definition).execute(trx);
}
