import { randomUUID } from 'node:crypto';
import type { VideoEvent } from '../../services/domain/events.js';
import { appendToStream, type AppendResult } from '../../services/eventstore/append.js';
import type { Db } from '../../services/eventstore/db.js';
import { failedAttempt, metadata, processed, retryRequested, started, uploaded, videoFailed } from './events.js';

/** A new stream with these events, appended through the real inline projection in one transaction. */
export async function appendStream(db: Db, events: readonly VideoEvent[], streamId: string = randomUUID()): Promise<AppendResult> {
  return appendToStream(db, { streamId, expectedVersion: 0, state: null, events: events.map((event) => ({ event, metadata: metadata() })) });
}

/**
 * An evolve-valid history of exactly `length` events (≥ 3): upload, then failed tasks redriven by
 * RetryRequested, ending PROCESSED when the length allows it.
 */
export function historyOf(length: number): VideoEvent[] {
  let task = randomUUID();
  const events: VideoEvent[] = [uploaded(task)];
  // Each retry cycle: ProcessingStarted, VideoFailed, RetryRequested (3 events).
  while (length - events.length >= 5) {
    events.push(started(task), videoFailed(task));
    task = randomUUID();
    events.push(retryRequested(task));
  }
  const left = length - events.length;
  if (left === 2) events.push(started(task), processed(task));
  if (left === 3) events.push(started(task), failedAttempt(task), started(task, 2));
  if (left === 4) events.push(started(task), failedAttempt(task), started(task, 2), processed(task, 2));
  if (left === 1) events.push(started(task));
  return events;
}

/** Runs `work` over `items` with at most `concurrency` at once. */
export async function inParallel<T>(items: readonly T[], concurrency: number, work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const item = items[next] as T;
        next += 1;
        await work(item);
      }
    }),
  );
}
