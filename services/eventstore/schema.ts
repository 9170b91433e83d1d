import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

/** Row types of the database, kept apart from the domain types they are mapped to. */

type Json = unknown;
/** jsonb goes in as a JSON string (pg would send arrays as PostgreSQL arrays) and comes out parsed. */
type JsonColumn<T = Json> = ColumnType<T, string, string>;
type BigintColumn = ColumnType<string, bigint | string | number, bigint | string | number>;

export interface EventsTable {
  position: ColumnType<string, never, never>;
  stream_id: string;
  /** The stream's type (migration 0006); 'video' for every stream written before it. */
  stream_type: ColumnType<string, string | undefined, never>;
  version: number;
  event_id: string;
  type: string;
  data: JsonColumn;
  metadata: JsonColumn;
  recorded_at: ColumnType<Date, never, never>;
  prev_hash: ColumnType<Buffer, never, never>;
  hash: ColumnType<Buffer, never, never>;
  /** The writing transaction (xid8, as text): the gap-free feed shows events below the oldest one in flight. */
  transaction_id: ColumnType<string, never, never>;
}

export interface OutboxTable {
  id: string;
  stream_id: string;
  event_position: BigintColumn;
  routing_key: string;
  payload: JsonColumn;
  headers: JsonColumn<Record<string, unknown>>;
  created_at: Generated<Date>;
  available_at: ColumnType<Date, Date | undefined, Date>;
  attempts: Generated<number>;
  last_error: string | null;
}

export interface VideosTable {
  id: string;
  status: string;
  title: string | null;
  original_filename: string;
  content_type: string;
  size_bytes: BigintColumn;
  sha256: string;
  storage_key: string;
  current_task_id: string;
  attempts: number;
  unfinished_starts: number;
  last_error: JsonColumn | null;
  media: JsonColumn | null;
  renditions: JsonColumn;
  poster: JsonColumn | null;
  uploaded_at: Date;
  updated_at: Date;
  version: number;
  created_position: BigintColumn;
  last_position: BigintColumn;
}

/** The inline projection of segment streams (migration 0007, split and stitch). */
export interface SegmentsTable {
  id: string;
  video_id: string;
  video_task_id: string;
  range_index: number;
  start_seconds: number;
  end_seconds: number;
  status: string;
  attempts: number;
  unfinished_starts: number;
  last_error: JsonColumn | null;
  result: JsonColumn | null;
  version: number;
}

/** API tokens (migration 0003): only the sha256 of a token is stored, never the token. */
export interface ApiTokensTable {
  id: Generated<string>;
  name: string;
  role: string;
  token_hash: Buffer;
  created_at: Generated<Date>;
  revoked_at: Date | null;
}

export interface Database {
  api_tokens: ApiTokensTable;
  events: EventsTable;
  outbox: OutboxTable;
  segments: SegmentsTable;
  videos: VideosTable;
}

export type EventRow = Selectable<EventsTable>;
export type OutboxRow = Selectable<OutboxTable>;
export type NewOutboxRow = Insertable<OutboxTable>;
export type VideoRow = Selectable<VideosTable>;
export type ApiTokenRow = Selectable<ApiTokensTable>;
