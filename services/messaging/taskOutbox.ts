import type { TaskMessage } from '../domain/task.js';
import type { OutboxMessage } from '../eventstore/append.js';
import { HeaderNames, Names } from './topology.js';

export interface TaskOutboxInput {
  /** Id of the event that creates the task (VideoUploaded, RetryRequested): the message id. */
  eventId: string;
  videoId: string;
  taskId: string;
  storageKey: string;
  correlationId: string;
  traceparent?: string;
  /** Defaults to 1; the worker decides the real attempt number from the log. */
  attempt?: number;
}

/**
 * The outbox row for a task message, in the shape the relay publishes (DESIGN §4): message id = the
 * event id, so a republished row is recognisable as the same message.
 */
export function taskOutboxMessage(input: TaskOutboxInput): OutboxMessage {
  const payload: TaskMessage = {
    schema: 1,
    videoId: input.videoId,
    taskId: input.taskId,
    storageKey: input.storageKey,
    attempt: input.attempt ?? 1,
  };
  return {
    id: input.eventId,
    routingKey: Names.taskRoutingKey,
    payload,
    headers: {
      [HeaderNames.correlationId]: input.correlationId,
      ...(input.traceparent === undefined ? {} : { [HeaderNames.traceparent]: input.traceparent }),
    },
  };
}
