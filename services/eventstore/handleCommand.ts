import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { ConcurrencyError, DuplicateOutcomeError, ErrorCode, FramelogError } from '../domain/errors.js';
import type { EventMetadata } from '../domain/events.js';
import { appendEvents, type AppendResult, type NewEvent, type OutboxMessage } from './append.js';
import type { Db } from './db.js';
import { foldStreamOf } from './readStream.js';
import type { StoredEvent, StreamType } from './streamTypes.js';

/** A pure decision over one stream type's state: the events to append and whatever else the caller needs. */
export interface Decider<S, E extends StoredEvent, C, D extends { events: E[] }> {
  type: StreamType<S, E>;
  decide(command: C, state: S | null): D;
}

export interface HandleOptions<S, E extends StoredEvent> {
  /** The state in hand (e.g. from the previous append); loaded when absent and after every conflict. */
  state?: S | null;
  /** Metadata of each new event. */
  metadata: (event: E) => EventMetadata;
  /** Messages to publish once the append commits (0..n), built from the new events with their ids. */
  outbox?: (events: readonly Required<NewEvent<E>>[]) => OutboxMessage[];
}

export interface Handled<S, E extends StoredEvent, D> {
  decision: D;
  /** The stream's state after the append (or as loaded, when the decision appended nothing). */
  state: S | null;
  events: AppendResult<S, E>['events'];
}

/** Conflicts are short-lived races between deliveries of one task; a few reloads settle them. */
const MAX_TRIES = 5;

/**
 * Loads the stream, decides, appends, and on a version conflict (or a racing outcome the database
 * refused) reloads and decides again: the one retry loop for every command (DESIGN §3).
 */
export async function handleCommand<S, E extends StoredEvent, C, D extends { events: E[] }>(
  db: Db,
  streamId: string,
  decider: Decider<S, E, C, D>,
  command: C,
  options: HandleOptions<S, E>,
): Promise<Handled<S, E, D>> {
  let state = options.state === undefined ? await loadState(db, decider.type, streamId) : options.state;
  for (let tries = 1; ; tries += 1) {
    const decision = decider.decide(command, state);
    if (decision.events.length === 0) return { decision, state, events: [] };
    const events = decision.events.map((event) => ({ event, metadata: options.metadata(event), eventId: randomUUID() }));
    try {
      const expectedVersion = state === null ? 0 : decider.type.versionOf(state);
      const appended = await appendEvents(db, decider.type, { streamId, expectedVersion, state, events, outbox: options.outbox?.(events) ?? [] });
      return { decision, state: appended.state, events: appended.events };
    } catch (error) {
      if (!(error instanceof ConcurrencyError) && !(error instanceof DuplicateOutcomeError)) throw error;
      if (tries >= MAX_TRIES) {
        throw new FramelogError(ErrorCode.CONCURRENCY_CONFLICT, `Stream ${streamId} kept moving; the command was not recorded.`, { retryable: true, cause: error });
      }
      state = await loadState(db, decider.type, streamId);
    }
  }
}

/** A stream's current state: its projection row when the type can read one, else the fold of its events. */
export async function loadState<S, E extends StoredEvent>(db: Db, type: StreamType<S, E>, streamId: string): Promise<S | null> {
  const projection = type.projection;
  if (projection?.fromRow !== undefined) {
    const { rows } = await sql<Record<string, unknown>>`select * from ${sql.table(projection.table)} where id = ${streamId}::uuid`.execute(db);
    return rows[0] === undefined ? null : projection.fromRow(rows[0]);
  }
  return foldStreamOf(db, type, streamId);
}
