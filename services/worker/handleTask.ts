import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { ConcurrencyError, DuplicateOutcomeError, ErrorCode, FramelogError, IllegalTransitionError, messageOf } from '../domain/errors.js';
import type { EventMetadata, VideoEvent } from '../domain/events.js';
import { TaskMessageSchema, backoffDelayMs, decideTask, type TaskMessage } from '../domain/task.js';
import { isTerminal, type VideoState } from '../domain/video.js';
import { appendToStream } from '../eventstore/append.js';
import type { Db } from '../eventstore/db.js';
import { isConnectionError } from '../eventstore/pgErrors.js';
import { loadVideo } from '../eventstore/videos.js';
import type { Logger } from '../logger.js';
import type { MediaProcessor } from '../media/processVideo.js';
import type { TaskDelivery, TaskOutcome } from '../messaging/subscriber.js';

export interface WorkerDeps {
  db: Db;
  processor: MediaProcessor;
  workerId: string;
  maxAttempts: number;
  /** Deliveries that may die without an outcome before the task fails with REDELIVERY_LIMIT. */
  deliveryLimit: number;
  retryDelaysMs: readonly number[];
  log: Logger;
  now?: () => Date;
  /** Transcoding progress of the running task, for live status (throttled and sent by the caller's choice). */
  reportProgress?: (videoId: string, percent: number) => void;
}

const isAbort = (error: unknown) => error instanceof Error && error.name === 'AbortError';

/**
 * One delivery of a task: decide from the log, record ProcessingStarted, process, record exactly one
 * outcome, and only then let the subscriber ack. The log, not the message, says which attempt this is.
 */
