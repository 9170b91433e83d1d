import { sql } from 'kysely';
import type { RecordedEvent } from '../domain/events.js';
import type { Db } from './db.js';
import { toRecordedEvent } from './readStream.js';

export interface ReadAllOptions {
  /** The cursor: the position of the last event the reader was given (exclusive). */
  afterPosition?: bigint;
  limit: number;
  streamId?: string;
  types?: readonly string[];
}

/**
 * The gap-free global feed (DESIGN §1 guarantee 8), for the audit log and for catching up. Positions
 * are taken at insert, not at commit: a transaction holding position 4 may commit after one holding 5.
 * So readers see only events written below the oldest transaction still in flight (its xid8: every
 * transaction below it has ended, nothing more can appear there), in (transaction, position) order.
 * The cursor stays a position: the feed resumes after that event's place in this order, so a reader
 * that was shown 5 is still shown 4 when 4's transaction commits later. Within one transaction, and
 * for writers that do not overlap, the order is position order.
 */
export async function readAll(db: Db, options: ReadAllOptions): Promise<RecordedEvent[]> {
  let query = db.selectFrom('events').selectAll().where(sql<boolean>`transaction_id < pg_snapshot_xmin(pg_current_snapshot())`);
  if (options.afterPosition !== undefined) {
    const after = options.afterPosition.toString();
    // The cursor's place in the feed: its event's transaction (or, for a position that holds no event,
    // the transaction of the last event before it).
    const cursorTransaction = sql`coalesce((select c.transaction_id from events c where c.position <= ${after} order by c.position desc limit 1), '0'::xid8)`;
    query = query.where(sql<boolean>`(transaction_id, position) > (${cursorTransaction}, ${after}::bigint)`);
  }
  if (options.streamId !== undefined) query = query.where('stream_id', '=', options.streamId);
  if (options.types !== undefined && options.types.length > 0) query = query.where('type', 'in', [...options.types]);
  const rows = await query.orderBy('transaction_id').orderBy('position').limit(options.limit).execute();
  return rows.map(toRecordedEvent);
}

/**
 * The feed's horizon now (xid8 as text): every transaction below it has ended, so everything a later
 * read finds below it is final. A catch-up that read the events at or above the previous horizon and
 * then keeps this one misses nothing and reads only what may be new.
 */
export async function feedHorizon(db: Db): Promise<string> {
  const { rows } = await sql<{ horizon: string }>`select pg_snapshot_xmin(pg_current_snapshot())::text as horizon`.execute(db);
  const horizon = rows[0]?.horizon;
  if (horizon === undefined) throw new Error('unreachable: pg_current_snapshot() always has an xmin');
  return horizon;
}
