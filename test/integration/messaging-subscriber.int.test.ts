import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TaskMessageBody as TaskMessage } from '../../services/messaging/taskMessage.js';
import { closeBroker, createBroker, type Broker } from '../../services/messaging/broker.js';
import { createTaskPublisher, type TaskPublisher } from '../../services/messaging/publisher.js';
import { subscribeTasks, type TaskDelivery, type TaskOutcome, type TaskSubscription } from '../../services/messaging/subscriber.js';
import { HeaderNames } from '../../services/messaging/taskMessage.js';
import { Names, buildBrokerConfig, delayQueueName, qualify } from '../../services/messaging/topology.js';
import {
  brokerSettingsForTest,
  getMessage,
  listConsumers,
  listQueues,
  publishRaw,
  queueDepth,
  recordingLogger,
  removeNamespace,
  testNamespace,
  withChannel,
} from '../helpers/amqp.js';
import { waitFor } from '../helpers/processes.js';

const namespace = testNamespace();
const settings = brokerSettingsForTest(namespace, { deliveryLimit: 2, retryDelaysMs: [300, 1_000], requeueDelayMs: 100 });
let broker: Broker;
let publisher: TaskPublisher;
let subscription: TaskSubscription | undefined;
const logger = recordingLogger();

beforeAll(async () => {
  broker = await createBroker(buildBrokerConfig(settings), { logger });
  publisher = createTaskPublisher(broker);
});
afterEach(async () => {
  await subscription?.cancel();
  subscription = undefined;
  const queues = await listQueues(namespace);
  await withChannel(async (channel) => {
    for (const queue of queues) await channel.purgeQueue(queue.name);
  });
});
afterAll(async () => {
  await closeBroker(broker);
  await removeNamespace(namespace, settings);
});

type Step = TaskOutcome | Error | (() => Promise<TaskOutcome>);
interface Recorded extends TaskDelivery {
  at: number;
}

