import { hostname } from 'node:os';
import { sql } from 'kysely';
import { loadConfig } from '../config.js';
import { createDb, createPool } from '../eventstore/db.js';
import { createLogger } from '../logger.js';
import { LocalDiskStorage } from '../media/storage.js';
import { closeBroker, createBroker, type Broker } from '../messaging/broker.js';
import { createTaskPublisher } from '../messaging/publisher.js';
import { createOutboxRelay, type OutboxRelay } from '../messaging/relay.js';
import { brokerSettingsFromConfig, buildBrokerConfig } from '../messaging/topology.js';
import { createApiServer } from './server.js';

// Composition root of the API process: the only place that reads the environment and opens connections.
const config = loadConfig();
const log = createLogger('api', config.LOG_LEVEL, { host: hostname() });
const pool = createPool(config.DATABASE_URL, { max: config.PG_POOL_MAX, applicationName: 'framelog-api' });
pool.on('error', (error) => log.error({ err: error }, 'idle PostgreSQL connection failed'));
const db = createDb(pool);
const storage = new LocalDiskStorage(config.MEDIA_ROOT);

let broker: Broker | undefined;
let relay: OutboxRelay | undefined;
const startup = new AbortController();
if (config.RELAY_IN_API) {
  broker = await createBroker(buildBrokerConfig(brokerSettingsFromConfig(config)), { logger: log, retryUntil: startup.signal });
  relay = createOutboxRelay({
    db,
    listenConnectionString: config.DATABASE_URL,
    publisher: createTaskPublisher(broker),
    batchSize: config.RELAY_BATCH_SIZE,
    sweepMs: config.RELAY_SWEEP_MS,
    logger: log.child({ component: 'relay' }),
  });
  await relay.start();
}

const server = await createApiServer(
  {
    db,
    storage,
    log,
    maxUploadBytes: config.MAX_UPLOAD_BYTES,
    mediaBaseUrl: '',
    readiness: {
      postgres: async () => {
        await sql`select 1`.execute(db);
      },
    },
  },
  { mediaRoot: config.MEDIA_ROOT, introspection: config.NODE_ENV !== 'production' },
);
const port = await server.listen(config.PORT, config.HOST);
const url = `http://${config.HOST}:${port}`;
log.info({ url, graphql: `${url}/graphql`, relay: config.RELAY_IN_API }, 'listening');
process.send?.({ type: 'listening', url });

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'shutting down: draining HTTP, stopping the relay');
  startup.abort();
  await server.stop().catch((error: unknown) => log.error({ err: error }, 'HTTP drain failed'));
  log.debug('HTTP drained');
  await relay?.stop().catch((error: unknown) => log.error({ err: error }, 'relay stop failed'));
  log.debug('relay stopped');
  if (broker) await closeBroker(broker).catch((error: unknown) => log.error({ err: error }, 'broker close failed'));
  log.debug('broker closed');
  await db.destroy();
  log.info('stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
