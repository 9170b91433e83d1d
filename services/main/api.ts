import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { sql } from 'kysely';
import { exitIfRefused, listenRefusal, loadConfigOrExit } from './startup.js';
import { createDb, createPool } from '../eventstore/db.js';
import { createLogger } from '../logger.js';
import { openStorage } from '../media/storage/create.js';
import { closeBroker, createBroker, type Broker } from '../messaging/broker.js';
import type { OutboxRelay } from '../messaging/relay.js';
import { buildBrokerConfig, Names } from '../messaging/topology.js';
import { brokerSettingsFromConfig, createConfiguredRelay, storageSettingsFromConfig } from './settings.js';
import { addLiveGauge, createMetrics } from '../metrics.js';
import { outboxLag } from '../eventstore/outbox.js';
import { createQueueDepthProbe } from '../messaging/queueDepth.js';
import { authModeAtStart, createAuthenticator } from '../api/auth/authenticate.js';
import { createApiServer } from '../api/server.js';
import { createVideoUpdates } from '../api/subscriptions/videoUpdates.js';
import { PgAdvisoryLocker } from '../api/uploads/pgLocker.js';
import { createTusUploads, dataStoreFor } from '../api/uploads/tusServer.js';
import { startUploadSweeper } from '../api/uploads/uploadSweep.js';
import { createProgressReporter } from '../eventstore/notifications.js';

/** Most tus requests (one upload each) that hold their upload's lock at once in this process. */
const UPLOAD_LOCK_CONNECTIONS = 32;

// Composition root of the API process: the only place that reads the environment and opens connections.
const config = loadConfigOrExit();
const log = createLogger('api', config.LOG_LEVEL, { host: hostname() });
const pool = createPool(config.DATABASE_URL, { max: config.PG_POOL_MAX, applicationName: 'framelog-api' });
pool.on('error', (error) => log.error({ err: error }, 'idle PostgreSQL connection failed'));
const db = createDb(pool);
const storageSettings = storageSettingsFromConfig(config);
const storage = await openStorage(storageSettings).catch(exitIfRefused);
const production = config.NODE_ENV === 'production';

// Production refuses to start without a token (one line, exit 2); development may run open.
const authMode = await authModeAtStart(db, production).catch((error: unknown) => {
  if (production) exitIfRefused(error);
  log.warn({ err: error }, 'could not check for API tokens at start; each request checks again');
  return 'unknown' as const;
});
if (authMode === 'open') {
  log.warn(
    { auth: 'open' },
    '!!! NO API TOKENS: every request is admin. Create one with `npm run token -- create --name NAME --role admin` to enforce auth !!!',
  );
}
const metrics = createMetrics('api');
addLiveGauge(metrics.registry, 'framelog_outbox_rows', 'Outbox rows not yet published.', async () => (await outboxLag(db)).count);
addLiveGauge(metrics.registry, 'framelog_outbox_oldest_age_seconds', 'Age of the oldest unpublished outbox row (0 when empty).', async () => ((await outboxLag(db)).oldestAgeMs ?? 0) / 1000);
const queueProbe = createQueueDepthProbe(config.AMQP_URL, config.AMQP_NAMESPACE, Names.workQueue);
addLiveGauge(metrics.registry, 'framelog_queue_depth', 'Ready messages in the video_processing queue.', () => queueProbe.depth());

let broker: Broker | undefined;
let relay: OutboxRelay | undefined;
const startup = new AbortController();
if (config.RELAY_IN_API) {
  broker = await createBroker(buildBrokerConfig(brokerSettingsFromConfig(config)), { logger: log, retryUntil: startup.signal });
  relay = createConfiguredRelay(config, db, broker, log.child({ component: 'relay' }));
  await relay.start();
}

// One LISTEN connection per API process feeds every videoUpdated subscription and Video.progress.
const videoUpdates = createVideoUpdates({ db, connectionString: config.DATABASE_URL, log: log.child({ component: 'video-updates' }) });
await videoUpdates.start();

const authenticate = createAuthenticator(db, { allowOpen: !production, cacheSeconds: config.AUTH_CACHE_SECONDS });
// Upload locks hold a connection each for as long as a tus request runs: their own pool, so uploads in
// flight never starve GraphQL of connections.
const lockPool = createPool(config.DATABASE_URL, { max: UPLOAD_LOCK_CONNECTIONS, applicationName: 'framelog-api-upload-locks' });
lockPool.on('error', (error) => log.error({ err: error }, 'idle PostgreSQL connection (upload locks) failed'));
const tus = createTusUploads(
  { db, log: log.child({ component: 'tus' }), authenticate, reportProgress: createProgressReporter(db, { minIntervalMs: 1_000, minStepPercent: 5, logger: log }) },
  { datastore: dataStoreFor(storageSettings), locker: new PgAdvisoryLocker(lockPool, { acquireTimeoutMs: 30_000, pollMs: 100 }) },
);
const uploadSweeper = startUploadSweeper({ db, resumable: tus.store, log: log.child({ component: 'upload-sweep' }) }, config.UPLOAD_SWEEP_SECONDS * 1000);

const server = await createApiServer(
  {
    db,
    videoUpdates,
    storage: storage.storage,
    log,
    maxUploadBytes: config.MAX_UPLOAD_BYTES,
    tus,
    uploadExpiryMs: config.UPLOAD_EXPIRY_HOURS * 3_600_000,
    authenticate,
    metrics,
    mediaBaseUrl: config.PUBLIC_URL,
    readiness: {
      postgres: async () => {
        await sql`select 1`.execute(db);
      },
      // A real round trip to the broker (its own connection), so it holds with RELAY_IN_API=false too.
      rabbitmq: async () => {
        await queueProbe.depth();
      },
      // Local disk has nothing to probe; S3 a HeadBucket round trip.
      ...(config.STORAGE === 's3' ? { storage: () => storage.probe() } : {}),
    },
  },
  {
    typeDefs: await readFile(new URL('../../schema/schema.graphql', import.meta.url), 'utf8'),
    introspection: !production,
    requestTimeoutMs: config.REQUEST_TIMEOUT_SECONDS * 1000,
    subscriptionLimits: { perSocket: config.MAX_SUBSCRIPTIONS_PER_SOCKET, perToken: config.MAX_SUBSCRIPTIONS_PER_TOKEN },
  },
);
const port = await server.listen(config.PORT, config.HOST).catch((error: unknown) => exitIfRefused(listenRefusal(error, 'PORT', `${config.HOST}:${config.PORT}`)));
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
  await uploadSweeper.stop();
  await videoUpdates.stop().catch((error: unknown) => log.error({ err: error }, 'video updates stop failed'));
  await relay?.stop().catch((error: unknown) => log.error({ err: error }, 'relay stop failed'));
  log.debug('relay stopped');
  await queueProbe.close();
  if (broker) await closeBroker(broker).catch((error: unknown) => log.error({ err: error }, 'broker close failed'));
  log.debug('broker closed');
  await db.destroy();
  await lockPool.end();
  storage.close();
  log.info('stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
