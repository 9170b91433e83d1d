import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { withAdmin } from './env.js';
import { openScratchDatabase, type ScratchDatabase } from './scratchDatabase.js';

export type TestDatabase = ScratchDatabase;

/** A fresh, migrated database of its own for one test file (cloned from the template). */
export async function createTestDatabase(): Promise<TestDatabase> {
  const template = inject('templateDatabase');
  const name = `framelog_test_${randomBytes(6).toString('hex')}`;
  await withAdmin((admin) => admin.query(`create database ${name} template ${template}`));
  return openScratchDatabase(name, { applicationName: 'framelog-test' });
}
