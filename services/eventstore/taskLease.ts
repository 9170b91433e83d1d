import type pg from 'pg';
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
   * same round trip (the worker's decision read). `state` is undefined when the type keeps no
   * projection row to read it from: the caller loads it (handleCommand does when given none).
   */
  tryAcquireAndLoad<S, E extends StoredEvent>(taskId: string, type: StreamType<S, E>, streamId: string): Promise<LoadedLease<S> | null>;
}

export interface LoadedLease<S> {
  lease: TaskLease;
  /** null: no such stream; undefined: not read (the type keeps no projection row). */
  state: S | null | undefined;
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

/**
 * The lock and, when `read` names a projection row, that row, in one round trip: two statements in
 * one simple-protocol query (no parameters there, hence the quoted literals; the ids are uuids the
 * message schema checked, and quoting makes any text safe). Under READ COMMITTED each statement takes
 * its own snapshot, so the row is read after the lock was granted, as a separate query would read it:
 * it shows every outcome the lease's previous holder committed.
 */
async function lockAndRead(client: pg.PoolClient, taskId: string, read?: { table: string; id: string }): Promise<{ locked: boolean; row?: Record<string, unknown> | null }> {
  if (read === undefined) {
    const { rows } = await client.query<{ locked: boolean }>(`select pg_try_advisory_lock(${LOCK_KEY_SQL}) as locked`, [taskId]);
    return { locked: rows[0]?.locked === true };
  }
  const lock = `select pg_try_advisory_lock(${lockKeySql(client.escapeLiteral(taskId))}) as locked`;
  const select = `select * from ${client.escapeIdentifier(read.table)} where id = ${client.escapeLiteral(read.id)}::uuid`;
  // pg answers a query of several statements with one result per statement.
  const [locked, row] = (await client.query(`${lock}; ${select}`)) as unknown as [pg.QueryResult<{ locked: boolean }>, pg.QueryResult<Record<string, unknown>>];
  return { locked: locked.rows[0]?.locked === true, row: row.rows[0] ?? null };
}

export function createTaskLeases(pool: pg.Pool): TaskLeases {
  async function acquire(taskId: string, read?: { table: string; id: string }): Promise<{ lease: TaskLease; row?: Record<string, unknown> | null } | null> {
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
    return { lease: { lost: lost.signal, release: () => releaseLease(client, taskId, lost.signal, detach) }, row: result.row };
  }
  return {
    tryAcquire: async (taskId) => (await acquire(taskId))?.lease ?? null,
    async tryAcquireAndLoad(taskId, type, streamId) {
      const projection = type.projection;
      if (projection?.fromRow === undefined) {
        const lease = await acquire(taskId);
        return lease === null ? null : { lease: lease.lease, state: undefined };
      }
      const acquired = await acquire(taskId, { table: projection.table, id: streamId });
      if (acquired === null) return null;
      return { lease: acquired.lease, state: acquired.row ? projection.fromRow(acquired.row) : null };
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
