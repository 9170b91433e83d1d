import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decide, type Decision, type TaskPolicy, type VideoCommand } from '../../services/domain/decide.js';
import { ErrorCode } from '../../services/domain/errors.js';
import type { PlannedRange, VideoEvent } from '../../services/domain/events.js';
import { decideSegment, evolveSegment, type SegmentCommand, type SegmentDecision, type SegmentEvent, type SegmentState } from '../../services/domain/segment.js';
import { rangeWeight, SEGMENTS_SHARE, STITCH_WEIGHT } from '../../services/domain/split.js';
import { given, processed, retryRequested, started, uploaded, videoFailed } from '../helpers/events.js';

// Split and stitch (DESIGN §11): given(events).when(command).then(events, settle) for every new rule.

/** Asymmetric matchers, typed as the string fields they stand for. */
const anyText = (): string => expect.any(String) as string;
const textMatching = (pattern: RegExp): string => expect.stringMatching(pattern) as string;

const policy: TaskPolicy = { maxAttempts: 3, deliveryLimit: 2, retryDelaysMs: [5_000, 30_000] };
const now = new Date('2026-11-30T12:00:00.000Z');
const videoId = randomUUID();
const task = randomUUID();
const ack = { kind: 'ack' } as const;
const ranges: PlannedRange[] = [
  { index: 0, startSeconds: 0, endSeconds: 4, segmentId: randomUUID() },
  { index: 1, startSeconds: 4, endSeconds: 7, segmentId: randomUUID() },
];
const plan = { durationSeconds: 7, segmentSeconds: 4, ranges };
const split = (attempt = 1): VideoEvent => ({ type: 'VideoSplit', data: { taskId: task, attempt, ...plan } });
const stitchRequested: VideoEvent = { type: 'StitchRequested', data: { taskId: task, segments: 2 } };

const when = (events: VideoEvent[], command: VideoCommand) => ({ then: (expected: Decision) => expect(decide(command, given(videoId, events), policy, now)).toEqual(expected) });
const start = (stage?: 'transcode' | 'stitch'): VideoCommand => ({ type: 'StartAttempt', videoId, taskId: task, workerId: 'w1', interruptedAttempt: null, ...(stage ? { stage } : {}) });

describe('decide: splitting the transcode task', () => {
  it('a running attempt that planned the video appends VideoSplit and acks', () => {
    when([uploaded(task), started(task)], { type: 'SplitAttempt', videoId, taskId: task, attempt: 1, plan }).then({ events: [split()], settle: ack });
  });
  it('a late or duplicate plan (already split, or not the running attempt) appends nothing', () => {
    when([uploaded(task), started(task), split()], { type: 'SplitAttempt', videoId, taskId: task, attempt: 1, plan }).then({ events: [], settle: ack });
    when([uploaded(task), started(task, 1), started(task, 2)], { type: 'SplitAttempt', videoId, taskId: task, attempt: 1, plan }).then({ events: [], settle: ack });
    when([uploaded(task), started(task), videoFailed(task)], { type: 'SplitAttempt', videoId, taskId: task, attempt: 1, plan }).then({ events: [], settle: ack });
  });
  it('a transcode delivery of a split task has nothing to do: acked (the segments carry on)', () => {
    when([uploaded(task), started(task), split()], start()).then({ events: [], settle: ack });
    when([uploaded(task), started(task), split()], start('transcode')).then({ events: [], settle: ack });
  });
  it('the video stays PROCESSING through the segments; the planning start is no crashed delivery', () => {
    expect(given(videoId, [uploaded(task), started(task), split()])).toMatchObject({ status: 'PROCESSING', unfinishedStarts: 0, attempts: 0, split: { taskId: task, ranges, stitchRequested: false } });
  });
});

