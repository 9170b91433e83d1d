import type pg from 'pg';
import { createDb, createPool, type Db } from '../../services/eventstore/db.js';
import { databaseUrl, withAdmin } from './env.js';

/** A database created for one test file or one benchmark, dropped by `drop()`. */
export interface ScratchDatabase {
  name: string;
  url: string;
  pool: pg.Pool;
  db: Db;
  /** Closes the pool and drops the database. */
  drop(): Promise<void>;
}

/** Opens a pool on the already-created database `name` and pairs it with the drop that removes it. */
export function openScratchDatabase(name: string, options: { poolMax?: number; applicationName: string }): ScratchDatabase {
  const url = databaseUrl(name);
  const pool = createPool(url, { max: options.poolMax ?? 10, applicationName: options.applicationName });
  const db = createDb(pool);
  return {
    name,
    url,
    pool,
    db,
    async drop() {
      // pg-pool's end() resolves before its connections have closed, so the forced DROP can terminate one
      // of them, which the pool would raise as an uncaught error: the end of the test, not a failure.
      pool.on('error', () => undefined);
      await db.destroy();
      await withAdmin((admin) => admin.query(`drop database if exists ${name} with (force)`));
    },
  };
}
