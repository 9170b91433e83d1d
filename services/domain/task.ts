import { z } from 'zod';
import type { VideoState } from './video.js';
import { isTerminal } from './video.js';

/** The body of a task message (DESIGN §4). `schema` lets a later format coexist with this one. */
export const TaskMessageSchema = z.object({
  schema: z.literal(1),
  videoId: z.uuid(),
  taskId: z.uuid(),
  storageKey: z.string().min(1),
  attempt: z.number().int().positive(),
});
export type TaskMessage = z.infer<typeof TaskMessageSchema>;

export type TaskDecision =
  | { kind: 'process'; attempt: number }
  /** Nothing to do: the task already has its outcome, or a newer task replaced it. Ack. */
  | { kind: 'skip'; reason: 'finished' | 'superseded' }
  /** Too many deliveries died without an outcome (a worker crash loop): fail the task. */
  | { kind: 'give-up'; attempts: number };

export interface TaskLimits {
  /** Attempts that may fail before the task is VideoFailed. */
  maxAttempts: number;
  /** Deliveries that may end without any outcome (crashes) before the task is VideoFailed. */
  maxUnfinishedStarts: number;
}

/** What a worker should do with a delivered task, decided from the log alone. */
export function decideTask(state: VideoState, taskId: string, limits: TaskLimits): TaskDecision {
  if (state.currentTaskId !== taskId) return { kind: 'skip', reason: 'superseded' };
  if (isTerminal(state.status)) return { kind: 'skip', reason: 'finished' };
  if (state.unfinishedStarts >= limits.maxUnfinishedStarts) return { kind: 'give-up', attempts: state.attempts };
  return { kind: 'process', attempt: state.attempts + 1 };
}

/** Exponential backoff: the delay before attempt `attempt + 1`, capped at the last configured step. */
export function backoffDelayMs(attempt: number, delaysMs: readonly number[]): number {
  if (delaysMs.length === 0) return 0;
  const index = Math.min(Math.max(attempt - 1, 0), delaysMs.length - 1);
  return delaysMs[index] ?? 0;
}
