import { sql, type RawBuilder } from 'kysely';
import type { Db } from './db.js';
import type { EventRow } from './schema.js';
import type { Folded, StoredEvent } from './streamTypes.js';

/** An event row, with the hash the database recomputes from its stored content when asked. */
export interface ScannedEventRow extends EventRow {
  recomputed_hash?: Buffer;
}

/**
 * The columns evolve() reads and nothing more (no hashes, event id or metadata to parse): what the
 * projection rebuild scans.
 */
export interface FoldEventRow {
  position: string;
  stream_id: string;
  version: number;
  type: string;
  data: unknown;
  /**
   * recorded_at truncated to milliseconds, as milliseconds since the epoch: exactly the instant of the
   * Date pg would parse from recorded_at, without parsing its text.
   */
  recorded_ms: number;
}

interface KeyedRow {
  stream_id: string;
  version: number;
}

export interface ScannedStream<Row extends KeyedRow = ScannedEventRow> {
  streamId: string;
  /** Every event of the stream, in version order. */
  rows: Row[];
}

export interface ScanStreamsOptions {
  /** Only these streams (default: every stream in the log). */
  streamIds?: readonly string[];
  /** Only streams of this type (default: every type). */
  streamType?: string;
  /** Events per query; memory stays bounded by this and by the longest stream. */
  pageSize?: number;
  /** Also recompute each event's hash with framelog_event_hash (for the audit). */
  recomputeHashes?: boolean;
}

/**
 * Every stream of the log, one at a time, each complete and in version order. Reads keyset pages
 * ordered by (stream_id, version), so a million streams never sit in memory together: a stream is
 * folded and let go before the next is read. Within a stream, version order is position order.
 */
export function scanStreams(db: Db, options: ScanStreamsOptions = {}): AsyncGenerator<ScannedStream> {
  const recomputed = options.recomputeHashes
    ? sql`, framelog_event_hash(e.prev_hash, e.stream_id, e.version, e.event_id, e.type, e.data, e.metadata, e.recorded_at) as recomputed_hash`
    : sql``;
  return scanPages<ScannedEventRow>(db, sql`e.* ${recomputed}`, options);
}

/** The same scan with only the columns a fold needs (`FoldEventRow`): for the projection rebuild. */
export function scanStreamsForFold(db: Db, options: Omit<ScanStreamsOptions, 'recomputeHashes'> = {}): AsyncGenerator<ScannedStream<FoldEventRow>> {
  // extract(epoch …) is numeric, so the milliseconds are exact; float8 holds them exactly and pg parses
  // it with parseFloat rather than the timestamp regex.
  const columns = sql`e.position, e.stream_id, e.version, e.type, e.data,
    (extract(epoch from date_trunc('milliseconds', e.recorded_at)) * 1000)::float8 as recorded_ms`;
  return scanPages<FoldEventRow>(db, columns, options);
}

/** A scanned row as a stream type's evolve() takes it (its data as validated when it was appended). */
export function toFoldEvent(row: FoldEventRow): Folded<StoredEvent> {
  return { position: BigInt(row.position), streamId: row.stream_id, version: row.version, recordedAt: new Date(row.recorded_ms), type: row.type, data: row.data };
}

async function* scanPages<Row extends KeyedRow>(db: Db, columns: RawBuilder<unknown>, options: Omit<ScanStreamsOptions, 'recomputeHashes'>): AsyncGenerator<ScannedStream<Row>> {
  const pageSize = options.pageSize ?? 5_000;
  const onlyStreams = options.streamIds === undefined ? null : [...options.streamIds];
  if (onlyStreams !== null && onlyStreams.length === 0) return;
  const read = (after: KeyedRow | null): Promise<Row[]> => {
    const page = readPage<Row>(db, columns, after, pageSize, onlyStreams, options.streamType ?? null);
    // Awaited later (below, or in `finally`); this only keeps a failure from counting as unhandled
    // while the consumer works on the previous page.
    page.catch(() => undefined);
    return page;
  };
  let next: Promise<Row[]> | null = read(null);
  let current: ScannedStream<Row> | null = null;
  try {
    while (next !== null) {
      const page: Row[] = await next;
      const last = page.at(-1);
      // The next page is asked for before this one is handed out, so PostgreSQL reads it while the
      // consumer folds this one: the database and this process work at the same time.
      next = last === undefined || page.length < pageSize ? null : read(last);
      for (const row of page) {
        if (current !== null && current.streamId !== row.stream_id) {
          yield current;
          current = null;
        }
        current ??= { streamId: row.stream_id, rows: [] };
        current.rows.push(row);
      }
    }
    if (current !== null) yield current;
  } finally {
    // A consumer that stops early leaves no query running behind it on the connection.
    await next?.catch(() => undefined);
  }
}

async function readPage<Row>(db: Db, columns: RawBuilder<unknown>, after: KeyedRow | null, limit: number, streamIds: string[] | null, streamType: string | null): Promise<Row[]> {
  const keyset = after === null ? sql`true` : sql`(e.stream_id, e.version) > (${after.stream_id}::uuid, ${after.version}::int)`;
  const streams = streamIds === null ? sql`true` : sql`e.stream_id = any(${streamIds}::uuid[])`;
  const filter = streamType === null ? streams : sql`${streams} and e.stream_type = ${streamType}`;
  const { rows } = await sql<Row>`
    select ${columns} from events e
    where ${keyset} and ${filter}
    order by e.stream_id, e.version
    limit ${limit}`.execute(db);
  return rows;
}
