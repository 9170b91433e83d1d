import { sql } from 'kysely';
import { messageOf } from '../domain/errors.js';
import type { Db } from './db.js';
import { toStoredEvent } from './readStream.js';
import { scanStreams, type ScannedStream } from './streamScan.js';
import { streamTypeNamed, streamTypes, type AnyStreamType, type InlineProjection } from './streamTypes.js';

/** What an audit can find wrong. Stable strings: operators and tools match on them. */
export const AuditMismatchKind = {
  /** The stored hash is not the hash of the event's stored content: the event was altered. */
  HASH_MISMATCH: 'HASH_MISMATCH',
  /** prev_hash is not the hash of the previous event of the stream: an event was altered or removed. */
  CHAIN_BROKEN: 'CHAIN_BROKEN',
  /** Versions do not run 1, 2, 3… in the stream. */
  VERSION_GAP: 'VERSION_GAP',
  /** The stream does not fold: an unknown stream type, invalid event data or a transition evolve() refuses. */
  FOLD_FAILED: 'FOLD_FAILED',
  /** The projection row (e.g. `videos`) differs from the fold of the stream. */
  PROJECTION_MISMATCH: 'PROJECTION_MISMATCH',
  /** The stream has events but no projection row. */
  PROJECTION_MISSING: 'PROJECTION_MISSING',
  /** A projection row whose stream has no events. */
  PROJECTION_ORPHAN: 'PROJECTION_ORPHAN',
} as const;
export type AuditMismatchKind = (typeof AuditMismatchKind)[keyof typeof AuditMismatchKind];

export interface AuditMismatch {
  streamId: string;
  /** The event at fault (for a projection mismatch: the stream's last event); null for an orphan row. */
  position: bigint | null;
  kind: AuditMismatchKind;
  detail: string;
}

export interface AuditReport {
  ok: boolean;
  streamsChecked: number;
  eventsChecked: number;
  mismatches: AuditMismatch[];
}

export interface AuditOptions {
  /** Audit one stream (default: the whole log). */
  streamId?: string;
  /** Events per read and folded rows per comparison; bounds memory. */
  pageSize?: number;
  /** Mismatches listed at most (the audit still checks everything; `ok` stays false). */
  maxMismatches?: number;
}

const GENESIS_HASH = Buffer.alloc(32);

/** A stream folded by its type, with the position of its last event. */
interface FoldedStream {
  streamId: string;
  state: unknown;
  position: bigint;
}

/**
 * Proves the log unaltered and the projections faithful (DESIGN §1, guarantees 4 and 5): recomputes
 * every hash chain with the database's own framelog_event_hash, folds every stream with its registered
 * type's evolve() and compares the result with the live projection row column by column, in
 * PostgreSQL's own types. Streams are read one at a time, so memory does not grow with the log.
 */
export async function auditLog(db: Db, options: AuditOptions = {}): Promise<AuditReport> {
  const pageSize = options.pageSize ?? 2_000;
  const maxMismatches = options.maxMismatches ?? 1_000;
  const mismatches: AuditMismatch[] = [];
  let found = 0;
  const report = (mismatch: AuditMismatch) => {
    found += 1;
    if (mismatches.length < maxMismatches) mismatches.push(mismatch);
  };
  let streamsChecked = 0;
  let eventsChecked = 0;
  const folded = new Map<AnyStreamType, FoldedStream[]>();

  const scan = scanStreams(db, { ...(options.streamId ? { streamIds: [options.streamId] } : {}), pageSize, recomputeHashes: true });
  for await (const stream of scan) {
    streamsChecked += 1;
    eventsChecked += stream.rows.length;
    checkChain(stream, report);
    const result = foldStream(stream, report);
    if (result === null || result.type.projection === null) continue;
    const batch = folded.get(result.type) ?? [];
    folded.set(result.type, batch);
    batch.push(result.folded);
    if (batch.length >= pageSize) {
      await compareWithProjection(db, result.type.projection, batch.splice(0), report);
    }
  }
  for (const [type, batch] of folded) if (type.projection !== null) await compareWithProjection(db, type.projection, batch, report);
  for (const type of streamTypes()) {
    if (type.projection !== null) await findOrphans(db, type.projection.table, options.streamId, maxMismatches, report);
  }
  return { ok: found === 0, streamsChecked, eventsChecked, mismatches };
}

