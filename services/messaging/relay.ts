import type { Db } from '../eventstore/db.js';
import { createNotificationListener, type NotificationListener } from '../eventstore/notifications.js';
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
  return new Relay(options);
}

type BatchOptions = Pick<OutboxRelayOptions, 'db' | 'publisher' | 'batchSize' | 'logger'> & { retryBaseMs: number; retryMaxMs: number };

/** Claims a batch, publishes it, deletes the confirmed rows and defers the others, in one transaction. */
async function drainBatch(options: BatchOptions): Promise<BatchResult> {
  const { publisher, batchSize, logger } = options;
  // Every append fires the outbox trigger, most with no row: one statement answers those without a transaction.
  if (!(await hasDueOutboxRows(options.db))) return { claimed: 0, published: 0, failed: 0 };
  return options.db.transaction().execute(async (trx) => {
    const rows = await claimOutboxBatch(trx, batchSize);
    if (rows.length === 0) return { claimed: 0, published: 0, failed: 0 };

    // All at once: each publish holds a confirm channel only until its own confirm (DESIGN §7).
    const results = await Promise.allSettled(rows.map(async (row) => publisher.publishMessage(row.routing_key, row.payload, propertiesOf(row))));
    const confirmed: string[] = [];
    const deferrals = new Map<number, { ids: string[]; error: string }>();
    results.forEach((result, index) => {
      const row = rows[index] as OutboxRow;
      if (result.status === 'fulfilled') {
        confirmed.push(row.id);
        return;
      }
      const delayMs = Math.min(options.retryBaseMs * 2 ** row.attempts, options.retryMaxMs);
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

/** The relay's loop: one drain at a time, woken by notifications and the sweep, backing off on failures. */
class Relay implements OutboxRelay {
  private readonly batch: BatchOptions;
  private readonly sweepMs: number;
  private readonly logger: Logger;
  private readonly listener: NotificationListener;
  private started = false;
  private stopped = false;
  private wakeRequested = false;
  private loop: Promise<void> | undefined;
  private failures = 0;
  private failureTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(options: OutboxRelayOptions) {
    const { db, publisher, batchSize, logger } = options;
    this.batch = { db, publisher, batchSize, logger, retryBaseMs: options.retryBaseMs ?? 1_000, retryMaxMs: options.retryMaxMs ?? 60_000 };
    this.sweepMs = options.sweepMs;
    this.logger = logger;
    // Each (re)connection drains too: notifications sent while the connection was down are lost.
    this.listener = createNotificationListener({
      connectionString: options.listenConnectionString,
      channels: [OUTBOX_CHANNEL],
      applicationName: 'framelog-relay-listen',
      logger,
      onNotification: () => this.wake(),
      onConnected: () => this.wake(),
    });
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.stopped = false;
    this.sweepTimer = setInterval(() => this.wake(), this.sweepMs);
    await this.listener.start();
    this.wake();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.sweepTimer);
    clearTimeout(this.failureTimer);
    this.failureTimer = undefined;
    await this.listener.stop();
    await Promise.allSettled([...this.inFlight]);
    this.started = false;
  }

  async drainOnce(): Promise<number> {
    const result = await this.track(drainBatch(this.batch));
    return result.published;
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work)).catch(() => undefined);
    return work;
  }

  /** Asks for a drain; concurrent wakes coalesce into the loop already running. */
  private wake(): void {
    if (this.stopped || !this.started) return;
    this.wakeRequested = true;
    if (this.loop || this.failureTimer) return;
    this.loop = this.track(this.runLoop())
      .catch((error: unknown) => this.logger.error({ err: error }, 'Outbox relay loop failed'))
      .finally(() => {
        this.loop = undefined;
        // A wake that arrived while the loop was finishing must not wait for the next sweep.
        if (this.wakeRequested && !this.failureTimer) this.wake();
      });
  }

  private async runLoop(): Promise<void> {
    while (this.wakeRequested && !this.stopped) {
      this.wakeRequested = false;
      try {
        const result = await drainBatch(this.batch);
        this.failures = 0;
        // A full batch means more may be waiting; a failed publish means the broker is in trouble, so
        // the rest waits for the sweep rather than being claimed and deferred right away.
        if (result.claimed === this.batch.batchSize && result.failed === 0) this.wakeRequested = true;
      } catch (error) {
        this.backOff(error);
        return;
      }
    }
  }

  /** The database is unreachable or the transaction failed: wake again later instead of retrying at once. */
  private backOff(error: unknown): void {
    this.failures += 1;
    const retryInMs = Math.min(this.sweepMs * 2 ** (this.failures - 1), this.batch.retryMaxMs);
    this.logger.error({ err: error, failures: this.failures, retryInMs }, 'Outbox relay could not drain the outbox');
    this.wakeRequested = false;
    this.failureTimer = setTimeout(() => {
      this.failureTimer = undefined;
      this.wake();
    }, retryInMs);
  }
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
