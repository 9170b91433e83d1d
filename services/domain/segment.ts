import { z } from 'zod';
import { ErrorCode, IllegalTransitionError } from './errors.js';
import type { PlannedRange } from './events.js';
import type { AttemptError, TaskPolicy, TaskSettle } from './decide.js';
import { backoffDelayMs } from './task.js';

/**
 * A segment of a split video (DESIGN §11): one range encoded by any worker, in its own stream (type
 * `segment`, stream id = the segment's task id), so segments never contend on the video stream's
 * version. Its events are a contract like the video's: add, never rename or remove.
 */

const taskId = z.uuid();
const attempt = z.number().int().positive();

export const SegmentStartedData = z.object({
  /** The segment's task id (= this stream's id). */
  taskId,
  videoId: z.uuid(),
  /** The video's task whose plan (VideoSplit) holds this range. */
  videoTaskId: z.uuid(),
  index: z.number().int().nonnegative(),
  startSeconds: z.number().nonnegative(),
  endSeconds: z.number().positive(),
  attempt,
  workerId: z.string().min(1),
});

/** The range's result: its intermediate files are committed in storage. The one outcome of the segment. */
export const SegmentEncodedData = z.object({
  taskId,
  attempt,
  /** Video frames encoded (of the first rung). */
  frames: z.number().int().nonnegative(),
  durationSeconds: z.number().nonnegative(),
  /** Bytes of the range's intermediate files, every rung. */
  sizeBytes: z.number().int().nonnegative(),
  elapsedMs: z.number().nonnegative(),
});

/** An attempt that failed and is retried after `nextAttemptAt`, or was interrupted (handed back, uncounted). */
export const SegmentFailedData = z.object({
  taskId,
  attempt,
  code: z.string().min(1),
  message: z.string(),
  retryable: z.boolean(),
  nextAttemptAt: z.iso.datetime({ offset: true }).nullable(),
  interrupted: z.boolean().optional(),
});

/** The segment gave up (out of attempts, not retryable, redelivered too often, dead-lettered): its video fails. */
export const SegmentAbandonedData = z.object({
  taskId,
  attempts: z.number().int().nonnegative(),
  code: z.string().min(1),
  message: z.string(),
});

const segmentSchemas = {
  SegmentStarted: SegmentStartedData,
  SegmentEncoded: SegmentEncodedData,
  SegmentFailed: SegmentFailedData,
  SegmentAbandoned: SegmentAbandonedData,
} as const;
type SegmentEventType = keyof typeof segmentSchemas;

export type SegmentEvent = { [K in SegmentEventType]: { type: K; data: z.infer<(typeof segmentSchemas)[K]> } }[SegmentEventType];
/** Events of which a segment stream holds at most one (migration 0007 enforces it). */
export const SEGMENT_OUTCOME_TYPES = ['SegmentEncoded', 'SegmentAbandoned'] as const satisfies readonly SegmentEventType[];

/** Parses a segment event; throws (a ZodError naming the field) when it is not one. */
export function parseSegmentEvent(type: string, data: unknown): SegmentEvent {
  if (!(type in segmentSchemas)) throw new Error(`Unknown segment event type ${JSON.stringify(type)}`);
  return { type, data: segmentSchemas[type as SegmentEventType].parse(data) } as SegmentEvent;
}

export type SegmentStatus = 'RUNNING' | 'RETRYING' | 'ENCODED' | 'FAILED';

/** A segment folded from its stream; the `segments` projection stores exactly this. */
export interface SegmentState {
  id: string;
  videoId: string;
  videoTaskId: string;
  index: number;
  startSeconds: number;
  endSeconds: number;
  status: SegmentStatus;
  attempts: number;
  /** SegmentStarted with no outcome after them: crashed deliveries. */
  unfinishedStarts: number;
  lastError: { code: string; message: string; attempt: number } | null;
  result: { frames: number; durationSeconds: number; sizeBytes: number } | null;
  version: number;
}

type Folded = SegmentEvent & { streamId: string; version: number };