export async function handleTask(deps: WorkerDeps, delivery: Delivery, signal?: AbortSignal): Promise<TaskOutcome> {
  const parsed = TaskMessageSchema.safeParse(delivery.body);
  if (!parsed.success) {
    const reason = `${ErrorCode.INVALID_MESSAGE}: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'body'} ${i.message}`).join('; ')}`;
    deps.log.warn({ messageId: delivery.messageId, reason }, 'dead-lettering a malformed task message');
    return { kind: 'dead-letter', reason };
  }
  const task = parsed.data;
  const log = deps.log.child({ videoId: task.videoId, taskId: task.taskId, correlationId: delivery.correlationId });
  const run: RunState = { unrecordedAttempt: undefined };
  try {
    return await runTask(deps, task, delivery, log, run, signal);
  } catch (error) {
    if (isConnectionError(error) || isAbort(error)) {
      // Not the task's fault: give the message back without counting a failure. A start this delivery
      // could not close in the log travels with the copy, so the next delivery records it as interrupted.
      log.warn({ err: error, unrecordedAttempt: run.unrecordedAttempt }, 'requeueing the task: database unavailable or shutting down');
      return run.unrecordedAttempt === undefined ? { kind: 'requeue' } : { kind: 'requeue', interruptedAttempt: run.unrecordedAttempt };
    }
    throw error;
  }
}

type Delivery = Pick<TaskDelivery, 'body' | 'messageId' | 'correlationId'> & Partial<Pick<TaskDelivery, 'interruptedAttempt'>>;

/** What one delivery left open: an attempt whose ProcessingStarted has no recorded end yet. */
interface RunState {
  unrecordedAttempt: number | undefined;
}

async function runTask(deps: WorkerDeps, task: TaskMessage, delivery: Omit<Delivery, 'body'>, log: Logger, run: RunState, signal?: AbortSignal): Promise<TaskOutcome> {
  let state = await loadVideo(deps.db, task.videoId);
  if (state === null) {
    const reason = `${ErrorCode.INVALID_MESSAGE}: no video ${task.videoId}`;
    log.warn({ reason }, 'dead-lettering a task for an unknown video');
    return { kind: 'dead-letter', reason };
  }
  const correlationId = delivery.correlationId ?? randomUUID();
  const meta = (attempt: number | null, causationId: string | null): EventMetadata => ({
    correlationId,
    causationId,
    taskId: task.taskId,
    actor: `worker:${deps.workerId}`,
    workerId: deps.workerId,
    attempt,
  });

  // Framelog's message ids are outbox event ids; a message from elsewhere may carry any id (or none),
  // which must not make the append's metadata invalid.
  const messageCause = z.uuid().safeParse(delivery.messageId).success ? delivery.messageId : null;

  const interrupted = delivery.interruptedAttempt ?? null;
  if (interrupted !== null && state.currentTaskId === task.taskId && state.status === 'PROCESSING' && state.attempts === interrupted && state.unfinishedStarts > 0) {
    // The previous delivery started this attempt but could not record its end (database down): record
    // it now as interrupted, so it counts neither as an attempt nor as a crash. If the stream moved,
    // someone else is on it; decide from the fresh log without touching it.
    const recorded = await recordInterrupted(deps, state, task.taskId, interrupted, ErrorCode.DATABASE_UNAVAILABLE, 'The worker could not reach the database to record this attempt; the task was requeued.', meta(interrupted, null)).catch((error: unknown) => {
      if (error instanceof ConcurrencyError) return null;
      throw error;
    });
    state = recorded ?? (await loadVideo(deps.db, task.videoId)) ?? state;
    log.info({ attempt: interrupted, recorded: recorded !== null }, 'recorded an attempt the previous delivery could not close');
  }

  const decision = decideTask(state, task.taskId, { maxAttempts: deps.maxAttempts, maxUnfinishedStarts: deps.deliveryLimit });
  switch (decision.kind) {
    case 'skip':
      log.info({ reason: decision.reason }, 'task needs no work; acking');
      return { kind: 'ack' };
    case 'give-up': {
      const message = `${state.unfinishedStarts} deliveries ended without an outcome (a worker crashed or was killed each time).`;
      await appendOutcome(deps, state, {
        type: 'VideoFailed',
        data: { taskId: task.taskId, attempts: decision.attempts, code: ErrorCode.REDELIVERY_LIMIT, message },
      }, meta(decision.attempts, messageCause));
      log.error({ attempts: decision.attempts }, 'task failed: redelivery limit');
      return { kind: 'dead-letter', reason: `${ErrorCode.REDELIVERY_LIMIT}: ${message}` };
    }
    case 'process':
      break;
  }

  const attempt = decision.attempt;
  let started;
  try {
    started = await appendToStream(deps.db, {
      streamId: state.id,
      expectedVersion: state.version,
      state,
      events: [{ event: { type: 'ProcessingStarted', data: { taskId: task.taskId, attempt, workerId: deps.workerId } }, metadata: meta(attempt, messageCause) }],
    });
  } catch (error) {
    if (error instanceof ConcurrencyError) {
      // Another delivery of this task moved the stream meanwhile: decide again from the fresh log.
      log.info('stream moved while starting; deciding again');
      return runTask(deps, task, { ...delivery, interruptedAttempt: null }, log, run, signal);
    }
    throw error;
  }
  run.unrecordedAttempt = attempt;
  const startedEventId = started.events[0]?.eventId ?? null;
  log.info({ attempt }, 'processing started');
  const startedAt = Date.now();

  let result;
  try {
    const { reportProgress } = deps;
    result = await deps.processor.process({
      videoId: task.videoId,
      sourceKey: state.storageKey,
      ...(signal ? { signal } : {}),
      ...(reportProgress ? { onProgress: (percent: number) => reportProgress(task.videoId, percent) } : {}),
    });
  } catch (error) {
    if (isAbort(error) && signal?.aborted === true) {
      // Shutdown stopped the job: record that this start ended without failing, so it counts neither
      // as an attempt nor toward the redelivery limit, then requeue. If that append fails too, the
      // requeued copy carries the attempt and the next delivery records it.
      await recordInterrupted(deps, started.state, task.taskId, attempt, ErrorCode.WORKER_SHUTDOWN, 'The worker was stopped mid-job; the task was requeued.', meta(attempt, startedEventId)).then(
        () => {
          run.unrecordedAttempt = undefined;
        },
        (appendError: unknown) => log.warn({ err: appendError }, 'could not record the interrupted attempt'),
      );
      throw error;
    }
    if (isAbort(error) || isConnectionError(error)) throw error;
    const failure = error instanceof FramelogError ? error : new FramelogError(ErrorCode.TRANSCODE_FAILED, messageOf(error), { retryable: true, cause: error });
    const data = { taskId: task.taskId, code: failure.code, message: failure.message };
    if (!failure.retryable) {
      await appendOutcome(deps, started.state, { type: 'VideoFailed', data: { ...data, attempts: attempt } }, meta(attempt, startedEventId));
      log.warn({ code: failure.code, attempt }, 'task failed: not retryable');
      return { kind: 'ack' };
    }
    if (attempt >= deps.maxAttempts) {
      const message = `Gave up after ${attempt} attempts: ${failure.message}`;
      await appendOutcome(deps, started.state, { type: 'VideoFailed', data: { ...data, attempts: attempt, message } }, meta(attempt, startedEventId));
      log.error({ code: failure.code, attempt }, 'task failed: attempts exhausted');
      return { kind: 'dead-letter', reason: `${ErrorCode.MAX_ATTEMPTS}: ${message}` };
    }
    const delayMs = backoffDelayMs(attempt, deps.retryDelaysMs);
    const nextAttemptAt = new Date((deps.now?.() ?? new Date()).getTime() + delayMs).toISOString();
    await appendToStream(deps.db, {
      streamId: state.id,
      expectedVersion: started.state.version,
      state: started.state,
      events: [{ event: { type: 'ProcessingFailed', data: { ...data, attempt, retryable: true, nextAttemptAt } }, metadata: meta(attempt, startedEventId) }],
    });
    log.warn({ code: failure.code, attempt, delayMs }, 'attempt failed; retrying after backoff');
    return { kind: 'retry', delayMs };
  }

  await appendOutcome(deps, started.state, {
    type: 'VideoProcessed',
    data: { taskId: task.taskId, attempt, ...result, elapsedMs: Date.now() - startedAt },
  }, meta(attempt, startedEventId));
  log.info({ attempt, renditions: result.renditions.length }, 'task processed');
  return { kind: 'ack' };
}

/** Records that `attempt` ended without failing (ProcessingFailed, interrupted: true): it is not counted. */
async function recordInterrupted(deps: Pick<WorkerDeps, 'db'>, state: VideoState, taskId: string, attempt: number, code: ErrorCode, message: string, metadata: EventMetadata): Promise<VideoState> {
  const { state: next } = await appendToStream(deps.db, {
    streamId: state.id,
    expectedVersion: state.version,
    state,
    events: [{ event: { type: 'ProcessingFailed', data: { taskId, attempt, code, message, retryable: true, nextAttemptAt: null, interrupted: true } }, metadata }],
  });
  return next;
}

/**
 * Appends a terminal event. If a racing delivery moved the stream, reload: when the task already
 * has its outcome there is nothing to add (the database would refuse a second one anyway).
 */
export async function appendOutcome(deps: Pick<WorkerDeps, 'db'>, state: VideoState, event: VideoEvent, metadata: EventMetadata): Promise<void> {
  let current = state;
  for (let tries = 0; tries < 5; tries += 1) {
    try {
      await appendToStream(deps.db, { streamId: current.id, expectedVersion: current.version, state: current, events: [{ event, metadata }] });
      return;
    } catch (error) {
      if (error instanceof DuplicateOutcomeError) return;
      if (!(error instanceof ConcurrencyError) && !(error instanceof IllegalTransitionError)) throw error;
      const fresh = await loadVideo(deps.db, current.id);
      if (fresh === null || fresh.currentTaskId !== event.data.taskId || isTerminal(fresh.status)) return;
      current = fresh;
    }
  }
  throw new FramelogError(ErrorCode.CONCURRENCY_CONFLICT, `Could not record the outcome of task ${event.data.taskId}: the stream kept moving.`, { retryable: true });
}
