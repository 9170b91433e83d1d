import type { VideoEvent } from '../../domain/events.js';
import type { NewEvent, OutboxMessage } from '../../eventstore/append.js';
import { taskOutboxMessage } from '../../messaging/taskMessage.js';

/** The task messages the API's events start (VideoUploaded, RetryRequested): each a `transcode` task. */
export function taskMessagesOf(videoId: string, correlationId: string): (events: readonly Required<NewEvent>[]) => OutboxMessage[] {
  return (events) => events.filter(({ event }) => startsTask(event)).map(({ eventId, event }) =>
    taskOutboxMessage({ eventId, kind: 'transcode', videoId, taskId: event.data.taskId, correlationId }));
}

const startsTask = (event: VideoEvent): boolean => event.type === 'VideoUploaded' || event.type === 'RetryRequested';
