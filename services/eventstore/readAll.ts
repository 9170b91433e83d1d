import type { RecordedEvent } from '../domain/events.js';
import type { Db } from './db.js';
import { toRecordedEvent } from './readStream.js';

export interface ReadAllOptions {
  /** Exclusive lower bound on the global position. */
  afterPosition?: bigint;
  limit: number;
  streamId?: string;
  types?: readonly string[];
}

/** Events in global position order, for the audit log and for catching up. */
export async function readAll(db: Db, options: ReadAllOptions): Promise<RecordedEvent[]> {
  let query = db.selectFrom('events').selectAll();
  if (options.afterPosition !== undefined) query = query.where('position', '>', options.afterPosition.toString());
  if (options.streamId !== undefined) query = query.where('stream_id', '=', options.streamId);
  if (options.types !== undefined && options.types.length > 0) query = query.where('type', 'in', [...options.types]);
  const rows = await query.orderBy('position').limit(options.limit).execute();
  return rows.map(toRecordedEvent);
}
