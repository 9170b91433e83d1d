import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { TaskRoutingKeys, parseTaskMessage, taskOutboxMessage } from '../../services/messaging/taskMessage.js';

describe('the task message contract', () => {
  const videoId = randomUUID();
  const taskId = randomUUID();

  it('publishes schema 2 with the kind, its routing key and nothing the worker does not read', () => {
    const message = taskOutboxMessage({ eventId: 'e1', kind: 'transcode', videoId, taskId, correlationId: 'c1' });
    expect(message).toEqual({ id: 'e1', routingKey: TaskRoutingKeys.transcode, payload: { schema: 2, kind: 'transcode', videoId, taskId }, headers: { correlationId: 'c1' } });
    expect(parseTaskMessage(message.payload)).toEqual({ ok: true, task: { kind: 'transcode', videoId, taskId } });
  });

  it('still reads schema 1 bodies (queued before the upgrade) as transcode tasks', () => {
    expect(parseTaskMessage({ schema: 1, videoId, taskId, storageKey: 'uploads/a/source', attempt: 1 })).toEqual({ ok: true, task: { kind: 'transcode', videoId, taskId } });
  });

  it('refuses an unknown kind or schema, naming the field', () => {
    expect(parseTaskMessage({ schema: 2, kind: 'paint', videoId, taskId })).toMatchObject({ ok: false, reason: expect.stringMatching(/^INVALID_MESSAGE: kind /) as unknown });
    expect(parseTaskMessage({ schema: 3, videoId, taskId })).toMatchObject({ ok: false, reason: expect.stringMatching(/^INVALID_MESSAGE: schema /) as unknown });
    expect(parseTaskMessage({ schema: 2, videoId, taskId })).toMatchObject({ ok: false });
  });
});