/** A handler that plays `steps` in order (then acks), recording each delivery with its time. */
function scriptedHandler(steps: Step[]) {
  const deliveries: Recorded[] = [];
  const waiters = new Set<() => void>();
  return {
    deliveries,
    async handle(delivery: TaskDelivery): Promise<TaskOutcome> {
      deliveries.push({ ...delivery, at: Date.now() });
      for (const wake of [...waiters]) wake();
      const step = steps.shift() ?? { kind: 'ack' };
      if (step instanceof Error) throw step;
      return typeof step === 'function' ? step() : step;
    },
    /** Resolves once `count` deliveries have reached the handler. */
    received(count: number, timeoutMs = 15_000): Promise<Recorded[]> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${deliveries.length} of ${count} deliveries within ${timeoutMs} ms`)), timeoutMs);
        const check = () => {
          if (deliveries.length < count) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(deliveries);
        };
        waiters.add(check);
        check();
      });
    },
  };
}

const task = (): TaskMessage => ({ schema: 1, videoId: randomUUID(), taskId: randomUUID(), storageKey: 'sources/x.mp4', attempt: 1 });

async function publish(body: TaskMessage = task()): Promise<string> {
  const messageId = randomUUID();
  await publisher.publishTask(body, { messageId, correlationId: `corr-${messageId}` });
  return messageId;
}

async function subscribe(handler: ReturnType<typeof scriptedHandler>): Promise<TaskSubscription> {
  subscription = await subscribeTasks(broker, (delivery) => handler.handle(delivery), logger);
  return subscription;
}

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('task subscriber', () => {
  it('takes one message at a time with manual ack (prefetch 1)', async () => {
    const gate = deferred();
    const handler = scriptedHandler([
      async () => {
        await gate.promise;
        return { kind: 'ack' };
      },
    ]);
    const first = await publish();
    const second = await publish();
    await subscribe(handler);

    await handler.received(1);
    // The first is in hand and unacked: the second must still be waiting in the queue.
    expect(await queueDepth(namespace, Names.workQueue)).toBe(1);
    expect(handler.deliveries).toHaveLength(1);
    expect(await listConsumers(namespace)).toEqual([
      { queue_name: qualify(namespace, Names.workQueue), prefetch_count: 1, ack_required: true },
    ]);

    gate.resolve();
    const deliveries = await handler.received(2);
    expect(deliveries.map((d) => d.messageId)).toEqual([first, second]);
    expect(deliveries[0]).toMatchObject({ correlationId: `corr-${first}`, deliveryCount: 0, redelivered: false, traceparent: null });
  });

  it('hands the handler the parsed body and the message properties', async () => {
    const body = task();
    const messageId = randomUUID();
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const handler = scriptedHandler([]);
    await publisher.publishTask(body, { messageId, correlationId: 'corr-x', traceparent });
    await subscribe(handler);
    const [delivery] = await handler.received(1);
    expect(delivery).toMatchObject({ body, messageId, correlationId: 'corr-x', traceparent, deliveryCount: 0, redelivered: false });
  });

  it('retries through the delay queue, coming back no sooner than the delay', async () => {
    // 250 ms is served by the 300 ms delay queue: the shortest one at least as long.
    const handler = scriptedHandler([{ kind: 'retry', delayMs: 250 }]);
    const id = await publish();
    await subscribe(handler);
    const [first, second] = await handler.received(2);
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(300);
    // A new message: the retry does not use up the delivery limit.
    expect(second).toMatchObject({ messageId: id, body: first!.body, deliveryCount: 0, redelivered: false });
    await subscription!.cancel();
    expect(await queueDepth(namespace, Names.workQueue)).toBe(0);
    expect(await queueDepth(namespace, delayQueueName(300))).toBe(0);
  });

  it('dead-letters with the reason in a header, and the message is not redelivered', async () => {
    const body = task();
    const handler = scriptedHandler([{ kind: 'dead-letter', reason: 'INVALID_MESSAGE: no video' }]);
    const id = await publish(body);
    await subscribe(handler);
    await handler.received(1);
    await waitFor(async () => (await queueDepth(namespace, Names.deadLetterQueue)) === 1, { timeoutMs: 10_000, message: 'the dead letter' });
    const dead = await getMessage(namespace, Names.deadLetterQueue);
    expect(dead!.properties.messageId).toBe(id);
    expect(dead!.properties.headers?.[HeaderNames.deadLetterReason]).toBe('INVALID_MESSAGE: no video');
    expect(JSON.parse(dead!.content.toString())).toEqual(body);
    // Cancelling returns any unacked message to the queue: an empty queue proves the original was acked.
    await subscription!.cancel();
    expect(await queueDepth(namespace, Names.workQueue)).toBe(0);
    expect(handler.deliveries).toHaveLength(1);
  });

  it('dead-letters content that is not JSON and keeps consuming', async () => {
    await publishRaw(namespace, Names.exchange, Names.taskRoutingKey, Buffer.from('not json {'), {
      messageId: 'garbage',
      contentType: 'text/plain',
      persistent: true,
    });
    const valid = await publish();
    const handler = scriptedHandler([]);
    await subscribe(handler);

    const [delivery] = await handler.received(1);
    expect(delivery!.messageId).toBe(valid);
    await waitFor(async () => (await queueDepth(namespace, Names.deadLetterQueue)) === 1, { timeoutMs: 10_000, message: 'the dead letter' });
    const dead = await getMessage(namespace, Names.deadLetterQueue);
    expect(dead!.properties.messageId).toBe('garbage');
    expect(String(dead!.properties.headers?.[HeaderNames.deadLetterReason])).toMatch(/^invalid content/);
    expect(dead!.content.toString()).toBe('not json {');
  });

  it('requeues without counting a failed delivery; a throwing handler is redelivered later and counted', async () => {
    const handler = scriptedHandler([{ kind: 'requeue' }, new Error('handler bug'), { kind: 'requeue' }]);
    const id = await publish();
    await subscribe(handler);
    const deliveries = await handler.received(4);

    expect(deliveries.map((d) => d.messageId)).toEqual([id, id, id, id]);
    // requeue: 0 → 0; throw (nack with requeue, counted by the quorum queue): 0 → 1; requeue after a
    // counted failure: a fresh message again, its count not carried over.
    expect(deliveries.map((d) => d.deliveryCount)).toEqual([0, 0, 1, 0]);
    expect(deliveries.map((d) => d.redelivered)).toEqual([false, false, true, false]);
    // Every way back waited at least the requeue delay: no tight loop.
    for (let i = 1; i < deliveries.length; i += 1) {
      expect(deliveries[i]!.at - deliveries[i - 1]!.at).toBeGreaterThanOrEqual(settings.requeueDelayMs);
    }
  });

  it('stops a message that fails every delivery at the delivery limit, dead-lettered by the broker', async () => {
    const failures = Array.from({ length: 10 }, () => new Error('crash'));
    const handler = scriptedHandler(failures);
    const id = await publish();
    await subscribe(handler);
    await waitFor(async () => (await queueDepth(namespace, Names.deadLetterQueue)) === 1, { timeoutMs: 15_000, message: 'the broker to dead-letter' });
    const dead = await getMessage(namespace, Names.deadLetterQueue);
    expect(dead!.properties.messageId).toBe(id);
    expect(dead!.properties.headers?.['x-first-death-reason']).toBe('delivery_limit');
    // First delivery plus `deliveryLimit` (2) redeliveries.
    expect(handler.deliveries.map((d) => d.deliveryCount)).toEqual([0, 1, 2]);
  });

  it('cancel() stops new deliveries and waits for the message in hand to be settled', async () => {
    const order: string[] = [];
    const gate = deferred();
    const handler = scriptedHandler([
      async () => {
        await gate.promise;
        order.push('settled');
        return { kind: 'requeue' };
      },
    ]);
    const id = await publish();
    const active = await subscribe(handler);
    await handler.received(1);

    const cancelled = active.cancel().then(() => order.push('cancelled'));
    gate.resolve();
    await cancelled;
    expect(order).toEqual(['settled', 'cancelled']);
    expect(await listConsumers(namespace)).toEqual([]);

    // The requeued message comes back to the queue, and nobody takes it any more.
    await waitFor(async () => (await queueDepth(namespace, Names.workQueue)) === 1, { timeoutMs: 10_000, message: 'the requeued message' });
    expect(handler.deliveries).toHaveLength(1);
    const back = await getMessage(namespace, Names.workQueue);
    expect(back!.properties.messageId).toBe(id);
    // Requeued as a new message: no failed delivery counted (basic.get may report the count as 0).
    expect(Number(back!.properties.headers?.[HeaderNames.deliveryCount] ?? 0)).toBe(0);
  });
});
