import { setTimeout as delay } from 'node:timers/promises';
import type { Lock, Locker, RequestRelease } from '@tus/utils';
import type pg from 'pg';
import { ErrorCode, FramelogError } from '../../domain/errors.js';
import { tusRefusal } from './tusErrors.js';

export interface PgAdvisoryLockerOptions {
  /** A lock not acquired within this time fails the request (tus ERR_LOCK_TIMEOUT). */
  acquireTimeoutMs: number;
  /** How often a waiting request tries again. */
  pollMs: number;
}

/** Requests holding a lock in this process, so a resuming request can ask a stale one to let go. */
const localHolders = new Map<string, RequestRelease>();

/**
 * A tus `Locker` on PostgreSQL session-level advisory locks, so several API processes serialise the
 * requests of one upload (tus's default lock is per process). A holder keeps one connection of `pool`
 * for as long as its request runs; a crashed process's locks go with its connections.
 *
 * The tus convention that a new request asks the holder to release (`requestRelease`) works within a
 * process; across processes the waiter polls until the holder ends (a dropped client's request ends when
 * its socket closes) or `acquireTimeoutMs` passes.
 */
export class PgAdvisoryLocker implements Locker {
  constructor(
    private readonly pool: pg.Pool,
    private readonly options: PgAdvisoryLockerOptions,
  ) {}

  newLock(id: string): Lock {
    return new PgAdvisoryLock(this.pool, id, this.options);
  }
}

class PgAdvisoryLock implements Lock {
  private client: pg.PoolClient | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly id: string,
    private readonly options: PgAdvisoryLockerOptions,
  ) {}

  async lock(signal: AbortSignal, requestRelease: RequestRelease): Promise<void> {
    const deadline = Date.now() + this.options.acquireTimeoutMs;
    const client = await this.pool.connect();
    try {
      for (;;) {
        if (await tryLock(client, this.id)) break;
        await localHolders.get(this.id)?.();
        if (signal.aborted || Date.now() >= deadline) throw lockTimeout(this.id);
        await delay(this.options.pollMs);
      }
    } catch (error) {
      client.release();
      throw error;
    }
    this.client = client;
    localHolders.set(this.id, requestRelease);
  }

  async unlock(): Promise<void> {
    const client = this.client;
    if (client === undefined) throw new Error('Releasing an unlocked lock!');
    this.client = undefined;
    localHolders.delete(this.id);
    try {
      await client.query('select pg_advisory_unlock(hashtextextended($1, 0))', [lockKey(this.id)]);
      client.release();
    } catch (error) {
      // A broken connection lost its session locks anyway; it must not go back to the pool.
      client.release(error instanceof Error ? error : true);
    }
  }
}

/** 409 is what tus clients retry on (tus-js-client does), unlike tus's own 500 for a lock timeout. */
const lockTimeout = (id: string) =>
  tusRefusal(new FramelogError(ErrorCode.UPLOAD_CONFLICT, `Another request is still writing upload ${id}; try again shortly.`, { retryable: true }));

const lockKey = (id: string) => `framelog.tus:${id}`;

async function tryLock(client: pg.PoolClient, id: string): Promise<boolean> {
  const { rows } = await client.query<{ locked: boolean }>('select pg_try_advisory_lock(hashtextextended($1, 0)) as locked', [lockKey(id)]);
  return rows[0]?.locked === true;
}
