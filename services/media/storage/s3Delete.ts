import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  ListMultipartUploadsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { isNotFound } from './s3Client.js';

/** Deletes in flight at once. */
const DELETE_CONCURRENCY = 16;

/**
 * Deletes `objectKeys` (store keys), DELETE_CONCURRENCY at a time. One DELETE per object rather than
 * DeleteObjects: that one needs a Content-MD5, which SDK v3 no longer sends and Swift's s3api requires.
 */
export async function deleteObjects(client: S3Client, bucket: string, objectKeys: readonly string[]): Promise<void> {
  for (let index = 0; index < objectKeys.length; index += DELETE_CONCURRENCY) {
    await Promise.all(
      objectKeys.slice(index, index + DELETE_CONCURRENCY).map((Key) => client.send(new DeleteObjectCommand({ Bucket: bucket, Key }))),
    );
  }
}

/**
 * Aborts every unfinished multipart upload under `objectPrefix`: a process killed mid-upload leaves its
 * parts in the store (invisible, but stored and billed) until someone aborts them.
 */
export async function abortMultipartUploads(client: S3Client, bucket: string, objectPrefix: string): Promise<void> {
  let KeyMarker: string | undefined;
  let UploadIdMarker: string | undefined;
  for (;;) {
    const page = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: objectPrefix, KeyMarker, UploadIdMarker }));
    for (const upload of page.Uploads ?? []) {
      if (upload.Key === undefined || upload.UploadId === undefined) continue;
      await client
        .send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: upload.Key, UploadId: upload.UploadId }))
        .catch((error: unknown) => {
          // Finished or aborted by its owner meanwhile.
          if (!isNotFound(error)) throw error;
        });
    }
    if (page.IsTruncated !== true) return;
    KeyMarker = page.NextKeyMarker;
    UploadIdMarker = page.NextUploadIdMarker;
  }
}
