import { loadConfigOrExit } from './startup.js';
import { createDb, createPool } from '../eventstore/db.js';
import { createLogger } from '../logger.js';
import { closeBroker, createBroker, type Broker } from '../messaging/broker.js';
import type { OutboxRelay } from '../messaging/relay.js';
import { buildBrokerConfig } from '../messaging/topology.js';
import { brokerSettingsFromConfig, createConfiguredRelay } from './settings.js';

// Composition root of the standalone relay (`npm run relay`), for deployments that run it apart from
// the API (RELAY_IN_API=false). Several may run at once: SKIP LOCKED keeps their batches apart.
const config = loadConfigOrExit();
const log = createLogger('relay', config.LOG_LEVEL);
// The claim transaction needs one connection; the LISTEN connection is separate from the pool.
const pool = createPool(config.DATABASE_URL, { max: 2, applicationName: 'framelog-relay' });
pool.on('error', (error) => log.error({ err: error }, 'idle PostgreSQL connection failed'));
const db = createDb(pool);

const startup = new AbortController();
let broker: Broker | undefined;
let relay: OutboxRelay | undefined;
let stopping = false;

async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'shutting down: finishing the batch in flight');
  startup.abort();
  await relay?.stop().catch((error: unknown) => log.error({ err: error }, 'relay stop failed'));
  if (broker) await closeBroker(broker).catch((error: unknown) => log.error({ err: error }, 'broker close failed'));
  await db.destroy();
  log.info({}, 'stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

try {
  // Waits for RabbitMQ if it is not up yet; rows simply stay in the outbox meanwhile.
  broker = await createBroker(buildBrokerConfig(brokerSettingsFromConfig(config)), { logger: log, retryUntil: startup.signal });
} catch (error) {
  // Aborted by a signal during start-up: shutdown() takes it from there.
  if (!stopping) throw error;
}
if (broker && !stopping) {
  relay = createConfiguredRelay(config, db, broker, log);
  await relay.start();
  log.info({ batchSize: config.RELAY_BATCH_SIZE, sweepMs: config.RELAY_SWEEP_MS }, 'relay ready');
}
