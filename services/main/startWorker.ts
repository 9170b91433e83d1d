import { hostname } from 'node:os';
import type { Config } from '../config.js';
import { createDb, createPool } from '../eventstore/db.js';
import { createProgressReporter } from '../eventstore/notifications.js';
import { createTaskLeases } from '../eventstore/taskLease.js';
import { createLogger, type Logger } from '../logger.js';
import { createMediaProcessor, type MediaProcessor, type MediaProcessorOptions } from '../media/processVideo.js';
import { createSplitMediaProcessor } from '../media/splitProcessor.js';
import { openStorage } from '../media/storage/create.js';
import type { MediaStorage } from '../media/storage/types.js';
import { closeBroker, createBroker } from '../messaging/broker.js';
import { subscribeDeadLetters } from '../messaging/deadLetterSubscriber.js';
import { subscribeTasks } from '../messaging/subscriber.js';
import { buildBrokerConfig } from '../messaging/topology.js';
import { brokerSettingsFromConfig, storageSettingsFromConfig } from './settings.js';
import { createMetrics, serveMetrics, type Metrics, type MetricsListener } from '../metrics.js';
import { listenRefusal } from './startup.js';
import { handleTask } from '../worker/handleTask.js';
import { createAttemptTracker } from '../worker/attemptTracker.js';
import { createNoopProcessor } from '../worker/noopProcessor.js';
import { recordDeadLetter } from '../worker/recordDeadLetter.js';
import type { SplitDeps } from '../worker/splitTasks.js';
import { measureTask } from '../worker/taskMetrics.js';

export interface WorkerOverrides {
  /** Replaces the processor PROCESSOR selects (test entry points compose faulty ones this way). */
  processor?: MediaProcessor;
  /** Replaces the split processor (test entry points make a segment fail this way). */
  splitProcessor?: SplitDeps['processor'];
}

export interface RunningWorker {
  workerId: string;
  log: Logger;
  /**
   * Graceful stop: no new tasks; the current attempt gets SHUTDOWN_GRACE_SECONDS to finish, then it is
   * aborted (ffmpeg killed) and requeued uncounted; then the broker and the pool are closed.
   */
  stop(): Promise<void>;
}

/** The processor the PROCESSOR setting names, on the storage STORAGE names. */
export function createProcessor(config: Config, storage: MediaStorage): MediaProcessor {
  if (config.PROCESSOR === 'noop') return createNoopProcessor();
  return createMediaProcessor(processorOptions(config, storage));
}

const processorOptions = (config: Config, storage: MediaStorage): MediaProcessorOptions => ({
  storage,
  limits: { maxDurationSeconds: config.MAX_DURATION_SECONDS, maxDimension: config.MAX_DIMENSION, maxStreams: config.MAX_STREAMS },
  timeoutMs: config.JOB_TIMEOUT_SECONDS * 1000,
  threads: config.FFMPEG_THREADS,
});

/** The media side of split and stitch on the storage STORAGE names (the same limits, timeout and threads). */
export const createSplitProcessor = (config: Config, storage: MediaStorage): SplitDeps['processor'] => createSplitMediaProcessor(processorOptions(config, storage));

/**
 * Split and stitch (DESIGN §11) as SPLIT_MIN_SECONDS and SEGMENT_SECONDS set it. With PROCESSOR=noop
 * nothing is split (there is no media), but a worker still runs segment and stitch tasks it is handed.
 */
function createSplit(config: Config, storage: MediaStorage, override?: SplitDeps['processor']): SplitDeps {
  const processor = override ?? createSplitProcessor(config, storage);
  const minSeconds = config.PROCESSOR === 'noop' ? 0 : config.SPLIT_MIN_SECONDS;
  return { processor, minSeconds, segmentSeconds: config.SEGMENT_SECONDS };
}

/** Ports after METRICS_PORT a worker tries when it is taken (by `npm start`'s workers, or another `npm run worker`). */
const METRICS_NEXT_PORTS = 100;

/**
 * The worker's /metrics listener on METRICS_PORT or, when that is in use, the next free port (logged);
 * with none free, a refusal naming METRICS_PORT.
 */
