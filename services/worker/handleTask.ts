import { setTimeout as delay } from 'node:timers/promises';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { decide, type AttemptResult, type Decision, type TaskPolicy, type TaskSettle, type VideoCommand } from '../domain/decide.js';
import { ErrorCode, FramelogError, messageOf } from '../domain/errors.js';
import type { EventMetadata, VideoEvent } from '../domain/events.js';
import { isTerminal, type VideoState } from '../domain/video.js';
import type { Db } from '../eventstore/db.js';
import { handleCommand, type Handled } from '../eventstore/handleCommand.js';
import { isConnectionError } from '../eventstore/pgErrors.js';
import { LeaseLostError, type LoadedLease, type TaskLease, type TaskLeases } from '../eventstore/taskLease.js';
import { videoFlowStream } from '../eventstore/videoStream.js';
import type { Logger } from '../logger.js';
import type { MediaProcessor } from '../media/processVideo.js';
import type { TaskDelivery, TaskOutcome } from '../messaging/subscriber.js';
import { parseTaskMessage, type ParsedTask, type TaskKind, type TaskMessage } from '../messaging/taskMessage.js';
import type { SplitPlan } from '../domain/split.js';
import { planSplit, runSegmentTask, runStitch, splitOutbox, type SplitDeps } from './splitTasks.js';

export interface WorkerDeps {
  db: Db;
  /** Attempt leases: a live attempt's task is not started again (eventstore/taskLease.ts). */
  leases: TaskLeases;
  processor: MediaProcessor;
  workerId: string;
  maxAttempts: number;
  /** Deliveries that may die without an outcome before the task fails with REDELIVERY_LIMIT. */
  deliveryLimit: number;
  retryDelaysMs: readonly number[];
  log: Logger;
  now?: () => Date;
  /**
   * Transcoding progress of the running task, for live status (throttled and sent by the caller's choice).
   * `part`: the task makes this share of the video's progress (a segment or the stitch of a split video).
   */
  reportProgress?: (videoId: string, percent: number, part?: ProgressPart) => void;
  /** Split and stitch (DESIGN §11); absent: every video is transcoded whole and no segment task can run. */
  split?: SplitDeps;
}

/** A task's share of its video's progress: `weight` (0-1) of it, named by `key` (e.g. `segment:3`, `stitch`). */
export interface ProgressPart {
  key: string;
  weight: number;
}

const isAbort = (error: unknown) => error instanceof Error && error.name === 'AbortError';

/**
 * One delivery of a task: parse (body, then headers) → take the task's lease → decide the start → run
 * the kind's work → decide the outcome → settle. The log, not the message, says which attempt this is;
 * the lease says whether another attempt is still alive; the database keeps one outcome per task.
 */
export async function handleTask(deps: WorkerDeps, delivery: Delivery, signal?: AbortSignal): Promise<TaskOutcome> {
  const parsed = parseDelivery(delivery);
  if (!parsed.ok) {
    deps.log.warn({ messageId: delivery.messageId, reason: parsed.reason }, 'dead-lettering a malformed task message');
    return { kind: 'dead-letter', reason: parsed.reason };
  }
  const task = parsed.task;
  const log = deps.log.child({ videoId: task.videoId, taskId: task.taskId, correlationId: delivery.correlationId });
  // An attempt the previous delivery could not close stays open until this one records it: if this
  // one cannot reach the database either, its requeued copy must still name it.
  const run: RunState = { unrecordedAttempt: delivery.interruptedAttempt ?? undefined };
  let lease: TaskLease | null = null;
  let outcome: TaskOutcome | undefined;
  try {
    const acquired = await acquireLease(deps.leases, task, delivery.redelivered === true, signal);
    lease = acquired?.lease ?? null;
    if (acquired === null && delivery.redelivered === true) {
      // The broker gave this message back (its consumer's connection ended) while the lease is still
      // held: never drop it, since it may be the task's only message. Requeue it without counting.
      log.warn('the lease of a redelivered task is still held; requeueing it');
      return { kind: 'requeue' };
    }
    if (acquired === null) {
      // A copy (an at-least-once relay's duplicate, a forged message): the live attempt's own delivery
      // is still unacked, and the broker redelivers it if that worker dies. Nothing to do here.
      log.info('another attempt of this task is alive; acking this delivery without work');
      return { kind: 'ack' };
    }
    const attemptSignal = signal === undefined ? acquired.lease.lost : AbortSignal.any([signal, acquired.lease.lost]);
    const taskRun: TaskRun = { deps, correlationId: delivery.correlationId ?? randomUUID(), task, delivery, log, run, lease: acquired.lease };
    outcome = await (task.kind === 'segment' ? runSegmentTask(taskRun, attemptSignal) : runTask(taskRun, acquired.state, attemptSignal));
    return outcome;
  } catch (error) {
    if (isConnectionError(error) || isAbort(error) || error instanceof LeaseLostError) {
      // Not the task's fault: give the message back without counting a failure. A start this delivery
      // could not close in the log travels with the copy, so the next delivery records it as interrupted.
      log.warn({ err: error, unrecordedAttempt: run.unrecordedAttempt }, 'requeueing the task: database unavailable or shutting down');
      return run.unrecordedAttempt === undefined ? { kind: 'requeue' } : { kind: 'requeue', interruptedAttempt: run.unrecordedAttempt };
    }
    throw error;
  } finally {
    // Once the task's end is recorded and its message is to be acked, the unlock need not delay the
    // ack: a copy that finds the lock still held acks without work, rightly. A retried or requeued task
    // comes back as a fresh copy, which must find the lock free: those wait for the unlock.
    if (outcome?.kind === 'ack') void lease?.release();
    else await lease?.release();
  }
}