/** The one place that knows how an event changes a segment. Pure. */
export function evolveSegment(state: SegmentState | null, event: Folded): SegmentState {
  const illegal = (reason: string) => new IllegalTransitionError(state?.status ?? null, event.type, reason);
  if (event.version !== (state?.version ?? 0) + 1) throw illegal(`version ${event.version} does not follow ${state?.version ?? 0}`);
  if (state === null) {
    if (event.type !== 'SegmentStarted') throw illegal('a segment stream starts with SegmentStarted');
    const { videoId, videoTaskId, index, startSeconds, endSeconds, attempt: a } = event.data;
    const base = { id: event.streamId, videoId, videoTaskId, index, startSeconds, endSeconds, lastError: null, result: null };
    return { ...base, status: 'RUNNING', attempts: a, unfinishedStarts: 1, version: 1 };
  }
  if (state.status === 'ENCODED' || state.status === 'FAILED') throw illegal('the segment has its outcome');
  const base = { ...state, version: event.version };
  switch (event.type) {
    case 'SegmentStarted':
      return { ...base, status: 'RUNNING', attempts: Math.max(state.attempts, event.data.attempt), unfinishedStarts: state.unfinishedStarts + 1 };
    case 'SegmentEncoded': {
      if (state.status !== 'RUNNING') throw illegal('no attempt is running');
      const { frames, durationSeconds, sizeBytes } = event.data;
      return { ...base, status: 'ENCODED', unfinishedStarts: 0, lastError: null, result: { frames, durationSeconds, sizeBytes } };
    }
    case 'SegmentFailed': {
      if (state.status !== 'RUNNING') throw illegal('no attempt is running');
      const { code, message, attempt: a } = event.data;
      if (event.data.interrupted === true) return { ...base, status: 'RETRYING', attempts: a - 1, unfinishedStarts: Math.max(state.unfinishedStarts - 1, 0) };
      return { ...base, status: 'RETRYING', unfinishedStarts: 0, lastError: { code, message, attempt: a } };
    }
    case 'SegmentAbandoned': {
      const { code, message, attempts } = event.data;
      return { ...base, status: 'FAILED', attempts: Math.max(state.attempts, attempts), unfinishedStarts: 0, lastError: { code, message, attempt: attempts } };
    }
  }
}

/** Whether the segment has its outcome (encoded, or given up). */
export const segmentFinished = (state: SegmentState | null): boolean => state?.status === 'ENCODED' || state?.status === 'FAILED';

export type SegmentCommand =
  | {
      type: 'StartSegment';
      segmentId: string;
      videoId: string;
      videoTaskId: string;
      range: PlannedRange;
      workerId: string;
      interruptedAttempt: number | null;
      /** The video's task is still the one whose plan holds this range, and has no outcome. */
      videoOpen: boolean;
    }
  | { type: 'SucceedSegment'; segmentId: string; attempt: number; result: { frames: number; durationSeconds: number; sizeBytes: number }; elapsedMs: number }
  | { type: 'FailSegment'; segmentId: string; attempt: number; error: AttemptError }
  | { type: 'InterruptSegment'; segmentId: string; attempt: number; code: ErrorCode; message: string }
  | { type: 'RecordSegmentDeadLetter'; segmentId: string; reason: string | null };

export interface SegmentDecision {
  events: SegmentEvent[];
  /** null: a start whose attempt should now run. */
  settle: TaskSettle | null;
}

const ACK: TaskSettle = { kind: 'ack' };
const nothing = (settle: TaskSettle | null): SegmentDecision => ({ events: [], settle });
const running = (s: SegmentState | null, attempt: number): s is SegmentState => s?.status === 'RUNNING' && s.attempts === attempt;

/**
 * Decides what a segment command appends and how its message is settled, with the task rules of the
 * video (DESIGN §1 guarantee 3) applied to the segment alone: a failed segment is retried with backoff,
 * a segment out of attempts or redelivered too often gives up (SegmentAbandoned) and its video fails.
 * Pure: tested as given(events).when(command).then(events, settle).
 */
