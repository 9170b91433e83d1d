import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import type { Database } from './schema.js';

// int8 (bigint) stays a string in rows (positions exceed 2^53 in theory); callers convert with BigInt().

export interface PoolOptions {
  max?: number;
  /** Who holds the connection, shown in pg_stat_activity. */
  applicationName?: string;
}

export function createPool(connectionString: string, options: PoolOptions = {}): pg.Pool {
  return new pg.Pool({
    connectionString,
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'framelog',
    // pg's 10 s default closed idle connections and caused 60-100 ms stalls at light load (DESIGN §7).
    idleTimeoutMillis: 5 * 60_000,
    // Fail fast when PostgreSQL is down instead of queueing requests forever.
    connectionTimeoutMillis: 5_000,
    keepAlive: true,
  });
}

export function createDb(pool: pg.Pool): Kysely<Database> {
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

export type Db = Kysely<Database>;
