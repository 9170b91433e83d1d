import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { decide, type TaskPolicy, type VideoCommand } from '../domain/decide.js';
import type { Db } from '../eventstore/db.js';
import type { VideoState } from '../domain/video.js';
import { handleCommand } from '../eventstore/handleCommand.js';
import type { TaskLeases } from '../eventstore/taskLease.js';
import { videoStream } from '../eventstore/videoStream.js';
import type { Logger } from '../logger.js';
import type { MediaProcessor } from '../media/processVideo.js';
import type { DeadLetter } from '../messaging/deadLetterSubscriber.js';
import { parseTaskMessage, type TaskMessage } from '../messaging/taskMessage.js';
import { removeTemps } from './handleTask.js';
import { recordSegmentDeadLetter, type SplitDeps } from './splitTasks.js';

export interface DeadLetterDeps {
  db: Db;
  leases: TaskLeases;
  /** Removes the video's temp files once VideoFailed is recorded. */
  processor: Pick<MediaProcessor, 'removeTemps'>;
  /** Split and stitch: a dead-lettered segment fails its video, and its range sets are removed then. */
  split?: SplitDeps;
  workerId: string;
  log: Logger;
}

/** RecordDeadLetter needs no task policy: it never retries. */
const NO_RETRIES: TaskPolicy = { maxAttempts: 1, deliveryLimit: 1, retryDelaysMs: [] };

/**
 * Makes sure a dead-lettered task ends in a terminal event (DESIGN guarantee 1); what to record is
 * decided by `decide` (RecordDeadLetter). A body that is no task, and headers that are no task
 * message's (a damaged or forged copy: framelog's own always pass), have nothing to record; nor has a
 * task whose attempt is alive: the letter was a copy, and the live attempt's own delivery will end it.
 */
export async function recordDeadLetter(deps: DeadLetterDeps, letter: DeadLetter): Promise<void> {
  const parsed = parseTaskMessage(letter.body);
  if (!parsed.ok || letter.invalidHeaders !== null) return;
  const { task } = parsed;
  // Held while recording, so no attempt of the task starts meanwhile (it would ack as a copy, rightly:
  // the task is about to end here).
  const lease = await deps.leases.tryAcquire(task.taskId);
  if (lease === null) {
    deps.log.info({ videoId: task.videoId, taskId: task.taskId, reason: letter.reason }, 'a dead-lettered copy of a task whose attempt is alive; nothing to record');
    return;
  }
  try {
    if (task.kind === 'segment') await recordSegmentDeadLetter(deps, task.taskId, task.videoId, letter.reason);
    else await recordFailed(deps, task, letter);
  } finally {
    await lease.release();
  }
}

async function recordFailed(deps: DeadLetterDeps, task: TaskMessage, letter: DeadLetter): Promise<void> {
  const { videoId, taskId } = task;
  const command: VideoCommand = { type: 'RecordDeadLetter', videoId, taskId, reason: letter.reason };
  const { events } = await handleCommand(deps.db, videoId, { type: videoStream, decide: (c: VideoCommand, s: VideoState | null) => decide(c, s, NO_RETRIES, new Date()) }, command, {
    metadata: (event) => ({
      correlationId: randomUUID(),
      // Message ids of framelog's tasks are event ids; anything else is no event to point at.
      causationId: z.uuid().safeParse(letter.messageId).success ? letter.messageId : null,
      taskId,
      actor: `worker:${deps.workerId}`,
      workerId: deps.workerId,
      attempt: event.type === 'VideoFailed' ? event.data.attempts : null,
    }),
  });
  const failed = events.find((e) => e.type === 'VideoFailed');
  if (failed?.type === 'VideoFailed') {
    await removeTemps(deps, videoId);
    deps.log.error({ videoId, taskId, code: failed.data.code, reason: letter.reason }, 'recorded VideoFailed for a dead-lettered task');
  }
}