async function serveWorkerMetrics(metrics: Metrics, config: Config, log: Logger): Promise<MetricsListener> {
  const listener = await serveMetrics(metrics.registry, config.METRICS_PORT, config.HOST, { nextPorts: METRICS_NEXT_PORTS }).catch((error: unknown) => {
    const last = Math.min(65_535, config.METRICS_PORT + METRICS_NEXT_PORTS);
    throw listenRefusal(error, 'METRICS_PORT', `${config.HOST}:${config.METRICS_PORT}${last > config.METRICS_PORT ? `-${last}` : ''}`);
  });
  const url = `http://${config.HOST}:${listener.port}/metrics`;
  if (config.METRICS_PORT !== 0 && listener.port !== config.METRICS_PORT) {
    log.warn({ port: listener.port, url, metricsPort: config.METRICS_PORT }, `METRICS_PORT ${config.METRICS_PORT} is in use; serving /metrics on ${listener.port}`);
  }
  log.info({ port: listener.port, url }, 'metrics listening');
  return listener;
}

/**
 * Composes a worker process: storage, pool, broker, task and dead-letter subscriptions. Errors:
 * CONFIG_INVALID when the storage STORAGE names is unusable (S3: missing bucket, refused credentials).
 */
export async function startWorker(config: Config, overrides: WorkerOverrides = {}): Promise<RunningWorker> {
  const workerId = `${hostname()}:${process.pid}`;
  const log = createLogger('worker', config.LOG_LEVEL, { workerId });
  const storage = await openStorage(storageSettingsFromConfig(config));
  const pool = createPool(config.DATABASE_URL, { max: 4, applicationName: 'framelog-worker' });
  pool.on('error', (error) => log.error({ err: error }, 'idle PostgreSQL connection failed'));
  const db = createDb(pool);
  const processor = overrides.processor ?? createProcessor(config, storage.storage);
  const split = createSplit(config, storage.storage, overrides.splitProcessor);
  const inFlight = createAttemptTracker();
  // Listening before the broker connects, so a worker waiting for RabbitMQ can still be scraped.
  const metrics = createMetrics('worker');
  const metricsListener = await serveWorkerMetrics(metrics, config, log);

  const startup = new AbortController();
  const broker = await createBroker(buildBrokerConfig(brokerSettingsFromConfig(config)), { logger: log, retryUntil: startup.signal });
  const leases = createTaskLeases(pool);
  const deps = {
    db,
    leases,
    processor,
    workerId,
    maxAttempts: config.MAX_ATTEMPTS,
    deliveryLimit: config.DELIVERY_LIMIT,
    retryDelaysMs: config.RETRY_DELAYS_MS,
    log,
    // Live progress for the API: a NOTIFY at most every second or 5 %, never an event or a row.
    reportProgress: createProgressReporter(db, { minIntervalMs: 1_000, minStepPercent: 5, logger: log }),
    split,
  };
  const tasks = await subscribeTasks(broker, (delivery) => inFlight.run((signal) => measureTask(metrics, () => handleTask(deps, delivery, signal))), log);
  const deadLetters = await subscribeDeadLetters(broker, (letter) => recordDeadLetter({ db, leases, processor, split, workerId, log }, letter).then(() => metrics.deadLetters.inc()), log);
  log.info({ maxAttempts: config.MAX_ATTEMPTS, deliveryLimit: config.DELIVERY_LIMIT, processor: config.PROCESSOR, storage: config.STORAGE }, 'worker ready');

  let stopped: Promise<void> | undefined;
  async function stop(): Promise<void> {
    log.info({ graceSeconds: config.SHUTDOWN_GRACE_SECONDS }, 'shutting down: no new tasks, finishing the current one');
    startup.abort();
    // Together: cancelling waits until the message in hand is settled (Rascal keeps the channel open
    // up to closeTimeout, set above the grace), and the drain is what bounds that wait — after the grace
    // it aborts the attempt, which handleTask records as interrupted and answers with `requeue`.
    await Promise.all([
      tasks.cancel().catch((error: unknown) => log.error({ err: error }, 'cancel failed')),
      deadLetters.cancel().catch((error: unknown) => log.error({ err: error }, 'dead-letter cancel failed')),
      inFlight.drain(config.SHUTDOWN_GRACE_SECONDS * 1000),
    ]);
    await closeBroker(broker).catch((error: unknown) => log.error({ err: error }, 'broker close failed'));
    await db.destroy();
    storage.close();
    await metricsListener.close();
    log.info('stopped');
  }
  return {
    workerId,
    log,
    stop: () => (stopped ??= stop()),
  };
}
