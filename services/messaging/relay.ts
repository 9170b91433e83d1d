import pg from 'pg';
import type { Db } from '../eventstore/db.js';
import { claimOutboxBatch, deferOutboxRows, deleteOutboxRows } from '../eventstore/outbox.js';
import type { OutboxRow } from '../eventstore/schema.js';
import { messageOf, type Logger } from './broker.js';
import type { PublishProperties, TaskPublisher } from './publisher.js';

/** The channel the outbox trigger notifies on commit (migrations/0001_event_log.ts). */
export const OUTBOX_CHANNEL = 'framelog_outbox';

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

const LISTEN_RETRY_MIN_MS = 500;
const LISTEN_RETRY_MAX_MS = 30_000;

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
  const listener = createListener(options, () => wake());

  function track<T>(work: Promise<T>): Promise<T> {
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work)).catch(() => undefined);
    return work;
  }

  async function drainBatch(): Promise<BatchResult> {
    return db.transaction().execute(async (trx) => {
      const rows = await claimOutboxBatch(trx, batchSize);
      if (rows.length === 0) return { claimed: 0, published: 0, failed: 0 };

      const results = await Promise.allSettled(
        rows.map((row) => publisher.publishMessage(row.routing_key, row.payload, propertiesOf(row))),
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
    loop = track(runLoop()).finally(() => {
      loop = undefined;
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

interface Listener {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A dedicated connection that LISTENs for outbox notifications. When it drops it is replaced with
 * backoff; each new connection triggers a drain, since notifications sent meanwhile were lost.
 */
function createListener(options: OutboxRelayOptions, onNotify: () => void): Listener {
  const { listenConnectionString, logger } = options;
  let client: pg.Client | undefined;
  let active = false;
  let attempt = 0;
  let reconnectTimer: NodeJS.Timeout | undefined;

  function scheduleReconnect(from: pg.Client, error?: unknown): void {
    // Only the current client may trigger a reconnect, once; stale clients' late events are ignored.
    if (!active || client !== from) return;
    client = undefined;
    from.removeAllListeners('notification');
    from.on('error', () => undefined);
    void from.end().catch(() => undefined);
    attempt += 1;
    const retryInMs = Math.min(LISTEN_RETRY_MIN_MS * 2 ** (attempt - 1), LISTEN_RETRY_MAX_MS);
    logger.warn({ err: error, retryInMs }, 'Outbox LISTEN connection lost; relying on the sweep until it is back');
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined;
      void connect();
    }, retryInMs);
  }

  async function connect(): Promise<void> {
    if (!active) return;
    const next = new pg.Client({
      connectionString: listenConnectionString,
      application_name: 'framelog-relay-listen',
      keepAlive: true,
    });
    client = next;
    next.on('notification', () => onNotify());
    next.on('error', (error) => scheduleReconnect(next, error));
    next.on('end', () => scheduleReconnect(next));
    try {
      await next.connect();
      await next.query(`LISTEN ${OUTBOX_CHANNEL}`);
      if (attempt > 0) logger.info({}, 'Outbox LISTEN connection restored');
      attempt = 0;
      onNotify();
    } catch (error) {
      scheduleReconnect(next, error);
    }
  }

  return {
    async start() {
      active = true;
      await connect();
    },
    async stop() {
      active = false;
      clearTimeout(reconnectTimer);
      const current = client;
      client = undefined;
      if (current) {
        current.removeAllListeners('notification');
        await current.end().catch(() => undefined);
      }
    },
  };
}
