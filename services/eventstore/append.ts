import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { ConcurrencyError, DuplicateOutcomeError, ErrorCode, FramelogError } from '../domain/errors.js';
import { EventMetadataSchema, TERMINAL_EVENT_TYPES, eventDataSchemas, type EventMetadata, type RecordedEvent, type VideoEvent } from '../domain/events.js';
import { evolve, type VideoState } from '../domain/video.js';
import type { Db } from './db.js';
import type { EventRow } from './schema.js';
import { SqlState, isPgError } from './pgErrors.js';
import { videoStateToJsonRecord } from './projection.js';
import { toRecordedEvent } from './readStream.js';

export interface NewEvent {
  event: VideoEvent;
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

export interface AppendRequest {
  streamId: string;
  /** The stream's version before this append (0 for a new stream); a mismatch is a ConcurrencyError. */
  expectedVersion: number;
  /** The state at `expectedVersion` (null for a new stream); the projection is evolved from it. */
  state: VideoState | null;
  events: readonly NewEvent[];
  /** Written in the same transaction; published later by the relay. */
  outbox?: OutboxMessage | readonly OutboxMessage[];
}

export interface AppendResult {
  events: RecordedEvent[];
  state: VideoState;
}

const CONSTRAINT_VERSION = 'events_stream_version_key';
const CONSTRAINT_OUTCOME = 'events_one_outcome_per_task';

/**
 * Appends events to a stream in one transaction: the events (hash-chained by the database), the
 * `videos` projection row evolved from them, and the outbox row, if any. Either all of it commits or
 * none does.
 */
export async function appendToStream(db: Db, request: AppendRequest): Promise<AppendResult> {
  const { streamId, expectedVersion, state, events } = request;
  if (events.length === 0) throw new FramelogError(ErrorCode.INVALID_EVENT, 'An append needs at least one event.');
  if ((state?.version ?? 0) !== expectedVersion) throw new ConcurrencyError(streamId, expectedVersion);

  // Validate before touching the database: bad data or an illegal transition changes nothing.
  const validated = events.map(({ event, metadata, eventId }) => ({
    eventId: eventId ?? randomUUID(),
    type: event.type,
    data: eventDataSchemas[event.type].parse(event.data),
    metadata: EventMetadataSchema.parse(metadata),
  }));
  let provisional = state;
  validated.forEach((e, i) => {
    provisional = evolve(provisional, {
      ...({ type: e.type, data: e.data } as VideoEvent),
      streamId,
      version: expectedVersion + i + 1,
      recordedAt: new Date(),
      position: 0n,
    });
  });

  if (provisional === null) throw new Error('unreachable: an append always yields a state');
  const outboxes: readonly OutboxMessage[] = request.outbox === undefined ? [] : 'id' in request.outbox ? [request.outbox] : request.outbox;
  if (outboxes.length > 1) throw new FramelogError(ErrorCode.INVALID_EVENT, 'An append carries at most one outbox message.');
  const outbox = outboxes[0];
  const eventsJson = validated.map((e) => ({ event_id: e.eventId, type: e.type, data: e.data, metadata: e.metadata }));
  const outboxJson = outbox ? { id: outbox.id, routing_key: outbox.routingKey, payload: outbox.payload, headers: outbox.headers } : null;

  try {
    // Events, outbox row and projection row in one call of one statement: atomic without BEGIN/COMMIT,
    // one round trip, and plans prepared once per connection (migrations/0004_append_function.ts).
    // The function completes the row with what only the database knows: timestamps and positions.
    const { rows } = await sql<EventRow>`
      select * from framelog_append(${streamId}::uuid, ${expectedVersion}::integer, ${JSON.stringify(eventsJson)}::jsonb,
        ${JSON.stringify(videoStateToJsonRecord(provisional))}::jsonb, ${outboxJson === null ? null : JSON.stringify(outboxJson)}::jsonb)`.execute(db);

    const recorded = rows.map(toRecordedEvent).sort((a, b) => a.version - b.version);
    let next = state;
    for (const event of recorded) next = evolve(next, event);
    if (next === null) throw new Error('unreachable: an append always yields a state');
    return { events: recorded, state: next };
  } catch (error) {
    const terminal = validated.find((e) => isTerminalEventType(e.type));
    throw translateAppendError(error, streamId, expectedVersion, terminal?.data);
  }
}

const isTerminalEventType = (type: string): boolean => (TERMINAL_EVENT_TYPES as readonly string[]).includes(type);

function translateAppendError(error: unknown, streamId: string, expectedVersion: number, data: unknown): unknown {
  if (!isPgError(error)) return error;
  if (error.code === SqlState.STREAM_VERSION_GAP) return new ConcurrencyError(streamId, expectedVersion, { cause: error });
  if (error.code === SqlState.UNIQUE_VIOLATION) {
    if (error.constraint === CONSTRAINT_OUTCOME) {
      const taskId = (data as { taskId?: string } | undefined)?.taskId ?? 'unknown';
      return new DuplicateOutcomeError(streamId, taskId, { cause: error });
    }
    if (error.constraint === CONSTRAINT_VERSION) return new ConcurrencyError(streamId, expectedVersion, { cause: error });
  }
  return error;
}
