import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { z } from 'zod';
import type { Decision, VideoCommand } from '../domain/decide.js';
import { decide } from '../domain/decide.js';
import { ErrorCode, FramelogError, messageOf } from '../domain/errors.js';
import type { EventMetadata, PlannedRange, VideoEvent } from '../domain/events.js';
import { decideSegment, segmentFinished, type SegmentCommand, type SegmentDecision, type SegmentEvent, type SegmentState } from '../domain/segment.js';
import { rangeWeight, STITCH_WEIGHT, type SplitPlan } from '../domain/split.js';
import { isTerminal, type VideoState } from '../domain/video.js';
import type { Db } from '../eventstore/db.js';
import { handleCommand, loadState, type Handled } from '../eventstore/handleCommand.js';
import { isConnectionError } from '../eventstore/pgErrors.js';
import { segmentStream } from '../eventstore/segmentStream.js';
import { videoFlowStream } from '../eventstore/videoStream.js';
import type { OutboxMessage } from '../eventstore/append.js';
import type { TaskOutcome } from '../messaging/subscriber.js';
import { taskOutboxMessage } from '../messaging/taskMessage.js';
import { isSplittable, planRanges } from '../media/rangePlan.js';
import type { ProbedMedia } from '../media/probe.js';
import type { SplitMediaProcessor } from '../media/splitProcessor.js';
import { removeTemps, type ProgressPart, type TaskRun, type TempsDeps, type WorkerDeps } from './handleTask.js';

/**
 * The worker's side of split and stitch (DESIGN §11): the transcode task's decision to split, the
 * `segment` task (its own stream, its own attempts), the fan-in that requests exactly one stitch, and
 * the outbox messages of both fan-outs.
 */

/** Split settings (SPLIT_MIN_SECONDS, SEGMENT_SECONDS) and the media side that encodes ranges and stitches. */
export interface SplitDeps {
  processor: SplitMediaProcessor;
  /** A video longer than this is split; 0 turns splitting off. Seconds. */
  minSeconds: number;
  /** Length of each range, a multiple of the GOP (2 s). Seconds. */
  segmentSeconds: number;
}

/** The transcode task's split decision: the plan (null: transcode whole) and the probe it was made on (null when none or refused). */
export interface SplitDecision {
  plan: SplitPlan | null;
  media: ProbedMedia | null;
}

/**
 * Whether to split the transcode task's video: plan null to transcode it whole when splitting is off, the
 * video is not longer than SPLIT_MIN_SECONDS, not splittable (isSplittable), refused by the probe, or one
 * range would cover it. The probe goes with it, so that a video transcoded whole is not probed twice.
 */
export async function planSplit(split: SplitDeps | undefined, state: VideoState, signal?: AbortSignal): Promise<SplitDecision> {
  if (split === undefined || split.minSeconds <= 0) return { plan: null, media: null };
  const media = await split.processor.probe({ videoId: state.id, sourceKey: state.storageKey, ...(signal ? { signal } : {}) }).catch((error: unknown) => {
    // A source the probe refuses is transcoded whole: the processor's own probe refuses it with the same
    // code, so every refusal of an upload comes from one place (and a test processor composed in sees it).
    if (error instanceof FramelogError && !error.retryable) return null;
    throw error;
  });
  if (media === null || !(media.durationSeconds > split.minSeconds) || !isSplittable(media)) return { plan: null, media };
  const ranges = planRanges(media.durationSeconds, split.segmentSeconds);
  if (ranges.length < 2) return { plan: null, media };
  return {
    plan: {
      durationSeconds: media.durationSeconds,
      segmentSeconds: split.segmentSeconds,
      ranges: ranges.map(({ index, startSeconds, endSeconds }) => ({ index, startSeconds, endSeconds, segmentId: randomUUID() })),
    },
    media,
  };
}

/**
 * The task messages a video append fans out (transcode's VideoSplit: one `segment` task per range, the
 * segment's id as message id; RequestStitch's StitchRequested: the one `stitch` task, the event's id).
 */
export function splitOutbox(videoId: string, correlationId: string, events: readonly { event: VideoEvent; eventId: string }[]): OutboxMessage[] {
  return events.flatMap(({ event, eventId }) => {
    if (event.type === 'VideoSplit') {
      return event.data.ranges.map((range) => taskOutboxMessage({ eventId: range.segmentId, kind: 'segment', videoId, taskId: range.segmentId, correlationId }));
    }
    if (event.type === 'StitchRequested') return [taskOutboxMessage({ eventId, kind: 'stitch', videoId, taskId: event.data.taskId, correlationId })];
    return [];
  });
}

