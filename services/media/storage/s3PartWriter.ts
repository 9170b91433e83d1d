import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';

/**
 * Part buffers of one upload: one fills from the source while up to two are stored, so the store's
 * latency per part is hidden. The source is read at most PART_BUFFERS parts (and the chunk that waits for
 * a free buffer) ahead of the parts stored.
 */
export const PART_BUFFERS = 3;

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
 * Writes a byte stream of unknown length to one S3 object through PART_BUFFERS reused buffers of
 * `partSize` bytes: the bytes are copied in as they arrive and each full buffer goes out as one UploadPart
 * (a Buffer body, so the SDK can retry it), then is filled again. An object that fits in one buffer is
 * one PutObject. `end()` completes the multipart upload, so the object appears at the key only whole;
 * `abort()` drops its parts.
 *
 * Why not lib-storage's `Upload` here (it writes the outputs of workers): for a stream it concatenates
 * each part into a fresh buffer that lives until V8's next full collection, which it starts only once
 * ~64 MiB of external memory has grown, so an API receiving an upload grew by 120-140 MB (README,
 * upload-s3). Reused buffers leave no such garbage: memory per upload is PART_BUFFERS × partSize
 * (15 MiB with 5 MiB parts). A part is sent only once full: S3 needs `MIN_PART_BYTES` in every part but
 * the last; `partSize` must be at least that (partSizeFor).
 */
export class PartWriter {
  private readonly free: Buffer[] = [];
  private allocated = 0;
  private current: Buffer | null = null;
  private filled = 0;
  private uploadId: string | undefined;
  private partNumber = 0;
  private readonly parts: CompletedPart[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private failure: { error: unknown } | null = null;

  constructor(
    private readonly target: PartWriterTarget,
    private readonly partSize: number,
  ) {}

  /** Copies `chunk` in, sending every buffer it fills; resolves when the chunk may be reused. Rejects with a failed part's error. */
  async write(chunk: Uint8Array): Promise<void> {
    this.throwIfFailed();
    let offset = 0;
    while (offset < chunk.length) {
      const buffer = this.current ?? (this.current = await this.takeBuffer());
      const copied = Math.min(chunk.length - offset, this.partSize - this.filled);
      buffer.set(chunk.subarray(offset, offset + copied), this.filled);
      this.filled += copied;
      offset += copied;
      if (this.filled === this.partSize) await this.sendCurrent();
    }
  }

  /** Stores what is left and completes the object: a PutObject when nothing went out yet, otherwise the last part and CompleteMultipartUpload. */
  async end(): Promise<void> {
    if (this.partNumber === 0) {
      const body = this.current?.subarray(0, this.filled) ?? Buffer.alloc(0);
      await this.target.client.send(new PutObjectCommand({ ...this.objectParams(), Body: body, ContentLength: body.length }));
      return;
    }
    if (this.filled > 0) await this.sendCurrent();
    await this.settle();
    this.throwIfFailed();
    const Parts = [...this.parts].sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
    await this.target.client.send(
      new CompleteMultipartUploadCommand({ Bucket: this.target.bucket, Key: this.target.objectKey, UploadId: this.uploadId, MultipartUpload: { Parts } }),
    );
  }

  /** Waits for the parts in flight, then aborts the multipart upload (if one was started), so the store keeps none of its parts. */
  async abort(): Promise<void> {
    await this.settle();
    if (this.uploadId === undefined) return;
    await this.target.client.send(new AbortMultipartUploadCommand({ Bucket: this.target.bucket, Key: this.target.objectKey, UploadId: this.uploadId }));
  }

  private objectParams(): { Bucket: string; Key: string; ContentType?: string } {
    const { bucket, objectKey, contentType } = this.target;
    return { Bucket: bucket, Key: objectKey, ...(contentType === undefined ? {} : { ContentType: contentType }) };
  }

  /** A free buffer, a new one while fewer than PART_BUFFERS exist, or the next one a stored part gives back. */
  private async takeBuffer(): Promise<Buffer> {
    while (this.free.length === 0 && this.allocated === PART_BUFFERS) {
      await Promise.race(this.inFlight);
      this.throwIfFailed();
    }
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    this.allocated += 1;
    // Not from the pool, never zero-filled: every byte sent was copied in first.
    return Buffer.allocUnsafeSlow(this.partSize);
  }

  /** Sends the current buffer as the next part; its buffer returns to `free` once the store answered. */
  private async sendCurrent(): Promise<void> {
    const buffer = this.current!;
    const body = buffer.subarray(0, this.filled);
    this.current = null;
    this.filled = 0;
    if (this.uploadId === undefined) {
      const created = await this.target.client.send(new CreateMultipartUploadCommand(this.objectParams()));
      this.uploadId = created.UploadId;
    }
    const PartNumber = ++this.partNumber;
    const sending = this.target.client
      .send(new UploadPartCommand({ Bucket: this.target.bucket, Key: this.target.objectKey, UploadId: this.uploadId, PartNumber, Body: body, ContentLength: body.length }))
      .then(
        ({ ETag }) => {
          this.parts.push({ PartNumber, ETag });
        },
        (error: unknown) => {
          this.failure ??= { error };
        },
      )
      .finally(() => {
        this.inFlight.delete(sending);
        this.free.push(buffer);
      });
    this.inFlight.add(sending);
  }

  private async settle(): Promise<void> {
    await Promise.all(this.inFlight);
  }

  private throwIfFailed(): void {
    if (this.failure !== null) throw this.failure.error;
  }
}
