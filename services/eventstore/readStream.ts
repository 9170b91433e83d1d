import { sql } from 'kysely';
import type { EventMetadata, RecordedEvent } from '../domain/events.js';
import type { Recorded, StoredEvent } from './streamTypes.js';
import type { Db } from './db.js';
import type { EventRow } from './schema.js';

/** An event row of a video stream as the domain reads it. */
export function toRecordedEvent(row: EventRow): RecordedEvent {
  return toStoredEvent(row) as RecordedEvent;
}

/** An event row of any stream type: its data as stored (validated when it was appended). */
export function toStoredEvent(row: EventRow): Recorded<StoredEvent> {
  return {
    position: BigInt(row.position),
    streamId: row.stream_id,
    version: row.version,
    eventId: row.event_id,
    type: row.type,
    data: row.data,
    metadata: row.metadata as EventMetadata,
    recordedAt: row.recorded_at,
    hash: row.hash.toString('hex'),
  };
}

export interface StreamBound {
  /** Last global position to include. */
  toPosition?: bigint;
  /** Last recording time to include. */
  toTime?: Date;
}

/** The events of one stream in version order, optionally only up to a position or time (`asOf`). */
export async function readStream(db: Db, streamId: string, bound: StreamBound = {}): Promise<RecordedEvent[]> {
  let query = db.selectFrom('events').selectAll().where('stream_id', '=', streamId);
  if (bound.toPosition !== undefined) query = query.where('position', '<=', bound.toPosition.toString());
  // recorded_at has microseconds but the API shows milliseconds: compare at the API's precision, so
  // asOf the recordedAt of an event includes that event.
  if (bound.toTime !== undefined) query = query.where(sql<Date>`date_trunc('milliseconds', recorded_at)`, '<=', bound.toTime);
  const rows = await query.orderBy('version').execute();
  return rows.map(toRecordedEvent);
}

/**
 * A video's history (GraphQL `Video.history`): its stream's events up to `toPosition`, and, in position
 * order among them, the events of its segments' streams (split and stitch, DESIGN §11; found through the
 * `segments` projection) up to `segmentsTo` (null: all of them, for the video as it is now). Segment
 * events come as stored (validated when appended), typed as the video's for the API's one event type.
 */
export async function readVideoHistory(db: Db, videoId: string, toPosition: bigint, segmentsTo: bigint | null): Promise<RecordedEvent[]> {
  const segmentBound = segmentsTo === null ? sql`true` : sql`e.position <= ${segmentsTo.toString()}::bigint`;
  const { rows } = await sql<EventRow>`
    select e.* from events e where e.stream_id = ${videoId}::uuid and e.position <= ${toPosition.toString()}::bigint
    union all
    select e.* from events e where e.stream_id in (select s.id from segments s where s.video_id = ${videoId}::uuid) and ${segmentBound}
    order by position`.execute(db);
  return rows.map(toRecordedEvent);
}