type Delivery = Pick<TaskDelivery, 'body' | 'messageId' | 'correlationId'> & Partial<Pick<TaskDelivery, 'interruptedAttempt' | 'traceparent' | 'invalidHeaders' | 'redelivered'>>;

/**
 * How long a redelivered task waits for its lease. The broker requeues a SIGKILLed worker's message as
 * soon as its AMQP connection drops, which can be a moment before PostgreSQL ends that worker's session
 * and with it the advisory lock; a fresh copy does not wait.
 */
const REDELIVERED_LEASE_WAIT_MS = 5_000;
const LEASE_POLL_MS = 100;

/**
 * The task's lease, or null while another session holds it (after up to REDELIVERED_LEASE_WAIT_MS when
 * `wait`). The video's state comes with it, folded from its stream (videoFlowStream: the split plan is
 * not in the projection row) as read after the lock in the same round trip.
 */
async function acquireLease(leases: TaskLeases, task: TaskMessage, wait: boolean, signal?: AbortSignal): Promise<LoadedLease<VideoState> | null> {
  const deadline = Date.now() + (wait ? REDELIVERED_LEASE_WAIT_MS : 0);
  for (;;) {
    const lease = task.kind === 'segment' ? await segmentLease(leases, task.taskId) : await leases.tryAcquireAndLoad(task.taskId, videoFlowStream, task.videoId);
    if (lease !== null || Date.now() >= deadline || signal?.aborted) return lease;
    await delay(LEASE_POLL_MS);
  }
}

/** A segment task reads its own stream (splitTasks.ts), not the video's: the lock alone. */
async function segmentLease(leases: TaskLeases, taskId: string): Promise<LoadedLease<VideoState> | null> {
  const lease = await leases.tryAcquire(taskId);
  return lease === null ? null : { lease, state: null };
}

/** The task a delivery carries, or why it is malformed (`INVALID_MESSAGE: …`): its body, then its headers. */
function parseDelivery(delivery: Delivery): ParsedTask {
  const parsed = parseTaskMessage(delivery.body);
  return parsed.ok && delivery.invalidHeaders ? { ok: false, reason: delivery.invalidHeaders } : parsed;
}

/** What one delivery left open: an attempt whose ProcessingStarted has no recorded end yet. */
interface RunState {
  unrecordedAttempt: number | undefined;
}

export interface TaskRun {
  deps: WorkerDeps;
  correlationId: string;
  task: TaskMessage;
  delivery: Delivery;
  log: Logger;
  run: RunState;
  /** The attempt's lease: its `lost` signal stops the attempt, and no outcome is recorded without it. */
  lease: TaskLease;
}

