import type { Migration } from 'kysely';
import * as m0001 from './0001_event_log.js';
import * as m0002 from './0002_video_notifications.js';
import * as m0003 from './0003_api_tokens.js';
import * as m0004 from './0004_append_function.js';
import * as m0006 from './0006_generic_store.js';
import * as m0007 from './0007_segments.js';
import * as m0008 from './0008_outbox_row_notify.js';

/**
 * Every migration, in order. Listed explicitly (not read from the folder) so they load the same way
 * under tsx, vitest and the compiled build. Add new ones at the end; never edit a landed one.
 */
export const migrations: Record<string, Migration> = {
  '0001_event_log': m0001,
  '0002_video_notifications': m0002,
  '0003_api_tokens': m0003,
  '0004_append_function': m0004,
  '0006_generic_store': m0006,
  '0007_segments': m0007,
  '0008_outbox_row_notify': m0008,
};
