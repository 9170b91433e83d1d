import type { VideoState } from './video.js';
import { VideoStatus, isTerminal } from './video.js';

export type TaskDecision =
  | { kind: 'process'; attempt: number }
  /** Nothing to do: the task already has its outcome, or a newer task replaced it. Ack. */
  | { kind: 'skip'; reason: 'finished' | 'superseded' | 'not-uploaded' }
  /** Too many deliveries died without an outcome (a worker crash loop): fail the task. */
  | { kind: 'give-up'; attempts: number };

export interface TaskLimits {
  /** Deliveries that may end without any outcome (crashes) before the task is VideoFailed. */
  maxUnfinishedStarts: number;
}

/** What a worker should do with a delivered task, decided from the log alone. */
export function decideTask(state: VideoState, taskId: string, limits: TaskLimits): TaskDecision {
  if (state.currentTaskId !== taskId) return { kind: 'skip', reason: 'superseded' };
  if (isTerminal(state.status)) return { kind: 'skip', reason: 'finished' };
  // Only VideoUploaded enqueues a task: a message for a resumable upload still in flight is not one of ours.
  if (state.status === VideoStatus.UPLOADING) return { kind: 'skip', reason: 'not-uploaded' };
  if (state.unfinishedStarts >= limits.maxUnfinishedStarts) return { kind: 'give-up', attempts: state.attempts };
  return { kind: 'process', attempt: state.attempts + 1 };
}

/** Exponential backoff: the delay before attempt `attempt + 1`, capped at the last configured step. */
export function backoffDelayMs(attempt: number, delaysMs: readonly number[]): number {
  if (delaysMs.length === 0) return 0;
  const index = Math.min(Math.max(attempt - 1, 0), delaysMs.length - 1);
  return delaysMs[index] ?? 0;
}