/** `state`: the video as read with the lease (null: no such video). */
async function runTask(r: TaskRun, state: VideoState | null, signal: AbortSignal): Promise<TaskOutcome> {
  const { deps, task, delivery, log } = r;
  // Framelog's message ids are outbox event ids; a message from elsewhere may carry any id (or none),
  // which must not make the append's metadata invalid.
  const messageCause = z.uuid().safeParse(delivery.messageId).success ? delivery.messageId : null;
  const interruptedAttempt = delivery.interruptedAttempt ?? null;
  const stage = task.kind === 'stitch' ? 'stitch' : 'transcode';
  const start = await command(r, { type: 'StartAttempt', videoId: task.videoId, taskId: task.taskId, workerId: deps.workerId, interruptedAttempt, stage }, messageCause, state);
  r.run.unrecordedAttempt = undefined;
  const started = start.events.find((e) => e.type === 'ProcessingStarted');
  if (start.decision.settle !== null || started?.type !== 'ProcessingStarted' || start.state === null) {
    const level = start.decision.settle?.kind === 'dead-letter' ? 'error' : 'info';
    log[level]({ settle: start.decision.settle, events: start.events.map((e) => e.type) }, 'task settled without an attempt');
    return start.decision.settle ?? { kind: 'ack' };
  }
  const attempt = started.data.attempt;
  r.run.unrecordedAttempt = attempt;
  log.info({ attempt }, 'processing started');
  const outcome = await runAttempt(r, start.state, attempt, started.eventId, signal);
  // Without the lease another attempt may be running: its outcome, not this one's, is recorded.
  r.lease.lost.throwIfAborted();
  const end = await command(r, outcome, started.eventId, start.state);
  r.run.unrecordedAttempt = undefined;
  logOutcome(log, outcome, end.decision.settle);
  return end.decision.settle ?? { kind: 'ack' };
}

/** What one attempt made: the video's outputs, or (a long video's transcode task) a plan of segments. */
type AttemptOutcome = { result: AttemptResult } | { plan: SplitPlan };

/** The work of one attempt of each task kind on the video stream: the worker dispatches by kind (DESIGN §4). `segment` has its own stream (splitTasks.ts). */
type KindWork = (deps: WorkerDeps, state: VideoState, signal?: AbortSignal) => Promise<AttemptOutcome>;

const kindWork: Record<Exclude<TaskKind, 'segment'>, KindWork> = {
  transcode: async (deps, state, signal) => {
    const { plan, media } = await planSplit(deps.split, state, signal);
    if (plan !== null) return { plan };
    const { reportProgress } = deps;
    const result = await deps.processor.process({
      videoId: state.id,
      sourceKey: state.storageKey,
      ...(media ? { media } : {}),
      ...(signal ? { signal } : {}),
      ...(reportProgress ? { onProgress: (percent: number) => reportProgress(state.id, percent) } : {}),
    });
    return { result };
  },
  stitch: async (deps, state, signal) => ({ result: await runStitch(deps, state, signal) }),
};

/** Runs the task kind's work for one attempt and names its outcome as a command. */
async function runAttempt(r: TaskRun, state: VideoState, attempt: number, startedEventId: string, signal: AbortSignal): Promise<VideoCommand> {
  const { deps, task } = r;
  const ids = { videoId: task.videoId, taskId: task.taskId, attempt };
  const startedAt = Date.now();
  try {
    if (task.kind === 'segment') throw new Error('unreachable: segment tasks run in splitTasks.ts');
    const outcome = await kindWork[task.kind](deps, state, signal);
    if ('plan' in outcome) return { type: 'SplitAttempt', ...ids, plan: outcome.plan };
    return { type: 'SucceedAttempt', ...ids, result: outcome.result, elapsedMs: Date.now() - startedAt };
  } catch (error) {
    if (isAbort(error) && signal.aborted) {
      await recordInterrupted(r, state, attempt, startedEventId);
      throw error;
    }
    if (isAbort(error) || isConnectionError(error)) throw error;
    const failure = error instanceof FramelogError ? error : new FramelogError(ErrorCode.TRANSCODE_FAILED, messageOf(error), { retryable: true, cause: error });
    return { type: 'FailAttempt', ...ids, error: { code: failure.code, message: failure.message, retryable: failure.retryable } };
  }
}

/**
 * Shutdown or a lost lease stopped the attempt: record that this start ended without failing, so it
 * counts neither as an attempt nor toward the redelivery limit. If that append fails too (the database
 * is what took the lease), the requeued copy carries the attempt and the next delivery records it.
 */
