import type { EventMetadata, VideoEvent } from '../../domain/events.js';
import type { NewEvent, OutboxMessage } from '../../eventstore/append.js';
import { taskOutboxMessage } from '../../messaging/taskMessage.js';

/** What ties an API command to its request: recorded in the events' metadata and the task message's headers. */
export interface RequestTrace {
  actor: string;
  correlationId: string;
  /** The request's W3C trace context, if it sent one. */
  traceparent?: string;
}

/** The metadata of an event an API command appends for `taskId`. */
export const requestMetadata = (trace: RequestTrace, taskId: string): EventMetadata => ({
  correlationId: trace.correlationId,
  causationId: null,
  taskId,
  actor: trace.actor,
  ...(trace.traceparent === undefined ? {} : { traceparent: trace.traceparent }),
});

/** The task messages the API's events start (VideoUploaded, RetryRequested): each a `transcode` task. */
export function taskMessagesOf(videoId: string, trace: RequestTrace): (events: readonly Required<NewEvent>[]) => OutboxMessage[] {
  const { correlationId, traceparent } = trace;
  return (events) => events.filter(({ event }) => startsTask(event)).map(({ eventId, event }) =>
    taskOutboxMessage({ eventId, kind: 'transcode', videoId, taskId: event.data.taskId, correlationId, ...(traceparent === undefined ? {} : { traceparent }) }));
}

const startsTask = (event: VideoEvent): boolean => event.type === 'VideoUploaded' || event.type === 'RetryRequested';
