import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { migrateToLatest } from '../../services/eventstore/migrate.js';
import { ADMIN_URL, databaseUrl } from './env.js';

declare module 'vitest' {
  export interface ProvidedContext {
    templateDatabase: string;
  }
}

/**
 * Migrates one template database per set of migrations; each test file clones it
 * (CREATE DATABASE … TEMPLATE), which takes milliseconds instead of running every migration again.
 */
export default async function setup(project: TestProject): Promise<void> {
  const dir = fileURLToPath(new URL('../../migrations', import.meta.url));
  const digest = createHash('sha256');
  for (const file of readdirSync(dir).sort()) digest.update(file).update(readFileSync(`${dir}/${file}`));
  const template = `framelog_template_${digest.digest('hex').slice(0, 12)}`;

  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect().catch((error: unknown) => {
    throw new Error(`PostgreSQL is not reachable at ${ADMIN_URL}; start it (see README).`, { cause: error });
  });
  try {
    // Serialise with other vitest projects preparing the same template at the same time.
    await admin.query('select pg_advisory_lock(8675309)');
    const { rowCount } = await admin.query('select 1 from pg_database where datname = $1', [template]);
    if (rowCount === 0) {
      const building = `${template}_building`;
      await admin.query(`drop database if exists ${building}`);
      await admin.query(`create database ${building}`);
      await migrateToLatest(databaseUrl(building));
      await admin.query(`alter database ${building} rename to ${template}`);
    }
    await admin.query('select pg_advisory_unlock(8675309)');
  } finally {
    await admin.end();
  }
  project.provide('templateDatabase', template);
}
