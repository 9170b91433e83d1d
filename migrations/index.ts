import type { Migration } from 'kysely';
import * as m0001 from './0001_event_log.js';

/**
 * Every migration, in order. Listed explicitly (not read from the folder) so they load the same way
 * under tsx, vitest and the compiled build. Add new ones at the end; never edit a landed one.
 */
export const migrations: Record<string, Migration> = {
  '0001_event_log': m0001,
};
