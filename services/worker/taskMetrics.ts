import type { Metrics } from '../metrics.js';
import type { TaskOutcome } from '../messaging/subscriber.js';

/**
 * Counts and times one delivery by what became of its message. Wraps handleTask from the outside, so
 * the handler stays free of metrics; `error` is a handler failure the subscriber has to deal with.
 */
export async function measureTask(metrics: Metrics, run: () => Promise<TaskOutcome>): Promise<TaskOutcome> {
  const stop = metrics.taskDuration.startTimer();
  let outcome: TaskOutcome['kind'] | 'error' = 'error';
  try {
    const result = await run();
    outcome = result.kind;
    if (result.kind === 'retry') metrics.retries.inc();
    return result;
  } finally {
    metrics.tasks.inc({ outcome });
    stop({ outcome });
  }
}
