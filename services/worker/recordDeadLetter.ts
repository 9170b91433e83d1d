import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { ErrorCode } from '../domain/errors.js';
import { TaskMessageSchema } from '../domain/task.js';
import { isTerminal } from '../domain/video.js';
import type { Db } from '../eventstore/db.js';
import { loadVideo } from '../eventstore/videos.js';
import type { Logger } from '../logger.js';
import type { DeadLetter } from '../messaging/deadLetterSubscriber.js';
import { appendOutcome } from './handleTask.js';

export interface DeadLetterDeps {
  db: Db;
  workerId: string;
  log: Logger;
}

/** The broker's reason for a quorum queue's delivery limit (x-first-death-reason). */
const DELIVERY_LIMIT_REASON = 'delivery_limit';

/**
 * Makes sure a dead-lettered task ends in a terminal event (DESIGN guarantee 1). Workers record
 * VideoFailed before they dead-letter a task themselves, so for those this finds the task finished
 * and does nothing; it matters when the broker dead-lettered the message on its own — its delivery
 * limit stopped a message whose deliveries all crashed, even the one that would have given up. A
 * body that is no task, an unknown video and a superseded task have nothing to record.
 */
export async function recordDeadLetter(deps: DeadLetterDeps, letter: DeadLetter): Promise<void> {
  const parsed = TaskMessageSchema.safeParse(letter.body);
  if (!parsed.success) return;
  const task = parsed.data;
  const state = await loadVideo(deps.db, task.videoId);
  if (state === null || state.currentTaskId !== task.taskId || isTerminal(state.status)) return;

  const limit = letter.reason === DELIVERY_LIMIT_REASON;
  const code = limit ? ErrorCode.REDELIVERY_LIMIT : ErrorCode.DEAD_LETTERED;
  const message = limit
    ? 'The broker stopped delivering the task: every delivery ended without an outcome (a worker crashed or was killed each time).'
    : `The task's message was dead-lettered (${letter.reason ?? 'no reason given'}) before any outcome was recorded.`;
  await appendOutcome(
    { db: deps.db },
    state,
    { type: 'VideoFailed', data: { taskId: task.taskId, attempts: state.attempts, code, message } },
    {
      correlationId: randomUUID(),
      // Message ids of framelog's tasks are event ids; anything else is no event to point at.
      causationId: z.uuid().safeParse(letter.messageId).success ? letter.messageId : null,
      taskId: task.taskId,
      actor: `worker:${deps.workerId}`,
      workerId: deps.workerId,
      attempt: state.attempts,
    },
  );
  deps.log.error({ videoId: task.videoId, taskId: task.taskId, code, reason: letter.reason }, 'recorded VideoFailed for a dead-lettered task');
}
