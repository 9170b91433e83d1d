import type { Config } from '../../config.js';
import { LocalDiskStorage } from './local.js';
import { checkBucket, createS3Client, type S3Settings } from './s3Client.js';
import { S3Storage } from './s3.js';
import { Scratch } from './scratch.js';
import type { MediaStorage } from './types.js';

/** Which backend holds uploads and outputs (STORAGE) and its settings. */
export type StorageSettings =
  | { kind: 'local'; root: string }
  | ({ kind: 's3'; /** Local working space of workers (SCRATCH_DIR). */ scratchDir: string } & S3Settings);

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

export interface OpenedStorage {
  storage: MediaStorage;
  /** A round trip to the store (S3: HeadBucket), for readiness probes; local disk has nothing to check. */
  probe(): Promise<void>;
  /** Releases the backend's connections. */
  close(): void;
}

/**
 * The configured backend, checked once: with `s3`, a bucket that is missing or that the credentials may
 * not use stops start-up with CONFIG_INVALID naming the setting, instead of failing the first upload.
 */
export async function openStorage(settings: StorageSettings): Promise<OpenedStorage> {
  if (settings.kind === 'local') {
    return { storage: new LocalDiskStorage(settings.root), probe: () => Promise.resolve(), close: () => undefined };
  }
  const client = createS3Client(settings);
  try {
    await checkBucket(client, settings);
  } catch (error) {
    client.destroy();
    throw error;
  }
  return {
    storage: new S3Storage(client, settings, new Scratch(settings.scratchDir)),
    probe: () => checkBucket(client, settings),
    close: () => client.destroy(),
  };
}
