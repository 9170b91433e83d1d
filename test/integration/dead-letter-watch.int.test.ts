import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VideoEvent } from '../../services/domain/events.js';
import { appendToStream } from '../../services/eventstore/append.js';
import { createTaskLeases } from '../../services/eventstore/taskLease.js';
import { loadVideo } from '../../services/eventstore/videos.js';
import { createLogger } from '../../services/logger.js';
import { closeBroker, createBroker, type Broker } from '../../services/messaging/broker.js';
import { subscribeDeadLetters, type DeadLetterSubscription } from '../../services/messaging/deadLetterSubscriber.js';
import { Names, buildBrokerConfig, qualify } from '../../services/messaging/topology.js';
import { createNoopProcessor } from '../../services/worker/noopProcessor.js';
import { recordDeadLetter } from '../../services/worker/recordDeadLetter.js';
import { brokerSettingsForTest, drainQueue, publishRaw, queueDepth, recordingLogger, removeNamespace, testNamespace, withChannel } from '../helpers/amqp.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { started, uploaded } from '../helpers/events.js';
import { waitFor } from '../helpers/processes.js';

// Gap closed here: the broker's delivery limit dead-letters a crash-looping message on its own (even
// its give-up delivery crashed), so no worker recorded an outcome; the watcher must record VideoFailed.
const namespace = testNamespace();
const settings = brokerSettingsForTest(namespace, { deliveryLimit: 1 });
let database: TestDatabase;
let broker: Broker;
let watcher: DeadLetterSubscription;
const log = createLogger('test', 'silent');

beforeAll(async () => {
  database = await createTestDatabase();
  broker = await createBroker(buildBrokerConfig(settings), { logger: recordingLogger() });
  watcher = await subscribeDeadLetters(broker, (letter) => recordDeadLetter({ db: database.db, leases: createTaskLeases(database.pool), processor: createNoopProcessor(), workerId: 'watcher', log }, letter), recordingLogger(), 100);
});
afterAll(async () => {
  await watcher?.cancel();
  if (broker) await closeBroker(broker);
  await removeNamespace(namespace, settings);
  await database?.drop();
});

async function videoWith(events: VideoEvent[]): Promise<{ videoId: string; taskId: string }> {
  const videoId = randomUUID();
  const taskId = randomUUID();
  let state = null;
  for (const event of [uploaded(taskId), ...events.map((e) => ({ ...e, data: { ...e.data, taskId } }) as VideoEvent)]) {
    ({ state } = await appendToStream(database.db, { streamId: videoId, expectedVersion: state?.version ?? 0, state, events: [{ event, metadata: { correlationId: randomUUID(), actor: 'test' } }] }));
  }
  return { videoId, taskId };
}

const taskBody = (videoId: string, taskId: string) => Buffer.from(JSON.stringify({ schema: 1, videoId, taskId, storageKey: 'uploads/x/source', attempt: 1 }));

/** Plays a worker that dies on every delivery: nack with requeue until the broker gives up. */
async function crashEveryDelivery(): Promise<number> {
  return withChannel(async (channel) => {
    let deliveries = 0;
    for (;;) {
      const message = await channel.get(qualify(namespace, Names.workQueue), { noAck: false });
      if (message) {
        deliveries += 1;
        channel.nack(message, false, true);
        continue;
      }
      // Nothing ready: the message is either being requeued or was dead-lettered.
      if ((await channel.checkQueue(qualify(namespace, Names.workQueue))).messageCount === 0 && (await queueDepth(namespace, Names.deadLetterQueue)) > 0) return deliveries;
    }
  });
}

