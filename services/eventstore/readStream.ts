import { sql, type SelectQueryBuilder } from 'kysely';
import type { EventMetadata, RecordedEvent } from '../domain/events.js';
import type { Recorded, StoredEvent, StreamType } from './streamTypes.js';
import type { Db } from './db.js';
import type { Database, EventRow } from './schema.js';

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

/** The state of a stream's event rows in version order (null for none): each parsed and folded by its type. */
export function foldStream<S, E extends StoredEvent>(type: StreamType<S, E>, rows: readonly EventRow[]): S | null {
  let state: S | null = null;
  for (const row of rows) {
    const event = toStoredEvent(row);
    state = type.evolve(state, { ...event, ...type.parse(event.type, event.data) });
  }
  return state;
}

export interface StreamBound {
  /** Last global position to include. */
  toPosition?: bigint;
  /** Last recording time to include. */
  toTime?: Date;
}

/** The events of one stream in version order, optionally only up to a position or time (`asOf`). */
export async function readStream(db: Db, streamId: string, bound: StreamBound = {}): Promise<RecordedEvent[]> {
  return (await readStreamRows(db, streamId, bound)).map(toRecordedEvent);
}

/** readStream's rows as stored. */
function readStreamRows(db: Db, streamId: string, bound: StreamBound): Promise<EventRow[]> {
  return boundedBy(db.selectFrom('events').selectAll().where('stream_id', '=', streamId), bound)
    .orderBy('version')
    .execute();
}

/** A stream's state from its events (the fold; loadState reads a projection row instead when it can). */
export async function foldStreamOf<S, E extends StoredEvent>(db: Db, type: StreamType<S, E>, streamId: string): Promise<S | null> {
  return foldStream(type, await readStreamRows(db, streamId, {}));
}

/** A query of `events` limited to a bound. */
function boundedBy<Q extends SelectQueryBuilder<Database, 'events', EventRow>>(query: Q, bound: StreamBound): Q {
  let bounded = query;
  if (bound.toPosition !== undefined) bounded = bounded.where('position', '<=', bound.toPosition.toString()) as Q;
  // recorded_at has microseconds but the API shows milliseconds: compare at the API's precision, so
  // asOf the recordedAt of an event includes that event.
  if (bound.toTime !== undefined) bounded = bounded.where(sql<Date>`date_trunc('milliseconds', recorded_at)`, '<=', bound.toTime) as Q;
  return bounded;
}

/**
 * A video's history (GraphQL `Video.history`): its stream's events and, among them in position order, the
 * events of its segments' streams (split and stitch, DESIGN §11; found through the `segments` projection),
 * all of them up to the same `bound` (none: the whole log, for the video as it is now). Segment events come
 * as stored (validated when appended), typed as the video's for the API's one event type.
 */
export async function readVideoHistory(db: Db, videoId: string, bound: StreamBound = {}): Promise<RecordedEvent[]> {
  const rows = await boundedBy(
    db
      .selectFrom('events')
      .selectAll()
      .where((eb) => eb.or([eb('stream_id', '=', videoId), eb('stream_id', 'in', eb.selectFrom('segments').select('id').where('video_id', '=', videoId))])),
    bound,
  )
    .orderBy('position')
    .execute();
  return rows.map(toRecordedEvent);
}
