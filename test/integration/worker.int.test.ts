import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VideoEvent } from '../../services/domain/events.js';
import type { VideoState } from '../../services/domain/video.js';
import { appendToStream } from '../../services/eventstore/append.js';
import { createTaskLeases } from '../../services/eventstore/taskLease.js';
import { createLogger } from '../../services/logger.js';
import { closeBroker, createBroker, type Broker } from '../../services/messaging/broker.js';
import { subscribeTasks, type TaskDelivery, type TaskSubscription } from '../../services/messaging/subscriber.js';
import { Names, buildBrokerConfig } from '../../services/messaging/topology.js';
import type { MediaProcessor } from '../../services/media/processVideo.js';
import { taskHeadersProblem } from '../../services/messaging/taskMessage.js';
import { handleTask, type WorkerDeps } from '../../services/worker/handleTask.js';
import { createNoopProcessor } from '../../services/worker/noopProcessor.js';
import { brokerSettingsForTest, publishRaw, recordingLogger, removeNamespace, testNamespace } from '../helpers/amqp.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { started, uploaded } from '../helpers/events.js';
import { waitFor } from '../helpers/processes.js';

// A worker that could not record how an attempt ended (database down) requeues the task "without
// counting a failure": the requeued copy names the attempt, and the next delivery records it as
// interrupted instead of letting it count as a crashed delivery.
const namespace = testNamespace();
const settings = brokerSettingsForTest(namespace);
let database: TestDatabase;
let broker: Broker;
let subscription: TaskSubscription | undefined;

beforeAll(async () => {
  database = await createTestDatabase();
  broker = await createBroker(buildBrokerConfig(settings), { logger: recordingLogger() });
});
afterAll(async () => {
  await subscription?.cancel();
  if (broker) await closeBroker(broker);
  await removeNamespace(namespace, settings);
  await database?.drop();
});

const deps = (deliveryLimit: number): WorkerDeps => ({
  db: database.db,
  leases: createTaskLeases(database.pool),
  processor: createNoopProcessor(),
  workerId: 'w-test',
  maxAttempts: 5,
  deliveryLimit,
  retryDelaysMs: [100],
  log: createLogger('test', 'silent'),
});

/** A video whose attempt 1 started and never recorded an end, as a database outage leaves it. */
async function videoWithUnfinishedStart(): Promise<{ state: VideoState; body: unknown }> {
  const videoId = randomUUID();
  const taskId = randomUUID();
  let state: VideoState | null = null;
  for (const event of [uploaded(taskId), started(taskId, 1)] as VideoEvent[]) {
    ({ state } = await appendToStream(database.db, { streamId: videoId, expectedVersion: state?.version ?? 0, state, events: [{ event, metadata: { correlationId: randomUUID(), actor: 'test' } }] }));
  }
  return { state: state!, body: { schema: 1, videoId, taskId, storageKey: 'uploads/x/source', attempt: 1 } };
}

const typesOf = async (id: string) =>
  (await database.db.selectFrom('events').select(['type', 'data']).where('stream_id', '=', id).orderBy('version').execute()).map((e) => ({ type: e.type, data: e.data as Record<string, unknown> }));

describe('requeue after an attempt the worker could not record', () => {
  it('the next delivery records it as interrupted, so it counts neither as an attempt nor as a crash', async () => {
    const { state, body } = await videoWithUnfinishedStart();
    // With a delivery limit of 1, the unfinished start alone would make this delivery give up.
    const outcome = await handleTask(deps(1), { body, messageId: randomUUID(), correlationId: null, interruptedAttempt: 1 });
    expect(outcome).toEqual({ kind: 'ack' });
    const events = await typesOf(state.id);
    expect(events.map((e) => e.type)).toEqual(['VideoUploaded', 'ProcessingStarted', 'ProcessingFailed', 'ProcessingStarted', 'VideoProcessed']);
    expect(events[2]!.data).toMatchObject({ attempt: 1, interrupted: true, code: 'DATABASE_UNAVAILABLE' });
    expect(events[3]!.data).toMatchObject({ attempt: 1 });
  });

  it('without the header the unfinished start counts as a crashed delivery', async () => {
    const { state, body } = await videoWithUnfinishedStart();
    const outcome = await handleTask(deps(1), { body, messageId: randomUUID(), correlationId: null });
    expect(outcome).toMatchObject({ kind: 'dead-letter', reason: expect.stringMatching(/^REDELIVERY_LIMIT/) as unknown });
    expect((await typesOf(state.id)).at(-1)).toMatchObject({ type: 'VideoFailed', data: { code: 'REDELIVERY_LIMIT' } });
  });

  it('the subscriber carries interruptedAttempt on the requeued copy, and only on that copy', async () => {
    const deliveries: TaskDelivery[] = [];
    subscription = await subscribeTasks(broker, (delivery) => {
      deliveries.push(delivery);
      return Promise.resolve(deliveries.length === 1 ? { kind: 'requeue', interruptedAttempt: 3 } : deliveries.length === 2 ? { kind: 'requeue' } : { kind: 'ack' });
    }, recordingLogger());
    await publishRaw(namespace, Names.exchange, Names.taskRoutingKey, Buffer.from('{"any":"body"}'), { persistent: true, contentType: 'application/json', messageId: randomUUID() });
    await waitFor(() => deliveries.length === 3, { message: 'three deliveries' });
    expect(deliveries.map((d) => d.interruptedAttempt)).toEqual([null, 3, null]);
    expect(deliveries.map((d) => d.deliveryCount)).toEqual([0, 0, 0]);
  });
});

