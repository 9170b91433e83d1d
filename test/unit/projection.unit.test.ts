import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { VideoState } from '../../services/domain/video.js';
import { videoRowToState, videoStateToJsonRecord } from '../../services/eventstore/projection.js';
import type { VideoRow } from '../../services/eventstore/schema.js';
import { failedAttempt, given, processed, started, uploaded, videoFailed } from '../helpers/events.js';

const task = randomUUID();
function stateOf(...events: Parameters<typeof given>[1]): VideoState {
  const state = given(randomUUID(), events);
  if (state === null) throw new Error('expected a state');
  return state;
}

describe('videoStateToJsonRecord', () => {
  // The one encoding of the projection row (append, rebuild, audit): every field of the state must
  // survive it, or the projection would lose what the fold computed.
  it.each([
    ['null jsonb columns', stateOf(uploaded(task, { title: null }))],
    ['last error', stateOf(uploaded(task), started(task), failedAttempt(task))],
    ['media, renditions and poster', stateOf(uploaded(task), started(task), processed(task))],
    ['failed', stateOf(uploaded(task), started(task), videoFailed(task))],
  ])('round-trips through JSON and the row mapping into the same state (%s)', (_name, state) => {
    // What the database gets: the record goes through JSON; timestamps come back as Dates.
    const record = JSON.parse(JSON.stringify(videoStateToJsonRecord(state))) as Record<string, unknown>;
    const row = { ...record, uploaded_at: new Date(record.uploaded_at as string), updated_at: new Date(record.updated_at as string) } as VideoRow;
    expect(videoRowToState(row)).toEqual(state);
  });
});
