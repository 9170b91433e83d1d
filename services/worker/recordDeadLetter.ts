import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { decide, type TaskPolicy, type VideoCommand } from '../domain/decide.js';
import type { Db } from '../eventstore/db.js';
import type { VideoState } from '../domain/video.js';
import { handleCommand } from '../eventstore/handleCommand.js';
import { videoStream } from '../eventstore/videoStream.js';
import type { Logger } from '../logger.js';
import type { DeadLetter } from '../messaging/deadLetterSubscriber.js';
import { parseTaskMessage } from '../messaging/taskMessage.js';

export interface DeadLetterDeps {
  db: Db;
  workerId: string;
  log: Logger;
}

/** RecordDeadLetter needs no task policy: it never retries. */
const NO_RETRIES: TaskPolicy = { maxAttempts: 1, deliveryLimit: 1, retryDelaysMs: [] };

/**
 * Makes sure a dead-lettered task ends in a terminal event (DESIGN guarantee 1); what to record is
 * decided by `decide` (RecordDeadLetter). A body that is no task has nothing to record.
 */
export async function recordDeadLetter(deps: DeadLetterDeps, letter: DeadLetter): Promise<void> {
  const parsed = parseTaskMessage(letter.body);
  if (!parsed.ok) return;
  const { videoId, taskId } = parsed.task;
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
    deps.log.error({ videoId, taskId, code: failed.data.code, reason: letter.reason }, 'recorded VideoFailed for a dead-lettered task');
  }
}
