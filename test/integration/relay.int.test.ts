import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { outboxLag } from '../../services/eventstore/outbox.js';
import { createDb, createPool } from '../../services/eventstore/db.js';
import { closeBroker, createBroker, type Broker } from '../../services/messaging/broker.js';
import { createTaskPublisher, type TaskPublisher } from '../../services/messaging/publisher.js';
import { createOutboxRelay, type OutboxRelay, type OutboxRelayOptions } from '../../services/messaging/relay.js';
import { Names, buildBrokerConfig } from '../../services/messaging/topology.js';
import {
  brokerSettingsForTest,
  closeConnections,
  drainQueue,
  queueDepth,
  recordingLogger,
  removeNamespace,
  testNamespace,
  withChannel,
} from '../helpers/amqp.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { databaseUrl } from '../helpers/env.js';
import { waitFor } from '../helpers/processes.js';

const namespace = testNamespace();
const settings = brokerSettingsForTest(namespace);
let t: TestDatabase;
let broker: Broker;
let publisher: TaskPublisher;
const relays: OutboxRelay[] = [];
const brokerLog = recordingLogger();

beforeAll(async () => {
  t = await createTestDatabase();
  broker = await createBroker(buildBrokerConfig(settings), { logger: brokerLog });
  publisher = createTaskPublisher(broker);
});
afterEach(async () => {
  await Promise.all(relays.splice(0).map((relay) => relay.stop()));
  await t.db.deleteFrom('outbox').execute();
  await withChannel((channel) => channel.purgeQueue(`${namespace}:${Names.workQueue}`));
});
afterAll(async () => {
  await closeBroker(broker);
  await removeNamespace(namespace, settings);
  await t.drop();
});

function relay(overrides: Partial<OutboxRelayOptions> = {}): OutboxRelay {
  const created = createOutboxRelay({
    db: t.db,
    listenConnectionString: t.url,
    publisher,
    batchSize: 100,
    // Long enough that only a notification (or start) can explain a prompt publish.
    sweepMs: 60_000,
    logger: recordingLogger(),
    ...overrides,
  });
  relays.push(created);
  return created;
}

/** Outbox rows as appendToStream writes them (jsonb columns as JSON text); returns their ids. */
async function insertRows(count: number, routingKey: string = Names.taskRoutingKey): Promise<string[]> {
  const rows = Array.from({ length: count }, () => {
    const id = randomUUID();
    const videoId = randomUUID();
    return {
      id,
      stream_id: videoId,
      event_position: 1,
      routing_key: routingKey,
      payload: JSON.stringify({ schema: 1, videoId, taskId: randomUUID(), storageKey: `sources/${videoId}`, attempt: 1 }),
      headers: JSON.stringify({ correlationId: `corr-${id}` }),
    };
  });
  await t.db.insertInto('outbox').values(rows).execute();
  return rows.map((row) => row.id);
}

const queuedIds = async () => (await drainQueue(namespace, Names.workQueue)).map((message) => String(message.properties.messageId));