export function decideSegment(command: SegmentCommand, state: SegmentState | null, policy: TaskPolicy, now: Date): SegmentDecision {
  const taskId = command.segmentId;
  switch (command.type) {
    case 'StartSegment':
      return decideSegmentStart(command, state, policy);
    case 'SucceedSegment': {
      if (!running(state, command.attempt)) return nothing(ACK);
      const { attempt: a, result, elapsedMs } = command;
      return { events: [{ type: 'SegmentEncoded', data: { taskId, attempt: a, ...result, elapsedMs } }], settle: ACK };
    }
    case 'FailSegment':
      return running(state, command.attempt) ? decideSegmentFailure(command, policy, now) : nothing(ACK);
    case 'InterruptSegment': {
      const requeue: TaskSettle = { kind: 'requeue' };
      if (!running(state, command.attempt)) return nothing(requeue);
      return { events: [interruption(taskId, command.attempt, command.code, command.message)], settle: requeue };
    }
    case 'RecordSegmentDeadLetter': {
      if (state === null || segmentFinished(state)) return nothing(ACK);
      const limit = command.reason === 'delivery_limit';
      const code = limit ? ErrorCode.REDELIVERY_LIMIT : ErrorCode.DEAD_LETTERED;
      const message = limit ? 'The broker stopped delivering the segment: every delivery ended without an outcome.' : `The segment's message was dead-lettered (${command.reason ?? 'no reason given'}).`;
      return { events: [{ type: 'SegmentAbandoned', data: { taskId, attempts: state.attempts, code, message } }], settle: ACK };
    }
  }
}

const interruption = (taskId: string, attempt: number, code: string, message: string): SegmentEvent => ({
  type: 'SegmentFailed',
  data: { taskId, attempt, code, message, retryable: true, nextAttemptAt: null, interrupted: true },
});

function decideSegmentStart(command: Extract<SegmentCommand, { type: 'StartSegment' }>, state: SegmentState | null, policy: TaskPolicy): SegmentDecision {
  // A finished segment's copy: acked; the caller still heals what a crash may have left (stitch, failure).
  if (segmentFinished(state) || !command.videoOpen) return nothing(ACK);
  const { segmentId: taskId, interruptedAttempt, range } = command;
  const events: SegmentEvent[] = [];
  let current = state;
  if (interruptedAttempt !== null && current !== null && running(current, interruptedAttempt) && current.unfinishedStarts > 0) {
    const closed = interruption(taskId, interruptedAttempt, ErrorCode.DATABASE_UNAVAILABLE, 'The worker could not reach the database to record this attempt; the segment was requeued.');
    events.push(closed);
    current = evolveSegment(current, { ...closed, streamId: taskId, version: current.version + 1 });
  }
  if (current !== null && current.unfinishedStarts >= policy.deliveryLimit) {
    const message = `${current.unfinishedStarts} deliveries of the segment ended without an outcome (a worker crashed or was killed each time).`;
    events.push({ type: 'SegmentAbandoned', data: { taskId, attempts: current.attempts, code: ErrorCode.REDELIVERY_LIMIT, message } });
    return { events, settle: { kind: 'dead-letter', reason: `${ErrorCode.REDELIVERY_LIMIT}: ${message}` } };
  }
  const { videoId, videoTaskId, workerId } = command;
  const { index, startSeconds, endSeconds } = range;
  events.push({ type: 'SegmentStarted', data: { taskId, videoId, videoTaskId, index, startSeconds, endSeconds, attempt: (current?.attempts ?? 0) + 1, workerId } });
  return { events, settle: null };
}

function decideSegmentFailure(command: Extract<SegmentCommand, { type: 'FailSegment' }>, policy: TaskPolicy, now: Date): SegmentDecision {
  const { segmentId: taskId, attempt: a, error } = command;
  if (!error.retryable) return { events: [{ type: 'SegmentAbandoned', data: { taskId, attempts: a, code: error.code, message: error.message } }], settle: ACK };
  if (a >= policy.maxAttempts) {
    const message = `Gave up after ${a} attempts: ${error.message}`;
    return {
      events: [{ type: 'SegmentAbandoned', data: { taskId, attempts: a, code: error.code, message } }],
      settle: { kind: 'dead-letter', reason: `${ErrorCode.MAX_ATTEMPTS}: ${message}` },
    };
  }
  const delayMs = backoffDelayMs(a, policy.retryDelaysMs);
  const nextAttemptAt = new Date(now.getTime() + delayMs).toISOString();
  return { events: [{ type: 'SegmentFailed', data: { taskId, attempt: a, code: error.code, message: error.message, retryable: true, nextAttemptAt } }], settle: { kind: 'retry', delayMs } };
}
