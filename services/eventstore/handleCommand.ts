import { randomUUID } from 'node:crypto';
import { ConcurrencyError, DuplicateOutcomeError, ErrorCode, FramelogError } from '../domain/errors.js';
import type { EventMetadata, RecordedEvent, VideoEvent } from '../domain/events.js';
import type { VideoState } from '../domain/video.js';
import { appendToStream, type NewEvent, type OutboxMessage } from './append.js';
import type { Db } from './db.js';
import { loadVideo } from './videos.js';

/** A pure decision over a stream's state: the events to append and whatever else the caller needs. */
export type Decider<C, D extends { events: VideoEvent[] }> = (command: C, state: VideoState | null) => D;

export interface HandleOptions {
  /** The state in hand (e.g. from the previous append); loaded when absent and after every conflict. */
  state?: VideoState | null;
  /** Metadata of each new event. */
  metadata: (event: VideoEvent) => EventMetadata;
  /** Messages to publish once the append commits (0..n), built from the new events with their ids. */
  outbox?: (events: readonly Required<NewEvent>[]) => OutboxMessage[];
}

export interface Handled<D> {
  decision: D;
  /** The stream's state after the append (or as loaded, when the decision appended nothing). */
  state: VideoState | null;
  events: RecordedEvent[];
}

/** Conflicts are short-lived races between deliveries of one task; a few reloads settle them. */
const MAX_TRIES = 5;

/**
 * Loads the stream, decides, appends, and on a version conflict (or a racing outcome the database
 * refused) reloads and decides again: the one retry loop for every command (DESIGN §3).
 */
export async function handleCommand<C, D extends { events: VideoEvent[] }>(
  db: Db,
  streamId: string,
  decider: Decider<C, D>,
  command: C,
  options: HandleOptions,
): Promise<Handled<D>> {
  let state = options.state === undefined ? await loadVideo(db, streamId) : options.state;
  for (let tries = 1; ; tries += 1) {
    const decision = decider(command, state);
    if (decision.events.length === 0) return { decision, state, events: [] };
    const events = decision.events.map((event) => ({ event, metadata: options.metadata(event), eventId: randomUUID() }));
    try {
      const appended = await appendToStream(db, {
        streamId,
        expectedVersion: state?.version ?? 0,
        state,
        events,
        outbox: options.outbox?.(events) ?? [],
      });
      return { decision, state: appended.state, events: appended.events };
    } catch (error) {
      if (!(error instanceof ConcurrencyError) && !(error instanceof DuplicateOutcomeError)) throw error;
      if (tries >= MAX_TRIES) {
        throw new FramelogError(ErrorCode.CONCURRENCY_CONFLICT, `Stream ${streamId} kept moving; the command was not recorded.`, { retryable: true, cause: error });
      }
      state = await loadVideo(db, streamId);
    }
  }
}