describe('outbox relay', () => {
  it('leaves rows waiting while stopped; once started it publishes each exactly once and empties the outbox', async () => {
    const ids = await insertRows(250);
    expect((await outboxLag(t.db)).count).toBe(250);
    expect((await outboxLag(t.db)).oldestAgeMs).toBeGreaterThanOrEqual(0);
    expect(await queueDepth(namespace, Names.workQueue)).toBe(0);

    // 250 rows, batches of 100: the relay must keep going while batches are full.
    await relay().start();
    await waitFor(async () => (await outboxLag(t.db)).count === 0, { timeoutMs: 20_000, message: 'the outbox to empty' });

    expect(await outboxLag(t.db)).toEqual({ count: 0, oldestAgeMs: null });
    const messages = await drainQueue(namespace, Names.workQueue);
    expect(messages.map((m) => String(m.properties.messageId)).sort()).toEqual([...ids].sort());
    for (const message of messages) {
      expect(message.properties.deliveryMode).toBe(2);
      expect(message.properties.correlationId).toBe(`corr-${String(message.properties.messageId)}`);
    }
  });

  it('is woken by the NOTIFY of a commit, without waiting for the sweep', async () => {
    const running = relay({ sweepMs: 600_000 });
    await running.start();
    const ids = await insertRows(3);
    await waitFor(async () => (await queueDepth(namespace, Names.workQueue)) === 3, { timeoutMs: 10_000, message: 'the notified relay to publish' });
    await waitFor(async () => (await outboxLag(t.db)).count === 0, { timeoutMs: 10_000, message: 'the rows to be deleted' });
    expect((await queuedIds()).sort()).toEqual([...ids].sort());
  });

  it('is notified once per transaction that inserted outbox rows, and not for an insert of none (migration 0008)', async () => {
    const listener = new pg.Client({ connectionString: t.url });
    await listener.connect();
    try {
      const payloads: string[] = [];
      listener.on('notification', (notice) => payloads.push(notice.payload ?? ''));
      await listener.query('listen framelog_outbox');
      // framelog_append's outbox INSERT runs on every append, with no row for most of them.
      await sql`insert into outbox (id, stream_id, event_position, routing_key, payload) select id, id, 1, 'k', '{}' from (select gen_random_uuid() as id) r where false`.execute(t.db);
      await insertRows(2);
      // Commit order is delivery order: once this arrives, every notification before it has.
      await sql`select pg_notify('framelog_outbox', 'end')`.execute(t.db);
      await waitFor(() => payloads.includes('end'), { message: 'the end marker' });
      expect(payloads).toEqual(['', 'end']);
    } finally {
      await listener.end();
    }
  });

  it('lets two relays run at once without publishing any row twice', async () => {
    const calls = { a: 0, b: 0 };
    let aClaimed!: () => void;
    const aHasBatch = new Promise<void>((resolve) => (aClaimed = resolve));
    let bPublishing!: () => void;
    const bHasBatch = new Promise<void>((resolve) => (bPublishing = resolve));
    // A holds its first batch (and its row locks) until B has claimed one of its own: B can only get
    // rows by skipping A's locked ones. Without SKIP LOCKED, B would wait for A and this would hang.
    const publisherA: Pick<TaskPublisher, 'publishMessage'> = {
      async publishMessage(...args) {
        calls.a += 1;
        aClaimed();
        await bHasBatch;
        return publisher.publishMessage(...args);
      },
    };
    const publisherB: Pick<TaskPublisher, 'publishMessage'> = {
      publishMessage(...args) {
        calls.b += 1;
        bPublishing();
        return publisher.publishMessage(...args);
      },
    };
    const ids = await insertRows(300);
    await relay({ publisher: publisherA, batchSize: 10 }).start();
    await aHasBatch;
    await relay({ publisher: publisherB, batchSize: 10 }).start();

    await waitFor(async () => (await outboxLag(t.db)).count === 0, { timeoutMs: 20_000, message: 'both relays to empty the outbox' });
    expect(calls.a).toBeGreaterThan(0);
    expect(calls.b).toBeGreaterThan(0);
    expect(calls.a + calls.b).toBe(300);
    const queued = await queuedIds();
    expect(queued).toHaveLength(300);
    expect(queued.sort()).toEqual([...ids].sort());
  });

  it('defers a row whose publish failed, with backoff, and does not retry it at once', async () => {
    const good = await insertRows(2);
    const [bad] = await insertRows(1, 'no.such.route');
    const running = relay({ retryBaseMs: 60_000 });

    expect(await running.drainOnce()).toBe(2);
    const row = await t.db
      .selectFrom('outbox')
      .select(['id', 'attempts', 'last_error', sql<number>`(extract(epoch from available_at - clock_timestamp()) * 1000)::float8`.as('due_in_ms')])
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({ id: bad, attempts: 1 });
    expect(row.last_error).toMatch(/unroutable/);
    expect(row.due_in_ms).toBeGreaterThan(50_000);
    expect(row.due_in_ms).toBeLessThanOrEqual(60_000);
    // Not due: a second pass publishes nothing rather than hammering the broker.
    expect(await running.drainOnce()).toBe(0);
    expect((await queuedIds()).sort()).toEqual([...good].sort());
  });

  it('defers rows while the broker connection is down and publishes them once Rascal reconnected', async () => {
    const logger = recordingLogger();
    await relay({ sweepMs: 100, retryBaseMs: 200, logger }).start();
    expect(await closeConnections(namespace)).toBe(1);
    await brokerLog.waitFor((entry) => entry.message.startsWith('RabbitMQ disconnected'));

    const ids = await insertRows(5);
    // Tried while disconnected: deferred at once rather than held until the connection is back.
    await logger.waitFor((entry) => entry.message.includes('deferred'));
    await waitFor(async () => (await outboxLag(t.db)).count === 0, { timeoutMs: 20_000, message: 'the rows to be published after the reconnect' });
    expect((await queuedIds()).sort()).toEqual([...ids].sort());
  });

  it('stop() waits for the batch in flight to be confirmed and committed', async () => {
    const order: string[] = [];
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let started!: () => void;
    const publishing = new Promise<void>((resolve) => (started = resolve));
    const running = relay({
      publisher: {
        async publishMessage(...args) {
          started();
          await released;
          return publisher.publishMessage(...args);
        },
      },
    });
    await running.start();
    const ids = await insertRows(5);
    await publishing;
    const stopped = running.stop().then(() => order.push('stopped'));
    order.push('released');
    release();
    await stopped;
    expect(order).toEqual(['released', 'stopped']);
    expect((await outboxLag(t.db)).count).toBe(0);
    expect((await queuedIds()).sort()).toEqual([...ids].sort());
  });

  it('re-establishes its LISTEN connection when it drops, and catches up', async () => {
    const logger = recordingLogger();
    const running = relay({ sweepMs: 600_000, logger });
    await running.start();
    await sql`select pg_terminate_backend(pid) from pg_stat_activity
              where application_name = 'framelog-relay-listen' and datname = current_database()`.execute(t.db);
    await logger.waitFor((entry) => entry.message.includes('LISTEN connection restored'));
    const ids = await insertRows(2);
    await waitFor(async () => (await queueDepth(namespace, Names.workQueue)) === 2, { timeoutMs: 10_000, message: 'a notification on the new connection' });
    expect((await queuedIds()).sort()).toEqual([...ids].sort());
  });

  it('backs off, rather than spinning, while the database is unreachable', async () => {
    const missing = databaseUrl(`framelog_missing_${randomUUID().replaceAll('-', '')}`);
    const db = createDb(createPool(missing, { max: 1 }));
    const logger = recordingLogger();
    const failures = () => logger.entries.filter((entry) => entry.message.includes('could not drain'));
    try {
      const running = relay({ db, listenConnectionString: missing, sweepMs: 50, logger });
      await running.start();
      await logger.waitFor(() => failures().length >= 3);
      const retries = failures().map((entry) => (entry.fields as { retryInMs: number }).retryInMs);
      expect(retries.slice(0, 3)).toEqual([50, 100, 200]);
      // The LISTEN connection fails too and is retried on its own schedule.
      await logger.waitFor((entry) => entry.message.includes('LISTEN connection lost'));
      await running.stop();
    } finally {
      await db.destroy();
    }
  });
});
