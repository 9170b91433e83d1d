import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { createDb, createPool, type Db } from '../../services/eventstore/db.js';
import { migrateToLatest } from '../../services/eventstore/migrate.js';
import { databaseUrl, withAdmin } from '../../test/helpers/env.js';

export interface BenchDatabase {
  name: string;
  url: string;
  pool: pg.Pool;
  db: Db;
  /** Closes the pool and drops the database. */
  drop(): Promise<void>;
}

/**
 * A database of its own for one benchmark, created empty and migrated (`migrate: false` leaves it
 * empty, for the raw baselines). Not the test template: benchmarks run outside vitest.
 */
export async function createBenchDatabase(options: { migrate?: boolean; poolMax?: number } = {}): Promise<BenchDatabase> {
  const name = `framelog_bench_${randomBytes(6).toString('hex')}`;
  await withAdmin((admin) => admin.query(`create database ${name}`));
  const url = databaseUrl(name);
  try {
    if (options.migrate ?? true) await migrateToLatest(url);
  } catch (error) {
    await withAdmin((admin) => admin.query(`drop database if exists ${name} with (force)`));
    throw error;
  }
  const pool = createPool(url, { max: options.poolMax ?? 10, applicationName: 'framelog-bench' });
  // Dropping the database terminates idle connections; that is the end of the benchmark, not an error.
  pool.on('error', () => undefined);
  const db = createDb(pool);
  return {
    name,
    url,
    pool,
    db,
    async drop() {
      await db.destroy();
      await withAdmin((admin) => admin.query(`drop database if exists ${name} with (force)`));
    },
  };
}
