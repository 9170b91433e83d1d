import { sql, type Transaction } from 'kysely';
import type { Db } from './db.js';
import type { Database, OutboxRow } from './schema.js';

// The relay's side of the transactional outbox. The rows are written by appendToStream in the
// event's own transaction; these operations run in the relay's claim transaction.

const MAX_ERROR_LENGTH = 2_000;

/**
 * Whether any row is due, without a transaction or locks: one cheap statement. The outbox trigger
 * notifies only for inserted rows (migration 0008), but the sweep, and a notification whose rows the
 * batch in flight already took, wake the relay for nothing; this spares those the claim's BEGIN,
 * SELECT … FOR UPDATE and COMMIT. A row committed after this check notifies after its commit, which
 * wakes the relay again.
 */
export async function hasDueOutboxRows(db: Db): Promise<boolean> {
  const { rows } = await sql<{ due: boolean }>`select exists (select from outbox where available_at <= clock_timestamp()) as due`.execute(db);
  return rows[0]?.due === true;
}

/**
 * Locks up to `limit` rows that are due, oldest first. SKIP LOCKED makes concurrent relays take
 * disjoint batches instead of waiting for (and then re-publishing) each other's rows; the locks last
 * until the caller's transaction ends, after the rows were deleted or deferred.
 */
export async function claimOutboxBatch(trx: Transaction<Database>, limit: number): Promise<OutboxRow[]> {
  return trx
    .selectFrom('outbox')
    .selectAll()
    .where('available_at', '<=', sql<Date>`clock_timestamp()`)
    .orderBy('available_at')
    .orderBy('created_at')
    .limit(limit)
    .forUpdate()
    .skipLocked()
    .execute();
}

/** Removes rows whose messages the broker confirmed. Returns how many were deleted. */
export async function deleteOutboxRows(trx: Transaction<Database>, ids: readonly string[]): Promise<number> {
  if (ids.length === 0) return 0;
  const result = await trx.deleteFrom('outbox').where('id', 'in', ids).executeTakeFirst();
  return Number(result.numDeletedRows);
}

/**
 * Records a failed publish and makes the rows due again after `delayMs`. The delay counts from the
 * clock, not from the transaction's start (`now()`), which may lie a publish timeout in the past.
 */
export async function deferOutboxRows(
  trx: Transaction<Database>,
  ids: readonly string[],
  error: string,
  delayMs: number,
): Promise<number> {
  if (ids.length === 0) return 0;
  const result = await trx
    .updateTable('outbox')
    .set((eb) => ({
      attempts: eb('attempts', '+', 1),
      available_at: sql<Date>`clock_timestamp() + ${Math.max(0, Math.round(delayMs))} * interval '1 millisecond'`,
      last_error: error.slice(0, MAX_ERROR_LENGTH),
    }))
    .where('id', 'in', ids)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

export interface OutboxLag {
  /** Rows not yet published. */
  count: number;
  /** Age of the oldest row in milliseconds; null when the outbox is empty. */
  oldestAgeMs: number | null;
}

/** How far the relay is behind, for metrics, readiness and tests. */
export async function outboxLag(db: Db): Promise<OutboxLag> {
  const row = await db
    .selectFrom('outbox')
    .select([
      sql<number>`count(*)::int`.as('count'),
      sql<number | null>`(extract(epoch from clock_timestamp() - min(created_at)) * 1000)::float8`.as('oldest_age_ms'),
    ])
    .executeTakeFirstOrThrow();
  return { count: row.count, oldestAgeMs: row.oldest_age_ms };
}