function checkChain(stream: ScannedStream, report: (m: AuditMismatch) => void): void {
  let previous: { hash: Buffer; version: number } | null = null;
  for (const row of stream.rows) {
    const position = BigInt(row.position);
    const expectedVersion: number = (previous?.version ?? 0) + 1;
    if (row.version !== expectedVersion) {
      report({ streamId: stream.streamId, position, kind: AuditMismatchKind.VERSION_GAP, detail: `version ${row.version} where ${expectedVersion} was expected` });
    }
    const expectedPrev: Buffer = previous?.hash ?? GENESIS_HASH;
    if (!row.prev_hash.equals(expectedPrev)) {
      report({
        streamId: stream.streamId,
        position,
        kind: AuditMismatchKind.CHAIN_BROKEN,
        detail: `prev_hash ${row.prev_hash.toString('hex')} is not the hash of the previous event (${expectedPrev.toString('hex')})`,
      });
    }
    if (row.recomputed_hash === undefined || !row.hash.equals(row.recomputed_hash)) {
      report({
        streamId: stream.streamId,
        position,
        kind: AuditMismatchKind.HASH_MISMATCH,
        detail: `stored hash ${row.hash.toString('hex')} but the content hashes to ${row.recomputed_hash?.toString('hex') ?? '(not computed)'}`,
      });
    }
    previous = { hash: row.hash, version: row.version };
  }
}

function foldStream(stream: ScannedStream, report: (m: AuditMismatch) => void): { type: AnyStreamType; folded: FoldedStream } | null {
  const first = stream.rows[0];
  const type = first === undefined ? undefined : streamTypeNamed(first.stream_type);
  if (first === undefined || type === undefined) {
    const detail = `unknown stream type ${JSON.stringify(first?.stream_type)}: register it to audit its streams`;
    report({ streamId: stream.streamId, position: first === undefined ? null : BigInt(first.position), kind: AuditMismatchKind.FOLD_FAILED, detail });
    return null;
  }
  let state: unknown = null;
  for (const row of stream.rows) {
    try {
      const recorded = toStoredEvent(row);
      state = type.evolve(state, { ...recorded, ...type.parse(recorded.type, recorded.data) });
    } catch (error) {
      report({ streamId: stream.streamId, position: BigInt(row.position), kind: AuditMismatchKind.FOLD_FAILED, detail: messageOf(error) });
      return null;
    }
  }
  return { type, folded: { streamId: stream.streamId, state, position: BigInt(stream.rows.at(-1)?.position ?? first.position) } };
}

interface ComparedRow {
  id: string;
  live: Record<string, unknown> | null;
  fresh: Record<string, unknown>;
}

/** Compares folded states with the live rows of their projection in one statement, in the columns' own types. */
async function compareWithProjection(db: Db, projection: InlineProjection<unknown>, streams: readonly FoldedStream[], report: (m: AuditMismatch) => void): Promise<void> {
  if (streams.length === 0) return;
  const table = sql.table(projection.table);
  const records = JSON.stringify(streams.map((s) => ({ ...projection.toRecord(s.state), id: s.streamId })));
  const positions = new Map(streams.map((s) => [s.streamId, s.position]));
  const { rows } = await sql<ComparedRow>`
    select f.id, to_jsonb(l) as live, to_jsonb(f) as fresh
    from jsonb_populate_recordset(null::${table}, ${records}::jsonb) f
    left join ${table} l on l.id = f.id
    where l.id is null or row(l.*) is distinct from row(f.*)`.execute(db);
  for (const row of rows) {
    const position = positions.get(row.id) ?? null;
    if (row.live === null) {
      report({ streamId: row.id, position, kind: AuditMismatchKind.PROJECTION_MISSING, detail: `the stream has events but no ${projection.table} row` });
      continue;
    }
    const live = row.live;
    const columns = Object.keys(row.fresh).filter((column) => JSON.stringify(live[column]) !== JSON.stringify(row.fresh[column]));
    const detail = columns.map((column) => `${column}: live ${JSON.stringify(live[column])}, folded ${JSON.stringify(row.fresh[column])}`).join('; ');
    report({ streamId: row.id, position, kind: AuditMismatchKind.PROJECTION_MISMATCH, detail });
  }
}

async function findOrphans(db: Db, table: string, streamId: string | undefined, limit: number, report: (m: AuditMismatch) => void): Promise<void> {
  const { rows } = await sql<{ id: string }>`
    select v.id from ${sql.table(table)} v
    where ${streamId === undefined ? sql`true` : sql`v.id = ${streamId}::uuid`}
      and not exists (select 1 from events e where e.stream_id = v.id)
    limit ${limit}`.execute(db);
  for (const { id } of rows) {
    report({ streamId: id, position: null, kind: AuditMismatchKind.PROJECTION_ORPHAN, detail: `a ${table} row whose stream has no events` });
  }
}
