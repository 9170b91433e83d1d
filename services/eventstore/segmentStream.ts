import { SEGMENT_OUTCOME_TYPES, evolveSegment, parseSegmentEvent, type SegmentEvent, type SegmentState } from '../domain/segment.js';
import type { Selectable } from 'kysely';
import type { SegmentsTable } from './schema.js';
import type { StreamType } from './streamTypes.js';

/** The `segments` row of a state (migrations/0007_segments.ts), as jsonb_populate_record takes it. Deterministic. */
function segmentStateToRecord(s: SegmentState): Record<string, unknown> {
  return {
    id: s.id,
    video_id: s.videoId,
    video_task_id: s.videoTaskId,
    range_index: s.index,
    start_seconds: s.startSeconds,
    end_seconds: s.endSeconds,
    status: s.status,
    attempts: s.attempts,
    unfinished_starts: s.unfinishedStarts,
    last_error: s.lastError,
    result: s.result,
    version: s.version,
  };
}

/** A `segments` row: the table's columns (schema.ts), with its status and jsonb columns read as the domain's types. */
type SegmentRow = Omit<Selectable<SegmentsTable>, 'status' | 'last_error' | 'result'> & {
  status: SegmentState['status'];
  last_error: SegmentState['lastError'];
  result: SegmentState['result'];
};

function segmentRowToState(row: SegmentRow): SegmentState {
  return {
    id: row.id,
    videoId: row.video_id,
    videoTaskId: row.video_task_id,
    index: row.range_index,
    startSeconds: row.start_seconds,
    endSeconds: row.end_seconds,
    status: row.status,
    attempts: row.attempts,
    unfinishedStarts: row.unfinished_starts,
    lastError: row.last_error,
    result: row.result,
    version: row.version,
  };
}

/**
 * Segment streams (split and stitch, DESIGN §11): one per segment task, the stream id being the task id;
 * the `segments` projection, one outcome per stream (events_one_segment_outcome).
 */
export const segmentStream: StreamType<SegmentState, SegmentEvent> = {
  name: 'segment',
  parse: parseSegmentEvent,
  evolve: evolveSegment,
  versionOf: (state) => state.version,
  projection: {
    table: 'segments',
    toRecord: segmentStateToRecord,
    fromRow: (row) => segmentRowToState(row as unknown as SegmentRow),
  },
  outcomeTypes: SEGMENT_OUTCOME_TYPES,
  // migration 0007: one SegmentEncoded or SegmentAbandoned per segment stream.
  outcomeConstraints: ['events_one_segment_outcome'],
};
