import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { ConcurrencyError, DuplicateOutcomeError, ErrorCode, FramelogError } from '../domain/errors.js';
import { EventMetadataSchema, type EventMetadata, type VideoEvent } from '../domain/events.js';
import type { VideoState } from '../domain/video.js';
import type { Db } from './db.js';
import type { EventRow } from './schema.js';
import { SqlState, isPgError } from './pgErrors.js';
import { toStoredEvent } from './readStream.js';
import type { Recorded, StoredEvent, StreamType } from './streamTypes.js';
import { videoStream } from './videoStream.js';

export interface NewEvent<E extends StoredEvent = VideoEvent> {
  event: E;
  metadata: EventMetadata;
  /** Defaults to a fresh uuid; pass one to make a retried append idempotent. */
  eventId?: string;
}

/** A message to publish once the append commits (transactional outbox, DESIGN §2). */
export interface OutboxMessage {
  /** The message id; also the outbox row's primary key. */
  id: string;
  routingKey: string;
  payload: unknown;
  headers: Record<string, unknown>;
}

export interface AppendRequest<S = VideoState, E extends StoredEvent = VideoEvent> {
  streamId: string;
  /** The stream's version before this append (0 for a new stream); a mismatch is a ConcurrencyError. */
  expectedVersion: number;
  /** The state at `expectedVersion` (null for a new stream); the projection is evolved from it. */
  state: S | null;
  events: readonly NewEvent<E>[];
  /** Written in the same transaction (0..n); published later by the relay. */
  outbox?: OutboxMessage | readonly OutboxMessage[];
}

export interface AppendResult<S = VideoState, E extends StoredEvent = VideoEvent> {
  events: Recorded<E>[];
  state: S;
}

const CONSTRAINT_VERSION = 'events_stream_version_key';

/** Appends to a video stream (appendEvents with the video stream type). */
export function appendToStream(db: Db, request: AppendRequest): Promise<AppendResult> {
  return appendEvents(db, videoStream, request);
}

/**
 * Appends events to a stream of any type in one transaction: the events (hash-chained by the
 * database), the type's projection row evolved from them, and the outbox rows. Either all of it
 * commits or none does.
 */
export async function appendEvents<S, E extends StoredEvent>(db: Db, type: StreamType<S, E>, request: AppendRequest<S, E>): Promise<AppendResult<S, E>> {
  const { streamId, expectedVersion, state, events } = request;
  if (events.length === 0) throw new FramelogError(ErrorCode.INVALID_EVENT, 'An append needs at least one event.');
  if ((state === null ? 0 : type.versionOf(state)) !== expectedVersion) throw new ConcurrencyError(streamId, expectedVersion);

  // Validate before touching the database: bad data or an illegal transition changes nothing.
  const validated = events.map(({ event, metadata, eventId }) => ({ eventId: eventId ?? randomUUID(), ...type.parse(event.type, event.data), metadata: EventMetadataSchema.parse(metadata) }));
  let provisional = state;
  validated.forEach((e, i) => {
    provisional = type.evolve(provisional, { ...e, streamId, version: expectedVersion + i + 1, recordedAt: new Date(), position: 0n });
  });
  if (provisional === null) throw new Error('unreachable: an append always yields a state');

  const outbox: readonly OutboxMessage[] = request.outbox === undefined ? [] : 'id' in request.outbox ? [request.outbox] : request.outbox;
  const eventsJson = validated.map((e) => ({ event_id: e.eventId, type: e.type, data: e.data, metadata: e.metadata }));
  const outboxJson = outbox.map((o) => ({ id: o.id, routing_key: o.routingKey, payload: o.payload, headers: o.headers }));
  const projection = type.projection === null ? null : { table: type.projection.table, row: type.projection.toRecord(provisional) };
  try {
    // Events, outbox rows and projection row in one call of one statement: atomic without BEGIN/COMMIT,
    // one round trip, and plans prepared once per connection (migrations/0006_generic_store.ts).
    // The function completes the rows with what only the database knows: timestamps and positions.
    const { rows } = await sql<EventRow>`
      select * from framelog_append(${streamId}::uuid, ${type.name}, ${expectedVersion}::integer, ${JSON.stringify(eventsJson)}::jsonb,
        ${projection === null ? null : JSON.stringify(projection)}::jsonb, ${JSON.stringify(outboxJson)}::jsonb)`.execute(db);

    const recorded = rows.map((row) => toStoredEvent(row) as Recorded<E>).sort((a, b) => a.version - b.version);
    let next = state;
    for (const event of recorded) next = type.evolve(next, event);
    if (next === null) throw new Error('unreachable: an append always yields a state');
    return { events: recorded, state: next };
  } catch (error) {
    const outcome = validated.find((e) => type.outcomeTypes?.includes(e.type) === true) ?? validated[0];
    throw translateAppendError(error, { streamId, expectedVersion, data: outcome?.data, outcomeConstraints: type.outcomeConstraints ?? [] });
  }
}

interface AppendFailure {
  streamId: string;
  expectedVersion: number;
  /** The data of the outcome event (or first event) appended: names the task of a duplicate outcome. */
  data: unknown;
  outcomeConstraints: readonly string[];
}

function translateAppendError(error: unknown, { streamId, expectedVersion, data, outcomeConstraints }: AppendFailure): unknown {
  if (!isPgError(error)) return error;
  if (error.code === SqlState.STREAM_VERSION_GAP) return new ConcurrencyError(streamId, expectedVersion, { cause: error });
  if (error.code === SqlState.UNIQUE_VIOLATION) {
    if (error.constraint !== undefined && outcomeConstraints.includes(error.constraint)) {
      const taskId = (data as { taskId?: string } | undefined)?.taskId ?? 'unknown';
      return new DuplicateOutcomeError(streamId, taskId, { cause: error });
    }
    if (error.constraint === CONSTRAINT_VERSION) return new ConcurrencyError(streamId, expectedVersion, { cause: error });
  }
  return error;
}
