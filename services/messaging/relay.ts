import type { Db } from '../eventstore/db.js';
import { createNotificationListener } from '../eventstore/notifications.js';
import { claimOutboxBatch, deferOutboxRows, deleteOutboxRows, hasDueOutboxRows } from '../eventstore/outbox.js';
import type { OutboxRow } from '../eventstore/schema.js';
import { messageOf } from '../domain/errors.js';
import type { Logger } from './broker.js';
import type { PublishProperties, TaskPublisher } from './publisher.js';

/** The channel the outbox trigger notifies on commit (migrations/0001_event_log.ts). */
const OUTBOX_CHANNEL = 'framelog_outbox';

export interface OutboxRelayOptions {
  db: Db;
  /** For the dedicated LISTEN connection (a pooled one would be handed back and lose the LISTEN). */
  listenConnectionString: string;
  publisher: Pick<TaskPublisher, 'publishMessage'>;
  batchSize: number;
  /** Period of the sweep that catches what no notification announced: deferred rows, missed NOTIFYs. */
  sweepMs: number;
  logger: Logger;
  /** First delay of a row whose publish failed; doubles with each failure of that row. */
  retryBaseMs?: number;
  retryMaxMs?: number;
}

export interface OutboxRelay {
  /** Listens for notifications, starts the sweep and drains what is already due. */
  start(): Promise<void>;
  /** Stops waking up and waits for the batch in flight to be published and committed. */
  stop(): Promise<void>;
  /** Claims, publishes and settles one batch; returns how many rows were published (and deleted). */
  drainOnce(): Promise<number>;
}

interface BatchResult {
  claimed: number;
  published: number;
  failed: number;
}

/**
 * Publishes outbox rows (DESIGN §2): wakes on NOTIFY or on the sweep, claims a batch with FOR UPDATE
 * SKIP LOCKED, publishes it concurrently (a confirm channel per message from Rascal's pool), deletes
 * each row whose message the broker confirmed and defers the others with backoff, all in the claim's
 * transaction. A crash before the commit republishes the batch: delivery is at least once, and
 * consumers deduplicate by task. Consumers may see a message before its row is deleted, so nothing
 * may depend on the row's state.
 */
export function createOutboxRelay(options: OutboxRelayOptions): OutboxRelay {
  const { db, publisher, batchSize, sweepMs, logger } = options;
  const retryBaseMs = options.retryBaseMs ?? 1_000;
  const retryMaxMs = options.retryMaxMs ?? 60_000;

  let started = false;
  let stopped = false;
  let wakeRequested = false;
  let loop: Promise<void> | undefined;
  let failures = 0;
  let failureTimer: NodeJS.Timeout | undefined;
  let sweepTimer: NodeJS.Timeout | undefined;
  const inFlight = new Set<Promise<unknown>>();
  // Each (re)connection drains too: notifications sent while the connection was down are lost.
  const listener = createNotificationListener({
    connectionString: options.listenConnectionString,
    channels: [OUTBOX_CHANNEL],
    applicationName: 'framelog-relay-listen',
    logger,
    onNotification: () => wake(),
    onConnected: () => wake(),
  });

  function track<T>(work: Promise<T>): Promise<T> {
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work)).catch(() => undefined);
    return work;
  }

  async function drainBatch(): Promise<BatchResult> {
    if (!(await hasDueOutboxRows(db))) return { claimed: 0, published: 0, failed: 0 };
    return db.transaction().execute(async (trx) => {
      const rows = await claimOutboxBatch(trx, batchSize);
      if (rows.length === 0) return { claimed: 0, published: 0, failed: 0 };

      // All at once: each publish holds a confirm channel only until its own confirm (DESIGN §7).
      const results = await Promise.allSettled(
        rows.map(async (row) => publisher.publishMessage(row.routing_key, row.payload, propertiesOf(row))),
      );
      const confirmed: string[] = [];
      const deferrals = new Map<number, { ids: string[]; error: string }>();
      results.forEach((result, index) => {
        const row = rows[index] as OutboxRow;
        if (result.status === 'fulfilled') {
          confirmed.push(row.id);
          return;
        }
        const delayMs = Math.min(retryBaseMs * 2 ** row.attempts, retryMaxMs);
        const group = deferrals.get(delayMs) ?? { ids: [], error: messageOf(result.reason) };
        group.ids.push(row.id);
        deferrals.set(delayMs, group);
      });

      await deleteOutboxRows(trx, confirmed);
      for (const [delayMs, { ids, error }] of deferrals) await deferOutboxRows(trx, ids, error, delayMs);
      const failed = rows.length - confirmed.length;
      if (failed > 0) {
        const first = [...deferrals.values()][0];
        logger.warn({ failed, published: confirmed.length, error: first?.error }, 'Outbox messages not accepted by RabbitMQ; deferred');
      }
      return { claimed: rows.length, published: confirmed.length, failed };
    });
  }

  /** Asks for a drain; concurrent wakes coalesce into the loop already running. */
  function wake(): void {
    if (stopped || !started) return;
    wakeRequested = true;
    if (loop || failureTimer) return;
    loop = track(runLoop())
      .catch((error: unknown) => logger.error({ err: error }, 'Outbox relay loop failed'))
      .finally(() => {
        loop = undefined;
        // A wake that arrived while the loop was finishing must not wait for the next sweep.
        if (wakeRequested && !failureTimer) wake();
      });
  }

  async function runLoop(): Promise<void> {
    while (wakeRequested && !stopped) {
      wakeRequested = false;
      try {
        const result = await drainBatch();
        failures = 0;
        // A full batch means more may be waiting; a failed publish means the broker is in trouble, so
        // the rest waits for the sweep rather than being claimed and deferred right away.
        if (result.claimed === batchSize && result.failed === 0) wakeRequested = true;
      } catch (error) {
        // The database is unreachable or the transaction failed: back off instead of retrying at once.
        failures += 1;
        const retryInMs = Math.min(sweepMs * 2 ** (failures - 1), retryMaxMs);
        logger.error({ err: error, failures, retryInMs }, 'Outbox relay could not drain the outbox');
        wakeRequested = false;
        failureTimer = setTimeout(() => {
          failureTimer = undefined;
          wake();
        }, retryInMs);
        return;
      }
    }
  }

  return {
    async start() {
      if (started) return;
      started = true;
      stopped = false;
      sweepTimer = setInterval(wake, sweepMs);
      await listener.start();
      wake();
    },

    async stop() {
      stopped = true;
      clearInterval(sweepTimer);
      clearTimeout(failureTimer);
      failureTimer = undefined;
      await listener.stop();
      await Promise.allSettled([...inFlight]);
      started = false;
    },

    async drainOnce() {
      const result = await track(drainBatch());
      return result.published;
    },
  };
}

/** The headers stored with the row become AMQP properties; correlationId falls back to the message id. */
function propertiesOf(row: OutboxRow): PublishProperties {
  const { correlationId, traceparent, ...headers } = row.headers;
  return {
    messageId: row.id,
    correlationId: typeof correlationId === 'string' ? correlationId : row.id,
    ...(typeof traceparent === 'string' ? { traceparent } : {}),
    headers,
  };
}