describe('messages whose headers framelog cannot use', () => {
  it('dead-letters a valid task whose message id is no uuid at once, recording nothing', async () => {
    const videoId = randomUUID();
    const taskId = randomUUID();
    await appendToStream(database.db, { streamId: videoId, expectedVersion: 0, state: null, events: [{ event: uploaded(taskId), metadata: { correlationId: randomUUID(), actor: 'test' } }] });
    const body = { schema: 1, videoId, taskId, storageKey: 'uploads/x/source', attempt: 1 };
    const invalidHeaders = taskHeadersProblem({ messageId: 'order-42', correlationId: undefined, headers: {} });
    const outcome = await handleTask(deps(3), { body, messageId: 'order-42', correlationId: null, invalidHeaders });
    expect(outcome).toEqual({ kind: 'dead-letter', reason: expect.stringMatching(/^INVALID_MESSAGE: messageId /) as unknown });
    expect((await typesOf(videoId)).map((e) => e.type)).toEqual(['VideoUploaded']);
  });
});

describe('attempt leases', () => {
  async function queuedVideo(): Promise<{ videoId: string; taskId: string; body: unknown }> {
    const videoId = randomUUID();
    const taskId = randomUUID();
    await appendToStream(database.db, { streamId: videoId, expectedVersion: 0, state: null, events: [{ event: uploaded(taskId), metadata: { correlationId: randomUUID(), actor: 'test' } }] });
    return { videoId, taskId, body: { schema: 1, videoId, taskId, storageKey: 'uploads/x/source', attempt: 1 } };
  }

  it('acks a delivery of a task whose attempt is alive without any work or event', async () => {
    const { videoId, taskId, body } = await queuedVideo();
    const live = await createTaskLeases(database.pool).tryAcquire(taskId);
    expect(live).not.toBeNull();
    try {
      expect(await handleTask(deps(1), { body, messageId: randomUUID(), correlationId: null })).toEqual({ kind: 'ack' });
      expect((await typesOf(videoId)).map((e) => e.type)).toEqual(['VideoUploaded']);
    } finally {
      await live?.release();
    }
    // Once that attempt's lease is gone the task is worked on again.
    expect(await handleTask(deps(1), { body, messageId: randomUUID(), correlationId: null })).toEqual({ kind: 'ack' });
    expect((await typesOf(videoId)).map((e) => e.type)).toEqual(['VideoUploaded', 'ProcessingStarted', 'VideoProcessed']);
  });

  it('an attempt whose lease connection dies (as in a PostgreSQL restart) stops, records itself interrupted and requeues', async () => {
    const { videoId, taskId, body } = await queuedVideo();
    let running = false;
    const hanging: MediaProcessor = {
      process: ({ signal }) =>
        new Promise((_resolve, reject) => {
          running = true;
          signal?.addEventListener('abort', () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' })), { once: true });
        }),
      removeTemps: () => Promise.resolve(),
    };
    const handled = handleTask({ ...deps(1), processor: hanging }, { body, messageId: randomUUID(), correlationId: null });
    await waitFor(() => running, { message: 'the attempt to run' });
    // The session holding the task's advisory lock is the lease's: end it as a restart would.
    const { rows } = await database.pool.query<{ ended: boolean }>(
      `select pg_terminate_backend(pid) as ended from pg_locks where locktype = 'advisory' and database = (select oid from pg_database where datname = current_database())`,
    );
    expect(rows).toEqual([{ ended: true }]);
    expect(await handled).toEqual({ kind: 'requeue' });
    const events = await typesOf(videoId);
    expect(events.map((e) => e.type)).toEqual(['VideoUploaded', 'ProcessingStarted', 'ProcessingFailed']);
    expect(events[2]!.data).toMatchObject({ taskId, attempt: 1, interrupted: true, code: 'DATABASE_UNAVAILABLE' });
  });
});
