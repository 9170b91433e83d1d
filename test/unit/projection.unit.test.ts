import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { VideoState } from '../../services/domain/video.js';
import { videoStateToJsonRecord, videoStateToRow } from '../../services/eventstore/projection.js';
import { failedAttempt, given, processed, started, uploaded, videoFailed } from '../helpers/events.js';

const task = randomUUID();
function stateOf(...events: Parameters<typeof given>[1]): VideoState {
  const state = given(randomUUID(), events);
  if (state === null) throw new Error('expected a state');
  return state;
}

/** A column value as text: JSON text for objects, ISO text for dates. */
function asText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'string') return value;
  if (typeof value === 'bigint') return value.toString();
  // Objects (jsonb columns), numbers and booleans.
  return JSON.stringify(value);
}

describe('videoStateToJsonRecord', () => {
  // The append writes videoStateToRow; the rebuild and the audit write or compare
  // videoStateToJsonRecord. They must give every column the same value, or a rebuild would differ
  // from the live projection.
  it.each([
    ['null jsonb columns', stateOf(uploaded(task, { title: null }))],
    ['last error', stateOf(uploaded(task), started(task), failedAttempt(task))],
    ['media, renditions and poster', stateOf(uploaded(task), started(task), processed(task))],
    ['failed', stateOf(uploaded(task), started(task), videoFailed(task))],
  ])('has the columns and values of videoStateToRow (%s)', (_name, state) => {
    const row = videoStateToRow(state);
    // What the database gets: the record goes through JSON.
    const record = JSON.parse(JSON.stringify(videoStateToJsonRecord(state))) as Record<string, unknown>;
    expect(Object.keys(record).sort()).toEqual(Object.keys(row).sort());
    for (const [column, value] of Object.entries(row)) {
      expect({ column, value: asText(record[column]) }).toEqual({ column, value: asText(value) });
    }
  });
});
