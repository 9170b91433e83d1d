import type { Config } from '../config.js';
import type { Db } from '../eventstore/db.js';
import type { StorageSettings } from '../media/storage/create.js';
import type { Broker, Logger } from '../messaging/broker.js';
import { createTaskPublisher } from '../messaging/publisher.js';
import { createOutboxRelay, type OutboxRelay } from '../messaging/relay.js';
import { brokerSettings, type BrokerSettings } from '../messaging/topology.js';

// The settings (services/config.ts) as the plain options each library takes: the one place that knows
// which setting feeds which option.

/** The local Swift's test account (ops/s3-up.sh): the credentials outside production when none are set. */
const LOCAL_SWIFT_CREDENTIALS = { accessKeyId: 'test:tester', secretAccessKey: 'testing' };

export function storageSettingsFromConfig(
  config: Pick<
    Config,
    | 'NODE_ENV'
    | 'STORAGE'
    | 'MEDIA_ROOT'
    | 'S3_ENDPOINT'
    | 'S3_REGION'
    | 'S3_BUCKET'
    | 'S3_ACCESS_KEY_ID'
    | 'S3_SECRET_ACCESS_KEY'
    | 'S3_FORCE_PATH_STYLE'
    | 'S3_PREFIX'
    | 'SCRATCH_DIR'
  >,
): StorageSettings {
  if (config.STORAGE === 'local') return { kind: 'local', root: config.MEDIA_ROOT };
  const given =
    config.S3_ACCESS_KEY_ID === undefined || config.S3_SECRET_ACCESS_KEY === undefined
      ? undefined
      : { accessKeyId: config.S3_ACCESS_KEY_ID, secretAccessKey: config.S3_SECRET_ACCESS_KEY };
  return {
    kind: 's3',
    endpoint: config.S3_ENDPOINT,
    region: config.S3_REGION,
    bucket: config.S3_BUCKET,
    // Production without keys: the SDK's default chain (environment, web identity, instance role).
    credentials: given ?? (config.NODE_ENV === 'production' ? undefined : LOCAL_SWIFT_CREDENTIALS),
    forcePathStyle: config.S3_FORCE_PATH_STYLE,
    prefix: config.S3_PREFIX,
    scratchDir: config.SCRATCH_DIR,
  };
}

export function brokerSettingsFromConfig(
  config: Pick<Config, 'AMQP_URL' | 'AMQP_NAMESPACE' | 'DELIVERY_LIMIT' | 'RETRY_DELAYS_MS' | 'SHUTDOWN_GRACE_SECONDS'>,
  overrides: Partial<BrokerSettings> = {},
): BrokerSettings {
  return brokerSettings(
    {
      amqpUrl: config.AMQP_URL,
      namespace: config.AMQP_NAMESPACE,
      deliveryLimit: config.DELIVERY_LIMIT,
      retryDelaysMs: config.RETRY_DELAYS_MS,
      shutdownGraceMs: config.SHUTDOWN_GRACE_SECONDS * 1000,
    },
    overrides,
  );
}

/** The relay as the settings configure it: shared by the API's in-process relay and `npm run relay`. */
export function createConfiguredRelay(
  config: Pick<Config, 'DATABASE_URL' | 'RELAY_BATCH_SIZE' | 'RELAY_SWEEP_MS'>,
  db: Db,
  broker: Broker,
  logger: Logger,
): OutboxRelay {
  return createOutboxRelay({
    db,
    listenConnectionString: config.DATABASE_URL,
    publisher: createTaskPublisher(broker),
    batchSize: config.RELAY_BATCH_SIZE,
    sweepMs: config.RELAY_SWEEP_MS,
    logger,
  });
}