/** The stitch's work: join the plan's ranges into the video's output set (the same result as a single encode). */
export function runStitch(deps: WorkerDeps, state: VideoState, signal?: AbortSignal) {
  const split = state.split;
  if (deps.split === undefined || split === undefined) throw new FramelogError(ErrorCode.INTERNAL, 'A stitch task reached a worker that cannot stitch, or a video without a plan.', { retryable: true });
  const report = progressOf(deps, state.id, { key: 'stitch', weight: STITCH_WEIGHT });
  return deps.split.processor.stitch({ videoId: state.id, sourceKey: state.storageKey, ranges: split.ranges, ...(signal ? { signal } : {}), ...(report ? { onProgress: report } : {}) });
}

const progressOf = (deps: WorkerDeps, videoId: string, part: ProgressPart) => {
  const { reportProgress } = deps;
  return reportProgress === undefined ? undefined : (percent: number) => reportProgress(videoId, percent, part);
};

/** A segment delivery's context: the video's plan and this segment's range in it. */
interface SegmentRun {
  r: TaskRun;
  video: VideoState;
  range: PlannedRange;
  /** The video's task whose plan holds the range. */
  videoTaskId: string;
}

/**
 * One delivery of a `segment` task (the lease of the segment is held): decide the start on the segment's
 * stream → encode the range → decide the outcome → fan in (the stitch, or the video's failure). A
 * finished segment's delivery only fans in again: that heals a crash between the result and the stitch.
 */
export async function runSegmentTask(r: TaskRun, signal: AbortSignal): Promise<TaskOutcome> {
  const { deps, task, log } = r;
  const video = await loadState(deps.db, videoFlowStream, task.videoId);
  if (video === null) return { kind: 'dead-letter', reason: `${ErrorCode.INVALID_MESSAGE}: no video ${task.videoId}` };
  const range = video.split?.ranges.find((candidate) => candidate.segmentId === task.taskId);
  if (video.split === undefined || range === undefined) {
    log.info('a segment of no current plan (superseded or unknown); acking it without work');
    return { kind: 'ack' };
  }
  const s: SegmentRun = { r, video, range, videoTaskId: video.split.taskId };
  const start = await segmentCommand(s, startSegment(s), r.delivery.messageId);
  r.run.unrecordedAttempt = undefined;
  const started = start.events.find((e) => e.type === 'SegmentStarted');
  if (start.decision.settle !== null || started?.type !== 'SegmentStarted' || start.state === null) {
    // A finished segment's copy fans in again (heals a crash before it); one that never ran has nothing to add.
    if (start.state !== null) await fanIn(fanInOf(s), start.state);
    return start.decision.settle ?? { kind: 'ack' };
  }
  const attempt = started.data.attempt;
  r.run.unrecordedAttempt = attempt;
  log.info({ attempt, index: range.index }, 'segment started');
  const outcome = await encodeSegment(s, start.state, attempt, signal);
  r.lease.lost.throwIfAborted();
  const end = await segmentCommand(s, outcome, started.eventId, start.state);
  r.run.unrecordedAttempt = undefined;
  await fanIn(fanInOf(s), end.state);
  log.info({ index: range.index, attempt, outcome: outcome.type, settle: end.decision.settle }, 'segment attempt ended');
  return end.decision.settle ?? { kind: 'ack' };
}

function startSegment(s: SegmentRun): SegmentCommand {
  const { r, video, range, videoTaskId } = s;
  const videoOpen = video.currentTaskId === videoTaskId && !isTerminal(video.status);
  const interruptedAttempt = r.delivery.interruptedAttempt ?? null;
  return { type: 'StartSegment', segmentId: r.task.taskId, videoId: video.id, videoTaskId, range, workerId: r.deps.workerId, interruptedAttempt, videoOpen };
}

