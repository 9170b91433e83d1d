import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { backoffDelayMs, decideTask } from '../../services/domain/task.js';
import { TaskMessageSchema } from '../../services/messaging/taskMessage.js';
import { traceparentOf } from '../../services/domain/events.js';
import type { VideoState } from '../../services/domain/video.js';
import { given, processed, retryRequested, started, uploaded, videoFailed } from '../helpers/events.js';

const limits = { maxAttempts: 3, maxUnfinishedStarts: 2 };
const id = randomUUID();
const task = randomUUID();
const state = (events: Parameters<typeof given>[1]) => given(id, events) as VideoState;

describe('decideTask', () => {
  it('processes a queued task as attempt 1', () => {
    expect(decideTask(state([uploaded(task)]), task, limits)).toEqual({ kind: 'process', attempt: 1 });
  });
  it('skips a task that already has its outcome (duplicate delivery)', () => {
    expect(decideTask(state([uploaded(task), started(task), processed(task)]), task, limits)).toEqual({ kind: 'skip', reason: 'finished' });
  });
  it('skips a task replaced by a retry', () => {
    const next = randomUUID();
    expect(decideTask(state([uploaded(task), started(task), videoFailed(task), retryRequested(next)]), task, limits)).toEqual({ kind: 'skip', reason: 'superseded' });
  });
  it('gives up after too many deliveries died without an outcome', () => {
    expect(decideTask(state([uploaded(task), started(task, 1)]), task, limits).kind).toBe('process');
    expect(decideTask(state([uploaded(task), started(task, 1), started(task, 2)]), task, limits)).toEqual({ kind: 'give-up', attempts: 2 });
  });
});

describe('backoffDelayMs', () => {
  it('follows the configured steps and stays at the last one', () => {
    const steps = [5_000, 30_000, 120_000];
    expect([1, 2, 3, 4, 9].map((a) => backoffDelayMs(a, steps))).toEqual([5_000, 30_000, 120_000, 120_000, 120_000]);
    expect(backoffDelayMs(1, [])).toBe(0);
  });
});

describe('TaskMessageSchema', () => {
  it('accepts the documented body and refuses others', () => {
    const body = { schema: 1, videoId: randomUUID(), taskId: randomUUID(), storageKey: 'uploads/a/source', attempt: 1 };
    expect(TaskMessageSchema.safeParse(body).success).toBe(true);
    expect(TaskMessageSchema.safeParse({ ...body, schema: 2 }).success).toBe(false);
    expect(TaskMessageSchema.safeParse({ ...body, videoId: 'x' }).success).toBe(false);
    expect(TaskMessageSchema.safeParse({ ...body, attempt: '1' }).success).toBe(false);
  });
});

describe('traceparentOf', () => {
  it('takes a well-formed W3C traceparent and ignores anything else', () => {
    const valid = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    expect(traceparentOf(valid)).toBe(valid);
    expect([undefined, '', 'x', valid.toUpperCase(), `ff${valid.slice(2)}`, [valid]].map(traceparentOf)).toEqual([undefined, undefined, undefined, undefined, undefined, undefined]);
  });
});
