import type pg from 'pg';
import { foldStream } from './readStream.js';
import type { EventRow } from './schema.js';
import type { StoredEvent, StreamType } from './streamTypes.js';

/**
 * A running attempt's lease on its task (DESIGN §1.2): a session-level PostgreSQL advisory lock on the
 * task id, held on a pooled connection taken out of the pool for as long as the attempt runs.
 *
 * Why a lock rather than a heartbeat with expiry: the lock lives exactly as long as the worker's
 * session. When the worker dies (even SIGKILL: the kernel closes its socket) PostgreSQL drops the lock at
 * once, so a redelivery tells a crashed attempt from a live one with no expiry to tune, no clock to trust
 * and no write per interval; a heartbeat would need a table, a write every few seconds per attempt, and an
 * expiry that either calls a CPU-starved ffmpeg run dead (the duplicate work the lease prevents) or leaves
 * a crashed task waiting. The cost is one connection per running attempt (one per worker: prefetch 1).
 *
 * When PostgreSQL restarts, every lock vanishes with it: `lost` aborts, and the attempt must stop (its
 * outcome could not be recorded anyway) and hand its message back; a redelivery then finds the lock free
 * and the log's unfinished start, which it counts as a crash unless the message says it was interrupted.
 */
export interface TaskLease {
  /** Aborts when the lease's connection failed (PostgreSQL restarted or unreachable): the lock is gone. */
  readonly lost: AbortSignal;
  /** Unlocks and returns the connection to the pool (a lost lease's connection is dropped). Never throws. */
  release(): Promise<void>;
}

export interface TaskLeases {
  /**
   * The lease of `taskId`, or null when another session holds it (a live attempt, or the dead-letter
   * watcher recording the task's end). Rejects with the pool's error when PostgreSQL is unreachable.
   */
  tryAcquire(taskId: string): Promise<TaskLease | null>;
  /**
   * tryAcquire, and the state of the stream the task works on, read after the lock was taken in the
   * same round trip (the worker's decision read): from its projection row when the type reads one,
   * else folded from its events. A state that cannot be folded (an event the type refuses) rejects.
   */
  tryAcquireAndLoad<S, E extends StoredEvent>(taskId: string, type: StreamType<S, E>, streamId: string): Promise<LoadedLease<S> | null>;
}

export interface LoadedLease<S> {
  lease: TaskLease;
  /** null: no such stream. */
  state: S | null;
}

/** Why a lease's `lost` signal aborted: its connection failed (`cause`), so the lock is gone. */
export class LeaseLostError extends Error {
  constructor(taskId: string, cause: unknown) {
    super(`The lease of task ${taskId} was lost with its PostgreSQL connection.`, { cause });
    this.name = 'LeaseLostError';
  }
}

/** The task's 64-bit advisory-lock key; the prefix keeps it apart from other advisory-lock users of the database. */
const lockKeySql = (taskIdSql: string) => `hashtextextended('framelog.task:' || ${taskIdSql}, 0)`;
const LOCK_KEY_SQL = lockKeySql('$1');

/** What the lease reads after its lock, in the same round trip: a projection row, or a stream's events to fold. */
type LeaseRead = { table: string; id: string } | { stream: string };

function readSql(client: pg.PoolClient, read: LeaseRead): string {
  if ('stream' in read) return `select * from events where stream_id = ${client.escapeLiteral(read.stream)}::uuid order by version`;
  return `select * from ${client.escapeIdentifier(read.table)} where id = ${client.escapeLiteral(read.id)}::uuid`;
}

/**
 * The lock and, when asked, what `read` names, in one round trip: two statements in one
 * simple-protocol query (no parameters there, hence the quoted literals; the ids are uuids the message
 * schema checked, and quoting makes any text safe). Under READ COMMITTED each statement takes its own
 * snapshot, so the rows are read after the lock was granted, as a separate query would read them: they
 * show every outcome the lease's previous holder committed.
 */
async function lockAndRead(client: pg.PoolClient, taskId: string, read?: LeaseRead): Promise<{ locked: boolean; rows?: Record<string, unknown>[] }> {
  if (read === undefined) {
    const { rows } = await client.query<{ locked: boolean }>(`select pg_try_advisory_lock(${LOCK_KEY_SQL}) as locked`, [taskId]);
    return { locked: rows[0]?.locked === true };
  }
  const lock = `select pg_try_advisory_lock(${lockKeySql(client.escapeLiteral(taskId))}) as locked`;
  // pg answers a query of several statements with one result per statement.
  const [locked, rows] = (await client.query(`${lock}; ${readSql(client, read)}`)) as unknown as [pg.QueryResult<{ locked: boolean }>, pg.QueryResult<Record<string, unknown>>];
  return { locked: locked.rows[0]?.locked === true, rows: rows.rows };
}

export function createTaskLeases(pool: pg.Pool): TaskLeases {
  async function acquire(taskId: string, read?: LeaseRead): Promise<{ lease: TaskLease; rows?: Record<string, unknown>[] } | null> {
    const client = await pool.connect();
    const lost = new AbortController();
    const onLost = (error?: Error): void => lost.abort(new LeaseLostError(taskId, error));
    // A checked-out client has no pool listener: without ours, its 'error' would crash the process.
    client.on('error', onLost);
    client.on('end', onLost);
    const detach = (): void => {
      client.off('error', onLost);
      client.off('end', onLost);
    };
    let result: Awaited<ReturnType<typeof lockAndRead>>;
    try {
      result = await lockAndRead(client, taskId, read);
    } catch (error) {
      // Dropping the connection also ends a lock its first statement may have taken.
      detach();
      client.release(error instanceof Error ? error : true);
      throw error;
    }
    if (!result.locked) {
      detach();
      client.release();
      return null;
    }
    return { lease: { lost: lost.signal, release: () => releaseLease(client, taskId, lost.signal, detach) }, ...(result.rows ? { rows: result.rows } : {}) };
  }
  return {
    tryAcquire: async (taskId) => (await acquire(taskId))?.lease ?? null,
    async tryAcquireAndLoad(taskId, type, streamId) {
      const projection = type.projection?.fromRow === undefined ? null : type.projection;
      const acquired = await acquire(taskId, projection ? { table: projection.table, id: streamId } : { stream: streamId });
      if (acquired === null) return null;
      const rows = acquired.rows ?? [];
      try {
        if (projection?.fromRow) return { lease: acquired.lease, state: rows[0] ? projection.fromRow(rows[0]) : null };
        return { lease: acquired.lease, state: foldStream(type, rows as unknown as EventRow[]) };
      } catch (error) {
        // The caller gets no lease to release.
        await acquired.lease.release();
        throw error;
      }
    },
  };
}

async function releaseLease(client: pg.PoolClient, taskId: string, lost: AbortSignal, detach: () => void): Promise<void> {
  if (lost.aborted) {
    detach();
    client.release(true);
    return;
  }
  try {
    await client.query(`select pg_advisory_unlock(${LOCK_KEY_SQL})`, [taskId]);
    detach();
    client.release();
  } catch {
    // Dropping the connection releases the lock just as well.
    detach();
    client.release(true);
  }
}
