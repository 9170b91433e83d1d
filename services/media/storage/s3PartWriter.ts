import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import { PartBuffers } from './partBuffers.js';

/** S3's limits on multipart uploads (https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html). */
export const MIN_PART_BYTES = 5 * 1024 * 1024;
export const MAX_PARTS = 10_000;

/**
 * The part size for an upload of at most `maxBytes`: S3's minimum of 5 MiB, or (for limits above
 * ~48.8 GiB) the whole MiB that keeps the upload within 10,000 parts. Bytes.
 */
export function partSizeFor(maxBytes: number): number {
  const mib = 1024 * 1024;
  return Math.max(MIN_PART_BYTES, Math.ceil(maxBytes / MAX_PARTS / mib) * mib);
}

export interface PartWriterTarget {
  client: S3Client;
  bucket: string;
  objectKey: string;
  contentType?: string;
}

/**
 * Writes a byte stream of unknown length to one S3 object through PartBuffers: each full buffer goes out
 * as one UploadPart (a Buffer body, so the SDK can retry it); an object that fits in one buffer is one
 * PutObject. `end()` completes the multipart upload, so the object appears at the key only whole;
 * `abort()` drops its parts; both free the part buffers. A part is sent only once full: S3 needs
 * `MIN_PART_BYTES` in every part but the last; `partSize` must be at least that (partSizeFor).
 *
 * Why not lib-storage's `Upload` here (it writes the outputs of workers): for a stream it concatenates
 * each part into a fresh buffer, and an API receiving a 1 GB upload grew by 120-140 MB (PartBuffers).
 */
export class PartWriter {
  private readonly buffers: PartBuffers;
  private uploadId: Promise<string> | null = null;
  private readonly parts: CompletedPart[] = [];

  constructor(
    private readonly target: PartWriterTarget,
    partSize: number,
  ) {
    let partNumber = 0;
    this.buffers = new PartBuffers(partSize, (body) => this.uploadPart(++partNumber, body));
  }

  /** Copies `chunk` in, sending every part it fills; resolves when the chunk may be reused. Rejects with a failed part's error. */
  async write(chunk: Uint8Array): Promise<void> {
    await this.buffers.write(chunk);
  }

  /** Stores what is left and completes the object: a PutObject when no part went out, otherwise the last part and CompleteMultipartUpload. */
  async end(): Promise<void> {
    if (this.buffers.partsSent === 0) {
      const body = this.buffers.pending;
      await this.target.client.send(new PutObjectCommand({ ...this.objectParams(), Body: body, ContentLength: body.length })).finally(() => this.buffers.dispose());
      return;
    }
    this.buffers.sendPending();
    await this.buffers.settle().finally(() => this.buffers.dispose());
    const Parts = [...this.parts].sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
    const { bucket: Bucket, objectKey: Key } = this.target;
    await this.target.client.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId: await this.uploadId!, MultipartUpload: { Parts } }));
  }

  /** Waits for the parts in flight, then aborts the multipart upload (if one was started), so the store keeps none of its parts. */
  async abort(): Promise<void> {
    await this.buffers.settle().catch(() => undefined);
    this.buffers.dispose();
    const UploadId = await this.uploadId?.catch(() => undefined);
    if (UploadId === undefined) return;
    await this.target.client.send(new AbortMultipartUploadCommand({ Bucket: this.target.bucket, Key: this.target.objectKey, UploadId }));
  }

  private objectParams(): { Bucket: string; Key: string; ContentType?: string } {
    const { bucket, objectKey, contentType } = this.target;
    return { Bucket: bucket, Key: objectKey, ...(contentType === undefined ? {} : { ContentType: contentType }) };
  }

  /** UploadPart, after the multipart upload was created (by the first part). */
  private async uploadPart(PartNumber: number, Body: Buffer): Promise<void> {
    this.uploadId ??= this.target.client.send(new CreateMultipartUploadCommand(this.objectParams())).then(({ UploadId }) => {
      if (UploadId === undefined) throw new Error('CreateMultipartUpload answered without an UploadId');
      return UploadId;
    });
    const UploadId = await this.uploadId;
    const { bucket: Bucket, objectKey: Key } = this.target;
    const { ETag } = await this.target.client.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber, Body, ContentLength: Body.length }));
    this.parts.push({ PartNumber, ETag });
  }
}
