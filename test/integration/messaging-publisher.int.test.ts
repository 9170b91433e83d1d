import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, FramelogError } from '../../services/domain/errors.js';
import type { TaskMessageBody as TaskMessage } from '../../services/messaging/taskMessage.js';
import { closeBroker, createBroker, type Broker } from '../../services/messaging/broker.js';
import { createTaskPublisher, type TaskPublisher } from '../../services/messaging/publisher.js';
import { Names, buildBrokerConfig } from '../../services/messaging/topology.js';
import {
  brokerSettingsForTest,
  closeConnections,
  drainQueue,
  getMessage,
  queueDepth,
  recordingLogger,
  removeNamespace,
  testNamespace,
} from '../helpers/amqp.js';

const namespace = testNamespace();
const settings = brokerSettingsForTest(namespace);
const logger = recordingLogger();
let broker: Broker;
let publisher: TaskPublisher;

beforeAll(async () => {
  broker = await createBroker(buildBrokerConfig(settings), { logger });
  publisher = createTaskPublisher(broker);
});
afterAll(async () => {
  await closeBroker(broker);
  await removeNamespace(namespace, settings);
});

const task = (): TaskMessage => ({ schema: 1, videoId: randomUUID(), taskId: randomUUID(), storageKey: 'sources/a.mp4', attempt: 1 });

describe('task publisher', () => {
  it('delivers a persistent JSON message with its id, correlation id and trace context', async () => {
    const body = task();
    const messageId = randomUUID();
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    await publisher.publishTask(body, { messageId, correlationId: 'corr-1', traceparent, headers: { origin: 'test' } });

    // Resolved only after the confirm, so the message is already in the queue: no waiting needed.
    const message = await getMessage(namespace, Names.workQueue);
    expect(message).not.toBeNull();
    expect(JSON.parse(message!.content.toString())).toEqual(body);
    expect(message!.fields.routingKey).toBe(Names.taskRoutingKey);
    expect(message!.properties).toMatchObject({
      deliveryMode: 2,
      messageId,
      correlationId: 'corr-1',
      contentType: 'application/json',
    });
    expect(message!.properties.headers).toMatchObject({ correlationId: 'corr-1', traceparent, origin: 'test' });
  });

  it('omits the trace context header when there is none', async () => {
    await publisher.publishTask(task(), { messageId: randomUUID(), correlationId: 'corr-2' });
    const message = await getMessage(namespace, Names.workQueue);
    expect(message!.properties.headers).not.toHaveProperty('traceparent');
  });

  it('rejects an unroutable message with a retryable BROKER_UNAVAILABLE', async () => {
    const messageId = randomUUID();
    const failure = publisher.publishMessage('no.such.route', task(), { messageId, correlationId: 'corr-3' });
    await expect(failure).rejects.toBeInstanceOf(FramelogError);
    await expect(failure).rejects.toMatchObject({ code: ErrorCode.BROKER_UNAVAILABLE, retryable: true, details: { messageId } });
    await expect(failure).rejects.toThrow(/unroutable/);
    expect(await queueDepth(namespace, Names.workQueue)).toBe(0);
  });

  it('publishes many messages concurrently, each confirmed once', async () => {
    const ids = Array.from({ length: 300 }, () => randomUUID());
    await Promise.all(ids.map((messageId) => publisher.publishTask(task(), { messageId, correlationId: messageId })));
    const received = (await drainQueue(namespace, Names.workQueue)).map((message) => message.properties.messageId as string);
    expect(received.sort()).toEqual([...ids].sort());
  });

  it('rejects at once while the connection is down, and publishes again once Rascal reconnected', async () => {
    const reconnects = logger.entries.filter((entry) => entry.message === 'RabbitMQ reconnected').length;
    expect(await closeConnections(namespace)).toBe(1);
    await logger.waitFor((entry) => entry.message.startsWith('RabbitMQ disconnected'));

    // Rascal would hold this publish until it reconnects (at least a second away); it fails instead.
    const started = Date.now();
    await expect(publisher.publishTask(task(), { messageId: randomUUID(), correlationId: 'down' })).rejects.toThrow(/connection is down/);
    expect(Date.now() - started).toBeLessThan(500);

    await logger.waitFor((entry) => entry.message === 'RabbitMQ reconnected' && logger.entries.filter((e) => e.message === entry.message).length > reconnects);
    const messageId = randomUUID();
    await publisher.publishTask(task(), { messageId, correlationId: 'up' });
    expect((await getMessage(namespace, Names.workQueue))?.properties.messageId).toBe(messageId);
    // The aborted publish was dropped, not sent late.
    expect(await queueDepth(namespace, Names.workQueue)).toBe(0);
  });
});
