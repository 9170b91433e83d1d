import { sql } from 'kysely';
import type { Db } from './db.js';
import type { EventRow } from './schema.js';

/** An event row, with the hash the database recomputes from its stored content when asked. */
export interface ScannedEventRow extends EventRow {
  recomputed_hash?: Buffer;
}

export interface ScannedStream {
  streamId: string;
  /** Every event of the stream, in version order. */
  rows: ScannedEventRow[];
}

export interface ScanStreamsOptions {
  /** Only these streams (default: every stream in the log). */
  streamIds?: readonly string[];
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
export async function* scanStreams(db: Db, options: ScanStreamsOptions = {}): AsyncGenerator<ScannedStream> {
  const pageSize = options.pageSize ?? 5_000;
  const onlyStreams = options.streamIds === undefined ? null : [...options.streamIds];
  if (onlyStreams !== null && onlyStreams.length === 0) return;
  let after: { streamId: string; version: number } | null = null;
  let current: ScannedStream | null = null;
  for (;;) {
    const page: ScannedEventRow[] = await readPage(db, after, pageSize, onlyStreams, options.recomputeHashes ?? false);
    for (const row of page) {
      if (current !== null && current.streamId !== row.stream_id) {
        yield current;
        current = null;
      }
      current ??= { streamId: row.stream_id, rows: [] };
      current.rows.push(row);
    }
    const last = page.at(-1);
    if (last === undefined || page.length < pageSize) break;
    after = { streamId: last.stream_id, version: last.version };
  }
  if (current !== null) yield current;
}

async function readPage(
  db: Db,
  after: { streamId: string; version: number } | null,
  limit: number,
  streamIds: string[] | null,
  recomputeHashes: boolean,
): Promise<ScannedEventRow[]> {
  const recomputed = recomputeHashes
    ? sql`, framelog_event_hash(e.prev_hash, e.stream_id, e.version, e.event_id, e.type, e.data, e.metadata, e.recorded_at) as recomputed_hash`
    : sql``;
  const keyset = after === null ? sql`true` : sql`(e.stream_id, e.version) > (${after.streamId}::uuid, ${after.version}::int)`;
  const filter = streamIds === null ? sql`true` : sql`e.stream_id = any(${streamIds}::uuid[])`;
  const { rows } = await sql<ScannedEventRow>`
    select e.* ${recomputed} from events e
    where ${keyset} and ${filter}
    order by e.stream_id, e.version
    limit ${limit}`.execute(db);
  return rows;
}
