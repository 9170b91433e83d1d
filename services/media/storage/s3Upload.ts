import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { ErrorCode, FramelogError } from '../../domain/errors.js';
import { releaseStored } from './releasableChunks.js';
import { PartWriter, partSizeFor } from './s3PartWriter.js';

/**
 * Part size of a worker's output files (uploadStream): 10,000 parts of 8 MiB allow 78 GiB objects.
 * lib-storage holds up to QUEUE_SIZE + 1 parts in memory, whatever the size of the file.
 */
export const PART_SIZE = 8 * 1024 * 1024;
/** Parts of a worker's output file uploaded in parallel. */
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
 * Streams `source` (a request body: length unknown until it ends) to one object through a PartWriter,
 * counting and hashing the bytes as they are copied in (then freeing each chunk handed over:
 * releasableChunks), and fails as soon as there are more than `maxBytes` (UPLOAD_TOO_LARGE). The
 * source is read at most PART_BUFFERS parts ahead of the store. On any failure the multipart upload is
 * aborted before this rejects, so nothing is left in the store.
 * `onSinkFailed` tells the caller that the failure is ours (the store's, or the limit), called before the
 * source is torn down, so that the caller can tell the source's own error (the client went away) apart.
 */
export async function uploadMetered(target: Omit<StreamUpload, 'body'>, source: Readable, maxBytes: number, onSinkFailed: () => void): Promise<MeteredUpload> {
  const hash = createHash('sha256');
  const writer = new PartWriter(target, partSizeFor(maxBytes));
  let sizeBytes = 0;
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      sizeBytes += chunk.length;
      if (sizeBytes > maxBytes) {
        throw new FramelogError(ErrorCode.UPLOAD_TOO_LARGE, `The upload is larger than the limit of ${maxBytes} bytes.`, { details: { maxBytes } });
      }
      hash.update(chunk);
      await writer.write(chunk);
      releaseStored(chunk);
    }
    await writer.end();
  } catch (error) {
    // A source error was recorded by the caller's listener when it was emitted, before it got here.
    onSinkFailed();
    await writer.abort().catch(() => undefined);
    throw error;
  }
  return { sizeBytes, sha256: hash.digest('hex') };
}