describe('decide: the one stitch', () => {
  const request = (encoded: number): VideoCommand => ({ type: 'RequestStitch', videoId, taskId: task, encoded });
  it('when every range is encoded, StitchRequested (its task goes out with it); no message of its own to settle', () => {
    when([uploaded(task), started(task), split()], request(2)).then({ events: [stitchRequested], settle: null });
  });
  it('before every range is encoded, nothing', () => {
    when([uploaded(task), started(task), split()], request(1)).then({ events: [], settle: null });
  });
  it('a second request (the other of two last segments, a redelivered segment) sees it requested: nothing', () => {
    when([uploaded(task), started(task), split(), stitchRequested], request(2)).then({ events: [], settle: null });
  });
  it('a video not split, finished, or of another task: nothing', () => {
    when([uploaded(task), started(task)], request(2)).then({ events: [], settle: null });
    when([uploaded(task), started(task), split(), videoFailed(task)], request(2)).then({ events: [], settle: null });
    when([uploaded(task), started(task), split(), videoFailed(task), retryRequested(randomUUID())], request(2)).then({ events: [], settle: null });
  });
  it('a stitch delivery starts the stitch attempts (counted from 1) once requested, and is acked before', () => {
    when([uploaded(task), started(task), split(), stitchRequested], start('stitch')).then({ events: [{ type: 'ProcessingStarted', data: { taskId: task, attempt: 1, workerId: 'w1' } }], settle: null });
    when([uploaded(task), started(task), split()], start('stitch')).then({ events: [], settle: ack });
    when([uploaded(task), started(task)], start('stitch')).then({ events: [], settle: ack });
  });
  it('the stitch succeeds with VideoProcessed, fails and retries as any attempt', () => {
    const history = [uploaded(task), started(task), split(), stitchRequested, started(task, 1)];
    const succeeded = decide({ type: 'SucceedAttempt', videoId, taskId: task, attempt: 1, result: { media: { durationSeconds: 7, width: 64, height: 64, videoCodec: 'h264', audioCodec: null, frameRate: 25, rotation: 0 }, renditions: [], poster: null }, elapsedMs: 3 }, given(videoId, history), policy, now);
    expect(succeeded.events.map((e) => e.type)).toEqual(['VideoProcessed']);
    const failed = decide({ type: 'FailAttempt', videoId, taskId: task, attempt: 1, error: { code: 'TRANSCODE_FAILED', message: 'x', retryable: true } }, given(videoId, history), policy, now);
    expect(failed.settle).toEqual({ kind: 'retry', delayMs: 5_000 });
  });
  it('a stitch dead-lettered by the broker fails the video as any task does', () => {
    when([uploaded(task), started(task), split(), stitchRequested], { type: 'RecordDeadLetter', videoId, taskId: task, reason: 'delivery_limit' }).then({
      events: [{ type: 'VideoFailed', data: { taskId: task, attempts: 0, code: 'REDELIVERY_LIMIT', message: textMatching(/broker stopped/) } }],
      settle: ack,
    });
  });
});

describe('decide: a segment that gave up fails its video', () => {
  const fail: VideoCommand = { type: 'FailForSegment', videoId, taskId: task, range: ranges[1]!, code: 'TRANSCODE_FAILED', message: 'boom' };
  it('VideoFailed with SEGMENT_FAILED, naming the range', () => {
    when([uploaded(task), started(task), split()], fail).then({
      events: [{ type: 'VideoFailed', data: { taskId: task, attempts: 0, code: ErrorCode.SEGMENT_FAILED, message: 'Segment 1 (4-7 s) failed: TRANSCODE_FAILED: boom' } }],
      settle: null,
    });
  });
  it('nothing once the video is terminal (another segment failed it first)', () => {
    when([uploaded(task), started(task), split(), videoFailed(task, 0, 'SEGMENT_FAILED')], fail).then({ events: [], settle: null });
    when([uploaded(task), started(task), processed(task)], fail).then({ events: [], settle: null });
  });
});