/** Encodes the range (one attempt) and names its outcome as a segment command. */
async function encodeSegment(s: SegmentRun, state: SegmentState, attempt: number, signal: AbortSignal): Promise<SegmentCommand> {
  const { r, video, range } = s;
  const segmentId = r.task.taskId;
  const startedAt = Date.now();
  try {
    if (r.deps.split === undefined) throw new FramelogError(ErrorCode.INTERNAL, 'A segment task reached a worker that cannot encode ranges.', { retryable: true });
    const report = progressOf(r.deps, video.id, { key: `segment:${range.index}`, weight: rangeWeight(range, video.split?.durationSeconds ?? 0) });
    const { index, startSeconds, endSeconds } = range;
    const result = await r.deps.split.processor.encodeRange({ videoId: video.id, sourceKey: video.storageKey, range: { index, startSeconds, endSeconds }, signal, ...(report ? { onProgress: report } : {}) });
    const { frames, durationSeconds, sizeBytes } = result;
    return { type: 'SucceedSegment', segmentId, attempt, result: { frames, durationSeconds, sizeBytes }, elapsedMs: Date.now() - startedAt };
  } catch (error) {
    const aborted = error instanceof Error && error.name === 'AbortError';
    if (aborted && signal.aborted) {
      await recordSegmentInterrupted(s, state, attempt);
      throw error;
    }
    if (aborted || isConnectionError(error)) throw error;
    const failure = error instanceof FramelogError ? error : new FramelogError(ErrorCode.TRANSCODE_FAILED, messageOf(error), { retryable: true, cause: error });
    return { type: 'FailSegment', segmentId, attempt, error: { code: failure.code, message: failure.message, retryable: failure.retryable } };
  }
}

/** Shutdown or a lost lease stopped the attempt: recorded as interrupted (uncounted) when the database lets us. */
async function recordSegmentInterrupted(s: SegmentRun, state: SegmentState, attempt: number): Promise<void> {
  const { r } = s;
  const [code, message] = r.lease.lost.aborted
    ? [ErrorCode.DATABASE_UNAVAILABLE, 'The attempt lost its lease (PostgreSQL restarted or was unreachable); the segment was requeued.']
    : [ErrorCode.WORKER_SHUTDOWN, 'The worker was stopped mid-segment; the segment was requeued.'];
  await segmentCommand(s, { type: 'InterruptSegment', segmentId: r.task.taskId, attempt, code, message }, null, state).then(
    () => {
      r.run.unrecordedAttempt = undefined;
    },
    (appendError: unknown) => r.log.warn({ err: appendError }, 'could not record the interrupted segment'),
  );
}

/** Decides `cmd` over the segment's stream and appends the result (the segment's own version: no contention). */
function segmentCommand(s: SegmentRun, cmd: SegmentCommand, causationId: string | null, state?: SegmentState): Promise<Handled<SegmentState, SegmentEvent, SegmentDecision>> {
  const { deps, task } = s.r;
  const policy = { maxAttempts: deps.maxAttempts, deliveryLimit: deps.deliveryLimit, retryDelaysMs: deps.retryDelaysMs };
  const decider = { type: segmentStream, decide: (c: SegmentCommand, st: SegmentState | null) => decideSegment(c, st, policy, deps.now?.() ?? new Date()) };
  return handleCommand(deps.db, task.taskId, decider, cmd, {
    ...(state === undefined ? {} : { state }),
    metadata: (event) => workerMetadata(s.r, causationId, task.taskId, event.data),
  });
}

const workerMetadata = (r: TaskRun, causationId: string | null, taskId: string, data: object): EventMetadata => ({
  correlationId: r.correlationId,
  // Framelog's message ids are event or task ids; anything else is no event to point at.
  causationId: z.uuid().safeParse(causationId).success ? causationId : null,
  taskId,
  actor: `worker:${r.deps.workerId}`,
  workerId: r.deps.workerId,
  ...(r.delivery.traceparent ? { traceparent: r.delivery.traceparent } : {}),
  attempt: 'attempt' in data && typeof data.attempt === 'number' ? data.attempt : 'attempts' in data && typeof data.attempts === 'number' ? data.attempts : null,
});

/** What the fan-in needs: the database, the task policy, who writes, and how to remove a finished video's temps. */
export type FanInDeps = Pick<WorkerDeps, 'db' | 'workerId' | 'log' | 'split'> & TempsDeps & Partial<Pick<WorkerDeps, 'maxAttempts' | 'deliveryLimit' | 'retryDelaysMs' | 'now'>>;

interface FanIn {
  deps: FanInDeps;
  video: VideoState;
  range: PlannedRange;
  videoTaskId: string;
  correlationId: string;
  log: TaskRun['log'];
}

const fanInOf = (s: SegmentRun): FanIn => ({ deps: s.r.deps, video: s.video, range: s.range, videoTaskId: s.videoTaskId, correlationId: s.r.correlationId, log: s.r.log });

