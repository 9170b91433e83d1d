import type pg from 'pg';

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
}

/** Why a lease's `lost` signal aborted: its connection failed (`cause`), so the lock is gone. */
export class LeaseLostError extends Error {
  constructor(taskId: string, cause: unknown) {
    super(`The lease of task ${taskId} was lost with its PostgreSQL connection.`, { cause });
    this.name = 'LeaseLostError';
  }
}

/** The task's 64-bit advisory-lock key; the prefix keeps it apart from other advisory-lock users of the database. */
const LOCK_KEY_SQL = `hashtextextended('framelog.task:' || $1, 0)`;

export function createTaskLeases(pool: pg.Pool): TaskLeases {
  return {
    async tryAcquire(taskId) {
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
      let locked: boolean;
      try {
        const { rows } = await client.query<{ locked: boolean }>(`select pg_try_advisory_lock(${LOCK_KEY_SQL}) as locked`, [taskId]);
        locked = rows[0]?.locked === true;
      } catch (error) {
        detach();
        client.release(error instanceof Error ? error : true);
        throw error;
      }
      if (!locked) {
        detach();
        client.release();
        return null;
      }
      return { lost: lost.signal, release: () => releaseLease(client, taskId, lost.signal, detach) };
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