async function recordInterrupted(r: TaskRun, state: VideoState, attempt: number, startedEventId: string): Promise<void> {
  const [code, message] = r.lease.lost.aborted
    ? [ErrorCode.DATABASE_UNAVAILABLE, 'The attempt lost its lease (PostgreSQL restarted or was unreachable); the task was requeued.']
    : [ErrorCode.WORKER_SHUTDOWN, 'The worker was stopped mid-job; the task was requeued.'];
  const interrupt: VideoCommand = { type: 'InterruptAttempt', videoId: r.task.videoId, taskId: r.task.taskId, attempt, code, message };
  await command(r, interrupt, startedEventId, state).then(
    () => {
      r.run.unrecordedAttempt = undefined;
    },
    (appendError: unknown) => r.log.warn({ err: appendError }, 'could not record the interrupted attempt'),
  );
}

/**
 * Decides `cmd` over the video's stream (loading it unless `state` is in hand) and appends the result.
 * When that made the video terminal, no attempt of it can still be writing: its temp files are removed.
 */
async function command(r: TaskRun, cmd: VideoCommand, causationId: string | null, state?: VideoState | null): Promise<Handled<VideoState, VideoEvent, Decision>> {
  const { deps, task, correlationId } = r;
  const policy: TaskPolicy = { maxAttempts: deps.maxAttempts, deliveryLimit: deps.deliveryLimit, retryDelaysMs: deps.retryDelaysMs };
  const metadata = (event: VideoEvent): EventMetadata => ({
    correlationId,
    causationId,
    taskId: task.taskId,
    actor: `worker:${deps.workerId}`,
    workerId: deps.workerId,
    ...(r.delivery.traceparent ? { traceparent: r.delivery.traceparent } : {}),
    attempt: 'attempt' in event.data ? event.data.attempt : 'attempts' in event.data ? event.data.attempts : null,
  });
  // Folded, not read from the row: a split task's plan is in the stream only (VideoState.split).
  const decider = { type: videoFlowStream, decide: (c: VideoCommand, s: VideoState | null) => decide(c, s, policy, deps.now?.() ?? new Date()) };
  const handled = await handleCommand(deps.db, task.videoId, decider, cmd, {
    ...(state === undefined ? {} : { state }),
    metadata,
    // A split fans out: one segment task per range goes with VideoSplit.
    outbox: (events) => splitOutbox(task.videoId, correlationId, events),
  });
  // Range sets exist only for a split task; looking for them costs a task that was not split ~0.3 ms
  // before its ack (an earlier split task's were removed when it ended).
  if (handled.events.length > 0 && handled.state !== null && isTerminal(handled.state.status)) {
    await removeTemps(deps, task.videoId, { rangeSets: handled.state.split !== undefined });
  }
  return handled;
}

export type TempsDeps = Pick<WorkerDeps, 'log'> & { processor: Pick<MediaProcessor, 'removeTemps'>; split?: { processor: Pick<SplitDeps['processor'], 'removeTemps'> } | undefined };

/**
 * Terminal now: no attempt of the video can still be writing, so every temp file of it is litter, and
 * so are its range sets (split and stitch) unless `rangeSets` is false: the task was not split.
 */
export async function removeTemps(deps: TempsDeps, videoId: string, { rangeSets = true }: { rangeSets?: boolean } = {}): Promise<void> {
  const removals = [deps.processor.removeTemps(videoId), ...(deps.split && rangeSets ? [deps.split.processor.removeTemps(videoId)] : [])];
  for (const removal of removals) await removal.catch((error: unknown) => deps.log.warn({ err: error, videoId }, 'could not remove the temp files of a finished video'));
}

function logOutcome(log: Logger, outcome: VideoCommand, settle: TaskSettle | null): void {
  if (outcome.type === 'SplitAttempt') log.info({ attempt: outcome.attempt, ranges: outcome.plan.ranges.length }, 'long video split into segments');
  else if (outcome.type === 'SucceedAttempt') log.info({ attempt: outcome.attempt, renditions: outcome.result.renditions.length }, 'task processed');
  else if (outcome.type === 'FailAttempt') log.warn({ code: outcome.error.code, attempt: outcome.attempt, settle }, settle?.kind === 'retry' ? 'attempt failed; retrying after backoff' : 'task failed');
}
