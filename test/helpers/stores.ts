import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { listFiles } from './media.js';
import { TestBucket } from './s3.js';

/**
 * One storage backend for the tests that run against both (STORAGE=local and STORAGE=s3 on the local
 * Swift), seen from outside the processes: what is stored, and what an unfinished write left behind.
 */
export interface TestStore {
  readonly name: 'local' | 's3';
  /** The settings of every process of a Stack on this store (on local disk, the shared MEDIA_ROOT). */
  readonly env: Record<string, string>;
  /** Keys stored under `prefix` (finished objects only), sorted. */
  keys(prefix: string): Promise<string[]>;
  /** The bytes stored at `key`. */
  bytes(key: string): Promise<Buffer>;
  /** What unfinished writes left: temp files on disk, multipart uploads neither completed nor aborted in S3. */
  leftovers(): Promise<string[]>;
  close(): Promise<void>;
}

export async function openTestStore(name: TestStore['name']): Promise<TestStore> {
  return name === 'local' ? localStore() : s3Store();
}

async function localStore(): Promise<TestStore> {
  const root = await mkdtemp(path.join(tmpdir(), 'framelog-store-'));
  const all = async () => (await listFiles(root)).map((file) => file.split(path.sep).join('/'));
  return {
    name: 'local',
    env: { STORAGE: 'local', MEDIA_ROOT: root },
    // Hidden names are temp files and staging directories, never keys (keys.ts).
    keys: async (prefix) => (await all()).filter((key) => key.startsWith(prefix) && !key.split('/').some((s) => s.startsWith('.'))),
    bytes: (key) => readFile(path.join(root, key)),
    leftovers: async () => (await all()).filter((key) => key.split('/').some((s) => s.startsWith('.'))),
    close: () => rm(root, { recursive: true, force: true }),
  };
}

async function s3Store(): Promise<TestStore> {
  const bucket = await TestBucket.create();
  return {
    name: 's3',
    env: bucket.env,
    keys: (prefix) => bucket.keys(prefix),
    bytes: async (key) => {
      const answer = await bucket.client.send(new GetObjectCommand({ Bucket: bucket.settings.bucket, Key: key }));
      return Buffer.from(await answer.Body!.transformToByteArray());
    },
    leftovers: () => bucket.pendingUploads(),
    close: () => bucket.drop(),
  };
}
