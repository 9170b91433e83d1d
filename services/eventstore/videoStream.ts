import { TERMINAL_EVENT_TYPES, parseEvent, type VideoEvent } from '../domain/events.js';
import { evolve, type VideoState } from '../domain/video.js';
import { videoRowToState, videoStateToJsonRecord } from './projection.js';
import type { VideoRow } from './schema.js';
import type { StreamType } from './streamTypes.js';

/** Video streams (DESIGN §3): the `videos` projection, one terminal event per task. */
export const videoStream: StreamType<VideoState, VideoEvent> = {
  name: 'video',
  parse: parseEvent,
  evolve,
  versionOf: (state) => state.version,
  projection: {
    table: 'videos',
    toRecord: videoStateToJsonRecord,
    fromRow: (row) => videoRowToState(row as unknown as VideoRow),
  },
  outcomeTypes: TERMINAL_EVENT_TYPES,
  // migrations 0001 (one terminal event per task) and 0007 (one VideoSplit / StitchRequested per task).
  outcomeConstraints: ['events_one_outcome_per_task', 'events_one_stage_per_task'],
};

/**
 * The same video streams, loaded by folding the stream rather than from its `videos` row: the state
 * then holds the current task's split plan (VideoState.split), which the projection does not keep.
 * For the worker's decisions (split and stitch, DESIGN §11); appends still write the `videos` row.
 */
export const videoFlowStream: StreamType<VideoState, VideoEvent> = {
  ...videoStream,
  projection: { table: 'videos', toRecord: videoStateToJsonRecord },
};