describe('dead-letter watcher', () => {
  it('records VideoFailed REDELIVERY_LIMIT for a task the broker dead-lettered with no outcome, and the DLQ keeps the message', async () => {
    const { videoId, taskId } = await videoWith([started(randomUUID())]);
    await publishRaw(namespace, Names.exchange, Names.taskRoutingKey, taskBody(videoId, taskId), { persistent: true, contentType: 'application/json', messageId: randomUUID() });

    expect(await crashEveryDelivery()).toBe(settings.deliveryLimit + 1);
    const state = await waitFor(async () => {
      const video = await loadVideo(database.db, videoId);
      return video?.status === 'FAILED' ? video : null;
    }, { message: 'VideoFailed recorded by the watcher' });
    expect(state.lastError).toMatchObject({ code: 'REDELIVERY_LIMIT', retryable: false });
    await waitFor(async () => (await queueDepth(namespace, Names.deadLetterWatchQueue)) === 0, { message: 'watch queue drained' });
    const dead = await drainQueue(namespace, Names.deadLetterQueue);
    expect(dead).toHaveLength(1);
    expect(dead[0]!.properties.headers?.['x-first-death-reason']).toBe('delivery_limit');
  });

  it('leaves a task alone that already has its outcome (a worker dead-lettered it after recording VideoFailed)', async () => {
    const { videoId, taskId } = await videoWith([started(randomUUID()), { type: 'VideoFailed', data: { taskId: randomUUID(), attempts: 1, code: 'MAX_ATTEMPTS', message: 'gave up' } }]);
    const before = await loadVideo(database.db, videoId);
    await publishRaw(namespace, Names.deadLetterExchange, Names.deadLetterRoutingKey, taskBody(videoId, taskId), { persistent: true, messageId: randomUUID(), headers: { 'framelog-dead-letter-reason': 'MAX_ATTEMPTS: gave up' } });
    await publishRaw(namespace, Names.deadLetterExchange, Names.deadLetterRoutingKey, Buffer.from('not json'), { persistent: true });
    await waitFor(async () => (await queueDepth(namespace, Names.deadLetterWatchQueue)) === 0 && (await queueDepth(namespace, Names.deadLetterQueue)) === 2, { message: 'watch queue drained' });
    expect((await loadVideo(database.db, videoId))?.version).toBe(before?.version);
    expect(await drainQueue(namespace, Names.deadLetterQueue)).toHaveLength(2);
  });

  /** Dead-letters a copy of the task of `videoId` as the broker would, and waits until the watcher has seen it. */
  async function deadLetterCopy(videoId: string, taskId: string, properties: { messageId: string; correlationId?: string; headers?: Record<string, unknown> }): Promise<void> {
    await publishRaw(namespace, Names.deadLetterExchange, Names.deadLetterRoutingKey, taskBody(videoId, taskId), {
      persistent: true,
      ...properties,
      headers: { 'x-first-death-reason': 'delivery_limit', ...properties.headers },
    });
    await waitFor(async () => (await queueDepth(namespace, Names.deadLetterWatchQueue)) === 0 && (await queueDepth(namespace, Names.deadLetterQueue)) === 1, { message: 'watch queue drained' });
    await drainQueue(namespace, Names.deadLetterQueue);
  }

  it('records nothing for a dead-lettered copy while the task\'s attempt is alive (it holds the lease)', async () => {
    const { videoId, taskId } = await videoWith([started(randomUUID())]);
    const before = await loadVideo(database.db, videoId);
    const live = await createTaskLeases(database.pool).tryAcquire(taskId);
    expect(live).not.toBeNull();
    try {
      await deadLetterCopy(videoId, taskId, { messageId: randomUUID() });
      expect((await loadVideo(database.db, videoId))?.version).toBe(before?.version);
    } finally {
      await live?.release();
    }
  });

  it('records nothing for a dead letter whose headers are no task message\'s (d02: a damaged or forged copy)', async () => {
    const { videoId, taskId } = await videoWith([started(randomUUID())]);
    const before = await loadVideo(database.db, videoId);
    await deadLetterCopy(videoId, taskId, { messageId: randomUUID(), correlationId: 'not-a-uuid', headers: { correlationId: 'not-a-uuid' } });
    expect((await loadVideo(database.db, videoId))?.version).toBe(before?.version);
  });
});
