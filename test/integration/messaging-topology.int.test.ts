import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../services/domain/errors.js';
import { closeBroker, createBroker, type Broker } from '../../services/messaging/broker.js';
import { Names, buildBrokerConfig, qualify } from '../../services/messaging/topology.js';
import {
  brokerSettingsForTest,
  listBindings,
  listExchanges,
  listQueues,
  recordingLogger,
  removeNamespace,
  testNamespace,
  withChannel,
} from '../helpers/amqp.js';

const namespace = testNamespace();
const settings = brokerSettingsForTest(namespace, { deliveryLimit: 5, retryDelaysMs: [300, 1_000], requeueDelayMs: 100 });
const logger = recordingLogger();
let broker: Broker;

beforeAll(async () => {
  broker = await createBroker(buildBrokerConfig(settings), { logger });
});
afterAll(async () => {
  await closeBroker(broker);
  await removeNamespace(namespace, settings);
});

const q = (name: string) => qualify(namespace, name);

describe('topology', () => {
  it('names everything under the namespace, as Rascal does', () => {
    expect(broker.getFullyQualifiedName('/', Names.workQueue)).toBe(q(Names.workQueue));
    expect(broker.getFullyQualifiedName('/', Names.deadLetterExchange)).toBe(q(Names.deadLetterExchange));
  });

  it('declares the work queue as a durable quorum queue with delivery limit and at-least-once dead-lettering', async () => {
    const work = (await listQueues(namespace)).find((queue) => queue.name === q(Names.workQueue));
    expect(work).toEqual({
      name: q(Names.workQueue),
      type: 'quorum',
      durable: true,
      arguments: {
        'x-queue-type': 'quorum',
        'x-delivery-limit': 5,
        'x-dead-letter-exchange': q(Names.deadLetterExchange),
        'x-dead-letter-routing-key': Names.deadLetterRoutingKey,
        'x-dead-letter-strategy': 'at-least-once',
        'x-overflow': 'reject-publish',
      },
    });
  });

  it('declares the dead-letter queue and one delay queue per delay, each back to the work routing key', async () => {
    const queues = new Map((await listQueues(namespace)).map((queue) => [queue.name, queue]));
    expect(queues.get(q(Names.deadLetterQueue))).toMatchObject({ durable: true, type: 'classic' });
    expect(queues.get(q(Names.deadLetterWatchQueue))).toMatchObject({ durable: true, type: 'classic' });
    for (const ms of [100, 300, 1_000]) {
      expect(queues.get(q(`video_processing.delay.${ms}`))).toMatchObject({
        durable: true,
        arguments: { 'x-message-ttl': ms, 'x-dead-letter-exchange': q(Names.exchange), 'x-dead-letter-routing-key': Names.taskRoutingKey },
      });
    }
    expect(queues.size).toBe(6);
  });

  it('declares both exchanges as durable direct exchanges with their bindings', async () => {
    const exchanges = await listExchanges(namespace);
    expect(exchanges.sort((a, b) => a.name.localeCompare(b.name))).toEqual([
      { name: q(Names.exchange), type: 'direct', durable: true },
      { name: q(Names.deadLetterExchange), type: 'direct', durable: true },
    ]);
    const bindings = await listBindings(namespace);
    expect(bindings).toEqual(
      expect.arrayContaining([
        { source_name: q(Names.exchange), destination_name: q(Names.workQueue), routing_key: Names.taskRoutingKey },
        { source_name: q(Names.deadLetterExchange), destination_name: q(Names.deadLetterQueue), routing_key: Names.deadLetterRoutingKey },
        // Every dead letter is copied to the watch queue, which records VideoFailed where none was.
        { source_name: q(Names.deadLetterExchange), destination_name: q(Names.deadLetterWatchQueue), routing_key: Names.deadLetterRoutingKey },
      ]),
    );
    expect(bindings).toHaveLength(3);
  });

  it('is what an equivalent declaration finds, and a different delivery limit is refused', async () => {
    const args = {
      'x-queue-type': 'quorum',
      'x-delivery-limit': 5,
      'x-dead-letter-exchange': q(Names.deadLetterExchange),
      'x-dead-letter-routing-key': Names.deadLetterRoutingKey,
      'x-dead-letter-strategy': 'at-least-once',
      'x-overflow': 'reject-publish',
    };
    await withChannel((channel) => channel.assertQueue(q(Names.workQueue), { durable: true, arguments: args }));
    await expect(
      withChannel((channel) => channel.assertQueue(q(Names.workQueue), { durable: true, arguments: { ...args, 'x-delivery-limit': 6 } })),
    ).rejects.toThrow(/PRECONDITION_FAILED/);
  });
});

describe('broker lifecycle', () => {
  it('removeNamespace leaves nothing of a namespace behind', async () => {
    const other = testNamespace();
    const otherSettings = brokerSettingsForTest(other);
    await closeBroker(await createBroker(buildBrokerConfig(otherSettings), { logger }));
    expect(await listQueues(other)).not.toHaveLength(0);
    await removeNamespace(other);
    expect(await listQueues(other)).toEqual([]);
    expect(await listExchanges(other)).toEqual([]);
  });

  it('fails with a retryable BROKER_UNAVAILABLE when RabbitMQ cannot be reached', async () => {
    const unreachable = brokerSettingsForTest(testNamespace(), { amqpUrl: 'amqp://guest:guest@127.0.0.1:1' });
    await expect(createBroker(buildBrokerConfig(unreachable), { logger })).rejects.toMatchObject({
      code: ErrorCode.BROKER_UNAVAILABLE,
      retryable: true,
    });
  });

  it('keeps trying while asked to, and stops when the signal aborts', async () => {
    const unreachable = brokerSettingsForTest(testNamespace(), { amqpUrl: 'amqp://guest:guest@127.0.0.1:1' });
    const stop = new AbortController();
    const retrying = recordingLogger();
    const attempt = createBroker(buildBrokerConfig(unreachable), { logger: retrying, retryUntil: stop.signal });
    await retrying.waitFor((entry) => entry.level === 'warn' && entry.message.includes('retrying'));
    stop.abort();
    await expect(attempt).rejects.toMatchObject({ code: ErrorCode.BROKER_UNAVAILABLE });
  });
});
