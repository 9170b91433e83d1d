import { loadConfigOrExit } from './startup.js';
import { ensureDatabase, migrateToLatest } from '../eventstore/migrate.js';

// `npm run migrate`: prints each migration's status and exits non-zero on error.
try {
  const config = loadConfigOrExit();
  await ensureDatabase(config.DATABASE_URL);
  const { results } = await migrateToLatest(config.DATABASE_URL);
  if (results.length === 0) console.log('migrate: schema is up to date');
  for (const r of results) console.log(`migrate: ${r.migrationName} ${r.status}`);
} catch (error) {
  console.error('migrate:', error instanceof Error ? error.message : error);
  process.exitCode = 1;
}
