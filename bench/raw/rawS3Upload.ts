import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { TestBucket } from '../../test/helpers/s3.js';
import { PART_SIZE, QUEUE_SIZE } from '../../services/media/storage/s3Upload.js';

const MB = 1_000_000;

/**
 * The S3 upload baseline: a plain `@aws-sdk/lib-storage` Upload of `file` (read from disk) to the same
 * bucket, with the same client configuration, part size and parts in flight as framelog's s3 backend,
 * and nothing else (no HTTP server, no hash, no event). Returns MB/s; the object is deleted afterwards.
 */
export async function rawS3Upload(bucket: TestBucket, file: string, bytes: number): Promise<number> {
  const Key = `raw/${randomUUID()}`;
  const started = performance.now();
  await new Upload({
    client: bucket.client,
    params: { Bucket: bucket.settings.bucket, Key, Body: createReadStream(file, { highWaterMark: 1024 * 1024 }) },
    partSize: PART_SIZE,
    queueSize: QUEUE_SIZE,
  }).done();
  const seconds = (performance.now() - started) / 1000;
  await bucket.client.send(new DeleteObjectCommand({ Bucket: bucket.settings.bucket, Key }));
  return bytes / MB / seconds;
}
