import pg from 'pg';
import { Kysely, Migrator, PostgresDialect, type MigrationResult } from 'kysely';
import { migrations } from '../../migrations/index.js';
import { ErrorCode, FramelogError } from '../domain/errors.js';

// Serialises concurrent `migrate` runs (two processes starting at once) across the whole server.
const MIGRATION_LOCK_KEY = 0x66_72_61_6d; // "fram"
const DUPLICATE_DATABASE = '42P04';
const UNIQUE_VIOLATION = '23505';

/** Creates the database named in `connectionString` if it does not exist yet. */
export async function ensureDatabase(connectionString: string): Promise<void> {
  const url = new URL(connectionString);
  const name = decodeURIComponent(url.pathname.slice(1));
  if (!name) throw new FramelogError(ErrorCode.CONFIG_INVALID, 'DATABASE_URL must name a database.');
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (rowCount === 0) {
      await client.query(`create database ${pg.escapeIdentifier(name)}`).catch((error: unknown) => {
        // Another process created it between our check and our create: that is fine.
        const code = (error as { code?: string }).code;
        if (code !== DUPLICATE_DATABASE && code !== UNIQUE_VIOLATION) throw error;
      });
    }
  } finally {
    await client.end();
  }
}

export interface MigrateOutcome {
  results: MigrationResult[];
}

/** Brings the schema to the latest migration; safe to run from several processes at once. */
export async function migrateToLatest(connectionString: string): Promise<MigrateOutcome> {
  const lockClient = new pg.Client({ connectionString });
  await lockClient.connect();
  const db = new Kysely<unknown>({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString, max: 1 }) }),
  });
  try {
    // Kysely's own lock lives in tables it must first create; taking ours first avoids that race.
    await lockClient.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    const migrator = new Migrator({
      db,
      provider: { getMigrations: () => Promise.resolve(migrations) },
    });
    const { error, results } = await migrator.migrateToLatest();
    if (error) {
      throw new FramelogError(ErrorCode.INTERNAL, `Migration failed: ${error instanceof Error ? error.message : JSON.stringify(error)}`, {
        cause: error,
        details: { results },
      });
    }
    return { results: results ?? [] };
  } finally {
    await lockClient.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    await lockClient.end();
    await db.destroy();
  }
}