// Segment streams: their own attempts, the same task rules.
const segmentId = ranges[1]!.segmentId;
const segStarted = (attempt = 1): SegmentEvent => ({ type: 'SegmentStarted', data: { taskId: segmentId, videoId, videoTaskId: task, index: 1, startSeconds: 4, endSeconds: 7, attempt, workerId: 'w1' } });
const segFailed = (attempt = 1): SegmentEvent => ({ type: 'SegmentFailed', data: { taskId: segmentId, attempt, code: 'TRANSCODE_FAILED', message: 'boom', retryable: true, nextAttemptAt: null } });
const segEncoded: SegmentEvent = { type: 'SegmentEncoded', data: { taskId: segmentId, attempt: 1, frames: 75, durationSeconds: 3, sizeBytes: 10, elapsedMs: 5 } };

function givenSegment(events: readonly SegmentEvent[]): SegmentState | null {
  let state: SegmentState | null = null;
  events.forEach((event, i) => {
    state = evolveSegment(state, { ...event, streamId: segmentId, version: i + 1 });
  });
  return state;
}
const whenSegment = (events: SegmentEvent[], command: SegmentCommand) => ({ then: (expected: SegmentDecision) => expect(decideSegment(command, givenSegment(events), policy, now)).toEqual(expected) });
const startSegment = (over: Partial<Extract<SegmentCommand, { type: 'StartSegment' }>> = {}): SegmentCommand => ({
  type: 'StartSegment', segmentId, videoId, videoTaskId: task, range: ranges[1]!, workerId: 'w1', interruptedAttempt: null, videoOpen: true, ...over,
});
const failSegment = (attempt: number, retryable = true): SegmentCommand => ({ type: 'FailSegment', segmentId, attempt, error: { code: 'TRANSCODE_FAILED', message: 'boom', retryable } });

describe('decideSegment: start', () => {
  it('the first delivery starts attempt 1 on a new stream, with its range', () => {
    whenSegment([], startSegment()).then({ events: [segStarted(1)], settle: null });
  });
  it('after a failed attempt the next one starts', () => {
    whenSegment([segStarted(1), segFailed(1)], startSegment()).then({ events: [segStarted(2)], settle: null });
  });
  it('a finished segment (encoded or given up) is acked without events; so is one whose video moved on', () => {
    whenSegment([segStarted(1), segEncoded], startSegment()).then({ events: [], settle: ack });
    whenSegment([segStarted(1)], startSegment({ videoOpen: false })).then({ events: [], settle: ack });
  });
  it('past the delivery limit of starts without an outcome, the segment gives up (REDELIVERY_LIMIT) and is dead-lettered', () => {
    const decision = decideSegment(startSegment(), givenSegment([segStarted(1), segStarted(2)]), policy, now);
    expect(decision.events).toEqual([{ type: 'SegmentAbandoned', data: { taskId: segmentId, attempts: 2, code: 'REDELIVERY_LIMIT', message: textMatching(/^2 deliveries/) } }]);
    expect(decision.settle).toMatchObject({ kind: 'dead-letter', reason: textMatching(/^REDELIVERY_LIMIT: /) });
  });
  it('an attempt the previous delivery could not close is recorded as interrupted, then started again', () => {
    whenSegment([segStarted(1)], startSegment({ interruptedAttempt: 1 })).then({
      events: [
        { type: 'SegmentFailed', data: { taskId: segmentId, attempt: 1, code: 'DATABASE_UNAVAILABLE', message: anyText(), retryable: true, nextAttemptAt: null, interrupted: true } },
        segStarted(1),
      ],
      settle: null,
    });
  });
});

