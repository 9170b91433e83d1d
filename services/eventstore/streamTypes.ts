import type { EventEnvelope } from '../domain/events.js';
import { segmentStream } from './segmentStream.js';
import { videoStream } from './videoStream.js';

/** An event as any stream type has it: a name and its data. */
export interface StoredEvent {
  type: string;
  data: unknown;
}

/** An event with what evolve() may read of its place in the log. */
export type Folded<E extends StoredEvent> = E & { streamId: string; version: number; recordedAt: Date; position: bigint };

/** An event as it stands in the log. */
export type Recorded<E extends StoredEvent> = EventEnvelope & E;

/** The inline projection of a stream type: one row per stream, written in the append's transaction. */
export interface InlineProjection<S> {
  /** The table; its primary key is `id`, the stream id. */
  table: string;
  /** The row of a state as `jsonb_populate_record(null::table, …)` takes it; deterministic (rebuild = live). */
  toRecord(state: S): Record<string, unknown>;
  /** The state a row holds (the inverse of toRecord): lets a command start from the row. */
  fromRow?(row: Record<string, unknown>): S;
}

/**
 * What the store knows of one kind of stream (DESIGN §3): how its events are validated and folded and
 * which projection it keeps. Append, read, rebuild and audit work on any registered type.
 */
export interface StreamType<S, E extends StoredEvent> {
  /** Stored with every event of the stream (`events.stream_type`). */
  readonly name: string;
  /** Validates an event; throws (a ZodError naming the field) when it is not one of this stream's. */
  parse(type: string, data: unknown): E;
  /** Pure; throws when the event may not follow the state. */
  evolve(state: S | null, event: Folded<E>): S;
  /** The stream's version in a state (the events folded into it). */
  versionOf(state: S): number;
  projection: InlineProjection<S> | null;
  /** Event types of which the database keeps one per (stream, taskId): their unique violation is a duplicate outcome. */
  outcomeTypes?: readonly string[];
  /** The unique indexes (migrations) that keep one outcome or stage per task or stream: a violation of one is a duplicate outcome, never a crash. */
  outcomeConstraints?: readonly string[];
}

/** Any stream type, for the registry and the code that iterates it (rebuild, audit). Methods are bivariant, so every StreamType fits. */
export type AnyStreamType = StreamType<unknown, StoredEvent>;

// Video and segment streams are always known; others are registered by their module's composition root.
const registry = new Map<string, AnyStreamType>([
  [videoStream.name, videoStream],
  [segmentStream.name, segmentStream],
]);

/** Registers a stream type (at start-up, by the composition root or a test). Re-registering a name replaces it. */
export function registerStreamType<S, E extends StoredEvent>(type: StreamType<S, E>): void {
  registry.set(type.name, type);
}

/** The registered stream types, in registration order. */
export const streamTypes = (): AnyStreamType[] => [...registry.values()];

/** The type of a stored stream; an unknown name is a typed error, never a silent skip. */
export function streamTypeNamed(name: string): AnyStreamType | undefined {
  return registry.get(name);
}
