import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { ErrorCode, FramelogError } from '../../domain/errors.js';

/**
 * Part size of multipart uploads. lib-storage holds up to (QUEUE_SIZE + 1) parts in memory, so this bounds
 * an upload's memory (~40 MiB) whatever the file size; 10,000 parts of 8 MiB allow 78 GiB objects.
 */
export const PART_SIZE = 8 * 1024 * 1024;
/** Parts uploaded in parallel per object. */
export const QUEUE_SIZE = 4;

export interface StreamUpload {
  client: S3Client;
  bucket: string;
  objectKey: string;
  body: Readable;
  contentType?: string;
}

/**
 * Streams `body` to one object with lib-storage: one PUT when it fits in a part, a multipart upload
 * otherwise, which S3 shows at the key only once CompleteMultipartUpload succeeded. On any failure the
 * multipart upload is aborted (its parts dropped) before this rejects, so nothing is left in the store.
 */
export async function uploadStream({ client, bucket, objectKey, body, contentType }: StreamUpload): Promise<void> {
  const upload = new Upload({
    client,
    params: { Bucket: bucket, Key: objectKey, Body: body, ...(contentType === undefined ? {} : { ContentType: contentType }) },
    partSize: PART_SIZE,
    queueSize: QUEUE_SIZE,
    leavePartsOnError: false,
  });
  await upload.done();
}

export interface MeteredUpload {
  sizeBytes: number;
  sha256: string;
}

/**
 * Streams `source` to one object through a meter that counts and hashes the bytes and fails as soon as
 * there are more than `maxBytes` (UPLOAD_TOO_LARGE). `onSourceError` tells the caller which error was the
 * source's own (the client went away), as opposed to our teardown of it after a failure of ours.
 */
export async function uploadMetered(
  target: Omit<StreamUpload, 'body'>,
  source: Readable,
  maxBytes: number,
  onSinkFailed: () => void,
): Promise<MeteredUpload> {
  const hash = createHash('sha256');
  let sizeBytes = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      sizeBytes += chunk.length;
      if (sizeBytes > maxBytes) {
        // Failing the transform makes pipeline destroy the source (we stop reading at once) and the
        // upload's read of the meter fail, which aborts the multipart upload.
        onSinkFailed();
        callback(
          new FramelogError(ErrorCode.UPLOAD_TOO_LARGE, `The upload is larger than the limit of ${maxBytes} bytes.`, {
            details: { maxBytes },
          }),
        );
        return;
      }
      hash.update(chunk);
      callback(null, chunk);
    },
  });
  const feeding = pipeline(source, meter);
  // Awaited below; an upload that fails first must not leave it unhandled.
  feeding.catch(() => undefined);
  try {
    await uploadStream({ ...target, body: meter });
  } catch (error) {
    onSinkFailed();
    meter.destroy();
    throw error;
  }
  await feeding;
  return { sizeBytes, sha256: hash.digest('hex') };
}