describe('decideSegment: outcomes', () => {
  it('success records the one result and acks', () => {
    whenSegment([segStarted(1)], { type: 'SucceedSegment', segmentId, attempt: 1, result: { frames: 75, durationSeconds: 3, sizeBytes: 10 }, elapsedMs: 5 }).then({ events: [segEncoded], settle: ack });
  });
  it('a late success (not the running attempt, or already encoded) appends nothing', () => {
    whenSegment([segStarted(1), segEncoded], { type: 'SucceedSegment', segmentId, attempt: 1, result: { frames: 75, durationSeconds: 3, sizeBytes: 10 }, elapsedMs: 5 }).then({ events: [], settle: ack });
    whenSegment([segStarted(1), segFailed(1), segStarted(2)], { type: 'SucceedSegment', segmentId, attempt: 1, result: { frames: 75, durationSeconds: 3, sizeBytes: 10 }, elapsedMs: 5 }).then({ events: [], settle: ack });
  });
  it('a retryable failure is retried alone after the backoff', () => {
    whenSegment([segStarted(1)], failSegment(1)).then({
      events: [{ type: 'SegmentFailed', data: { taskId: segmentId, attempt: 1, code: 'TRANSCODE_FAILED', message: 'boom', retryable: true, nextAttemptAt: '2026-11-30T12:00:05.000Z' } }],
      settle: { kind: 'retry', delayMs: 5_000 },
    });
  });
  it('out of attempts, the segment gives up and is dead-lettered (MAX_ATTEMPTS)', () => {
    whenSegment([segStarted(1), segFailed(1), segStarted(2), segFailed(2), segStarted(3)], failSegment(3)).then({
      events: [{ type: 'SegmentAbandoned', data: { taskId: segmentId, attempts: 3, code: 'TRANSCODE_FAILED', message: 'Gave up after 3 attempts: boom' } }],
      settle: { kind: 'dead-letter', reason: 'MAX_ATTEMPTS: Gave up after 3 attempts: boom' },
    });
  });
  it('a failure that is not retryable gives up at once and acks', () => {
    whenSegment([segStarted(1)], failSegment(1, false)).then({ events: [{ type: 'SegmentAbandoned', data: { taskId: segmentId, attempts: 1, code: 'TRANSCODE_FAILED', message: 'boom' } }], settle: ack });
  });
  it('an interrupted attempt is handed back uncounted and requeued', () => {
    const decision = decideSegment({ type: 'InterruptSegment', segmentId, attempt: 1, code: ErrorCode.WORKER_SHUTDOWN, message: 'stopped' }, givenSegment([segStarted(1)]), policy, now);
    expect(decision).toEqual({ events: [{ type: 'SegmentFailed', data: { taskId: segmentId, attempt: 1, code: 'WORKER_SHUTDOWN', message: 'stopped', retryable: true, nextAttemptAt: null, interrupted: true } }], settle: { kind: 'requeue' } });
    expect(givenSegment([segStarted(1), ...decision.events])).toMatchObject({ status: 'RETRYING', attempts: 0, unfinishedStarts: 0 });
  });
  it('a dead-lettered segment gives up unless it has its outcome', () => {
    whenSegment([segStarted(1)], { type: 'RecordSegmentDeadLetter', segmentId, reason: 'delivery_limit' }).then({
      events: [{ type: 'SegmentAbandoned', data: { taskId: segmentId, attempts: 1, code: 'REDELIVERY_LIMIT', message: anyText() } }],
      settle: ack,
    });
    whenSegment([segStarted(1), segEncoded], { type: 'RecordSegmentDeadLetter', segmentId, reason: 'rejected' }).then({ events: [], settle: ack });
  });
  it('evolve refuses anything after the outcome, and a stream not starting with SegmentStarted', () => {
    expect(() => givenSegment([segStarted(1), segEncoded, segStarted(2)])).toThrow(/outcome/);
    expect(() => givenSegment([segEncoded])).toThrow(/starts with SegmentStarted/);
  });
});

describe('split progress weights', () => {
  it('ranges weigh by their duration within the segments share; the stitch has the rest', () => {
    expect(rangeWeight(ranges[0]!, 7) + rangeWeight(ranges[1]!, 7)).toBeCloseTo(SEGMENTS_SHARE);
    expect(rangeWeight(ranges[0]!, 7)).toBeCloseTo((SEGMENTS_SHARE * 4) / 7);
    expect(SEGMENTS_SHARE + STITCH_WEIGHT).toBe(1);
  });
});
