import type { Insertable } from 'kysely';
import type { LastError, VideoState, VideoStatus } from '../domain/video.js';
import type { MediaInfo, Poster, Rendition } from '../domain/events.js';
import type { VideoRow, VideosTable } from './schema.js';

/** The columns that travel the same way in both encodings below: plain values and Dates. */
function plainColumns(state: VideoState) {
  return {
    id: state.id,
    status: state.status,
    title: state.title,
    original_filename: state.originalFilename,
    content_type: state.contentType,
    sha256: state.sha256,
    storage_key: state.storageKey,
    current_task_id: state.currentTaskId,
    attempts: state.attempts,
    unfinished_starts: state.unfinishedStarts,
    uploaded_at: state.uploadedAt,
    updated_at: state.updatedAt,
    version: state.version,
  };
}

/** The `videos` row for a state. Deterministic, so a rebuild gives byte-for-byte the live rows. */
export function videoStateToRow(state: VideoState): Insertable<VideosTable> {
  return {
    ...plainColumns(state),
    size_bytes: state.sizeBytes,
    last_error: state.lastError === null ? null : JSON.stringify(state.lastError),
    media: state.media === null ? null : JSON.stringify(state.media),
    renditions: JSON.stringify(state.renditions),
    poster: state.poster === null ? null : JSON.stringify(state.poster),
    created_position: state.createdPosition,
    last_position: state.lastPosition,
  };
}

export function videoRowToState(row: VideoRow): VideoState {
  return {
    id: row.id,
    status: row.status as VideoStatus,
    title: row.title,
    originalFilename: row.original_filename,
    contentType: row.content_type,
    sizeBytes: Number(row.size_bytes),
    sha256: row.sha256,
    storageKey: row.storage_key,
    currentTaskId: row.current_task_id,
    attempts: row.attempts,
    unfinishedStarts: row.unfinished_starts,
    lastError: row.last_error as LastError | null,
    media: row.media as MediaInfo | null,
    renditions: row.renditions as Rendition[],
    poster: row.poster as Poster | null,
    uploadedAt: row.uploaded_at,
    updatedAt: row.updated_at,
    version: row.version,
    createdPosition: BigInt(row.created_position),
    lastPosition: BigInt(row.last_position),
  };
}

/**
 * The same row as `videoStateToRow`, as a JSON object that `jsonb_populate_recordset(null::videos, …)`
 * turns back into exactly those column values: lets the audit compare, and the rebuild insert (as
 * positional arrays of these values, rebuild.ts), a whole page of rows in one statement. The jsonb
 * columns are the objects themselves, not videoStateToRow's strings parsed back: they stringify to the
 * same JSON, so the columns get the same values (test/unit/projection.unit.test.ts holds the two together).
 */
export function videoStateToJsonRecord(state: VideoState): Record<string, unknown> {
  return {
    ...plainColumns(state),
    size_bytes: String(state.sizeBytes),
    last_error: state.lastError,
    media: state.media,
    renditions: state.renditions,
    poster: state.poster,
    created_position: String(state.createdPosition),
    last_position: String(state.lastPosition),
  };
}
