import { randomBytes } from 'node:crypto';
import { migrateToLatest } from '../../services/eventstore/migrate.js';
import { databaseUrl, withAdmin } from '../../test/helpers/env.js';
import { openScratchDatabase, type ScratchDatabase } from '../../test/helpers/scratchDatabase.js';

export type BenchDatabase = ScratchDatabase;

/**
 * A database of its own for one benchmark, created empty and migrated (`migrate: false` leaves it
 * empty, for the raw baselines). Not the test template: benchmarks run outside vitest.
 */
export async function createBenchDatabase(options: { migrate?: boolean; poolMax?: number } = {}): Promise<BenchDatabase> {
  const name = `framelog_bench_${randomBytes(6).toString('hex')}`;
  await withAdmin((admin) => admin.query(`create database ${name}`));
  try {
    if (options.migrate ?? true) await migrateToLatest(databaseUrl(name));
  } catch (error) {
    await withAdmin((admin) => admin.query(`drop database if exists ${name} with (force)`));
    throw error;
  }
  return openScratchDatabase(name, { poolMax: options.poolMax ?? 10, applicationName: 'framelog-bench' });
}
