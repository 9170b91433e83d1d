import { LocalDiskStorage } from './local.js';
import { checkBucket, createS3Client, type S3Settings } from './s3Client.js';
import { S3Storage } from './s3.js';
import { Scratch } from './scratch.js';
import type { MediaStorage } from './types.js';

/** Which backend holds uploads and outputs (STORAGE) and its settings. */
export type StorageSettings =
  | { kind: 'local'; root: string }
  | ({ kind: 's3'; /** Local working space of workers (SCRATCH_DIR). */ scratchDir: string } & S3Settings);

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