/**
 * After the segment's outcome committed (or on a finished segment's redelivery): an encoded segment
 * counts the task's encoded segments afresh (after its own commit, so of two last ones at least one sees
 * all) and asks for the stitch; a segment that gave up (or never ran: `state` null) fails its video.
 * Both are no-ops when already done.
 */
async function fanIn(f: FanIn, state: SegmentState | null): Promise<void> {
  const { deps, range, videoTaskId, video } = f;
  if (state !== null && !segmentFinished(state)) return;
  const command: VideoCommand =
    state?.status === 'ENCODED'
      ? { type: 'RequestStitch', videoId: video.id, taskId: videoTaskId, encoded: await countEncoded(deps.db, videoTaskId, video.split?.ranges ?? []) }
      : { type: 'FailForSegment', videoId: video.id, taskId: videoTaskId, range, code: state?.lastError?.code ?? ErrorCode.DEAD_LETTERED, message: state?.lastError?.message ?? 'its task was dead-lettered before it ran' };
  const handled = await videoCommand(f, command);
  for (const event of handled.events) f.log.info({ type: event.type, index: range.index }, event.type === 'StitchRequested' ? 'every segment is in: stitch requested' : 'a segment gave up: video failed');
  if (handled.events.length > 0 && handled.state !== null && isTerminal(handled.state.status)) await removeTemps(deps, video.id);
}

/** How many of the plan's segments have their result committed (the `segments` projection, read now). */
async function countEncoded(db: Db, videoTaskId: string, ranges: readonly PlannedRange[]): Promise<number> {
  const ids = ranges.map((range) => range.segmentId);
  const { rows } = await sql<{ n: number }>`
    select count(*)::int as n from segments where video_task_id = ${videoTaskId}::uuid and status = 'ENCODED' and id = any(${ids}::uuid[])`.execute(db);
  return rows[0]?.n ?? 0;
}

/** A video-stream command on a segment's behalf, with the stitch task in the same append's outbox. */
function videoCommand(f: FanIn, command: VideoCommand): Promise<Handled<VideoState, VideoEvent, Decision>> {
  const { deps } = f;
  // Neither command retries or counts deliveries: the policy is never read by them.
  const policy = { maxAttempts: deps.maxAttempts ?? 1, deliveryLimit: deps.deliveryLimit ?? 1, retryDelaysMs: deps.retryDelaysMs ?? [] };
  const decider = { type: videoFlowStream, decide: (c: VideoCommand, st: VideoState | null) => decide(c, st, policy, deps.now?.() ?? new Date()) };
  return handleCommand(deps.db, command.videoId, decider, command, {
    metadata: (event) => ({ correlationId: f.correlationId, causationId: null, taskId: f.videoTaskId, actor: `worker:${deps.workerId}`, workerId: deps.workerId, attempt: null, ...('attempts' in event.data ? { attempt: event.data.attempts } : {}) }),
    outbox: (events) => splitOutbox(command.videoId, f.correlationId, events),
  });
}

/**
 * A segment task's message was dead-lettered (the watch queue's copy): the segment gives up
 * (SegmentAbandoned, unless it has its outcome) and its video fails, as when it runs out of attempts.
 * The caller holds the segment's lease.
 */
export async function recordSegmentDeadLetter(deps: FanInDeps, segmentId: string, videoId: string, reason: string | null): Promise<void> {
  const video = await loadState(deps.db, videoFlowStream, videoId);
  const range = video?.split?.ranges.find((candidate) => candidate.segmentId === segmentId);
  if (video === null || video.split === undefined || range === undefined) return;
  const correlationId = randomUUID();
  const policy = { maxAttempts: 1, deliveryLimit: 1, retryDelaysMs: [] };
  const decider = { type: segmentStream, decide: (c: SegmentCommand, st: SegmentState | null) => decideSegment(c, st, policy, new Date()) };
  const handled = await handleCommand(deps.db, segmentId, decider, { type: 'RecordSegmentDeadLetter', segmentId, reason }, {
    metadata: () => ({ correlationId, taskId: segmentId, actor: `worker:${deps.workerId}`, workerId: deps.workerId }),
  });
  if (handled.state?.status === 'ENCODED') return;
  await fanIn({ deps, video, range, videoTaskId: video.split.taskId, correlationId, log: deps.log }, handled.state);
}
