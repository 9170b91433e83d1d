import type { LastError, VideoState, VideoStatus } from '../domain/video.js';
import type { MediaInfo, Poster, Rendition } from '../domain/events.js';
import type { VideoRow } from './schema.js';

/** The state a `videos` row holds: the inverse of `videoStateToJsonRecord`. */
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
 * The `videos` row of a state, as a JSON object that `jsonb_populate_record(null::videos, …)` turns
 * into the row's column values: the one encoding of the projection, so that the append
 * (framelog_append, migrations/0004), the rebuild (as positional arrays of these values, rebuild.ts)
 * and the audit all write or compare the same values. Deterministic, so a rebuild gives byte-for-byte
 * the live rows. Bigints travel as strings; Dates as ISO text with milliseconds.
 */
export function videoStateToJsonRecord(state: VideoState): Record<string, unknown> {
  return {
    id: state.id,
    status: state.status,
    title: state.title,
    original_filename: state.originalFilename,
    content_type: state.contentType,
    size_bytes: String(state.sizeBytes),
    sha256: state.sha256,
    storage_key: state.storageKey,
    current_task_id: state.currentTaskId,
    attempts: state.attempts,
    unfinished_starts: state.unfinishedStarts,
    last_error: state.lastError,
    media: state.media,
    renditions: state.renditions,
    poster: state.poster,
    uploaded_at: state.uploadedAt,
    updated_at: state.updatedAt,
    version: state.version,
    created_position: String(state.createdPosition),
    last_position: String(state.lastPosition),
  };
}
