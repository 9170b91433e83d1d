import { hostname } from 'node:os';
import { loadConfig } from '../config.js';
import { createDb, createPool } from '../eventstore/db.js';
import { createLogger } from '../logger.js';
import { createMediaProcessor } from '../media/processVideo.js';
import { LocalDiskStorage } from '../media/storage.js';
import { closeBroker, createBroker } from '../messaging/broker.js';
import { subscribeTasks } from '../messaging/subscriber.js';
import { brokerSettingsFromConfig, buildBrokerConfig } from '../messaging/topology.js';
import { handleTask } from './handleTask.js';
import { createJobTracker } from './jobTracker.js';

// Composition root of a worker process: the only place that reads the environment and opens connections.
const config = loadConfig();
const workerId = `${hostname()}:${process.pid}`;
const log = createLogger('worker', config.LOG_LEVEL, { workerId });
const pool = createPool(config.DATABASE_URL, { max: 4, applicationName: 'framelog-worker' });
pool.on('error', (error) => log.error({ err: error }, 'idle PostgreSQL connection failed'));
const db = createDb(pool);
const storage = new LocalDiskStorage(config.MEDIA_ROOT);
const processor = createMediaProcessor({
  storage,
  limits: { maxDurationSeconds: config.MAX_DURATION_SECONDS, maxDimension: config.MAX_DIMENSION, maxStreams: config.MAX_STREAMS },
  timeoutMs: config.JOB_TIMEOUT_SECONDS * 1000,
  threads: config.FFMPEG_THREADS,
});
const jobs = createJobTracker();

const startup = new AbortController();
const broker = await createBroker(buildBrokerConfig(brokerSettingsFromConfig(config)), { logger: log, retryUntil: startup.signal });
const deps = {
  db,
  processor,
  workerId,
  maxAttempts: config.MAX_ATTEMPTS,
  deliveryLimit: config.DELIVERY_LIMIT,
  retryDelaysMs: config.RETRY_DELAYS_MS,
  log,
};
const subscription = await subscribeTasks(broker, (delivery) => jobs.run((signal) => handleTask(deps, delivery, signal)), log);
log.info({ maxAttempts: config.MAX_ATTEMPTS, deliveryLimit: config.DELIVERY_LIMIT }, 'worker ready');

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  log.info({ signal, graceSeconds: config.SHUTDOWN_GRACE_SECONDS }, 'shutting down: no new tasks, finishing the current one');
  startup.abort();
  await subscription.cancel().catch((error: unknown) => log.error({ err: error }, 'cancel failed'));
  // The current job may finish within the grace period; after it, ffmpeg is killed and the task is
  // requeued without counting a failure (handleTask maps the abort to `requeue`).
  await jobs.drain(config.SHUTDOWN_GRACE_SECONDS * 1000);
  await closeBroker(broker).catch((error: unknown) => log.error({ err: error }, 'broker close failed'));
  await db.destroy();
  log.info('stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
