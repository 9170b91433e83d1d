import { freeOwned } from './releasableChunks.js';

/**
 * Part buffers of one upload: one fills from the source while up to two are stored, so the store's
 * latency per part is hidden. The source is read at most PART_BUFFERS parts (and the chunk that waits for
 * a free buffer) ahead of the parts stored.
 */
export const PART_BUFFERS = 3;

/** Stores one part (`body` is valid only until the returned promise settles: its buffer is reused then). */
export type SendPart = (body: Buffer) => Promise<void>;

/**
 * Cuts a byte stream into parts of `partSize` bytes in PART_BUFFERS buffers that it reuses: chunks are
 * copied in as they arrive, each full buffer is handed to `send` (in order, without waiting for the
 * previous one), and comes back for filling once `send` settled. Memory per upload is PART_BUFFERS ×
 * partSize whatever its length, and nothing is left for the garbage collector: a fresh buffer per part
 * (lib-storage's way for streams) stays in memory until V8's next full collection, which V8 starts only
 * after ~64 MiB of external memory has grown (README, upload-s3).
 */
export class PartBuffers {
  private readonly free: Buffer[] = [];
  private allocated = 0;
  private current: Buffer | null = null;
  private filled = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private failure: { error: unknown } | null = null;
  /** Parts handed to `send` so far. */
  partsSent = 0;

  constructor(
    private readonly partSize: number,
    private readonly send: SendPart,
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
      if (this.filled === this.partSize) this.sendCurrent();
    }
  }

  /** The bytes written since the last part was sent (fewer than `partSize`), valid until the next write. */
  get pending(): Buffer {
    return this.current?.subarray(0, this.filled) ?? Buffer.alloc(0);
  }

  /** Sends the pending bytes as a part of their own (the last one), if there are any. */
  sendPending(): void {
    if (this.filled > 0) this.sendCurrent();
  }

  /** Waits for every part in flight; rejects with the first failure of any part. */
  async settle(): Promise<void> {
    await Promise.all(this.inFlight);
    this.throwIfFailed();
  }

  /**
   * Frees the buffers' memory now, rather than at V8's next full collection (releasableChunks). Call it
   * once settled (no part in flight); nothing may be written afterwards.
   */
  dispose(): void {
    for (const buffer of this.free.splice(0)) freeOwned(buffer);
    if (this.current !== null) freeOwned(this.current);
    this.current = null;
    this.filled = 0;
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

  private sendCurrent(): void {
    const buffer = this.current!;
    const body = buffer.subarray(0, this.filled);
    this.current = null;
    this.filled = 0;
    this.partsSent += 1;
    const sending = Promise.resolve()
      .then(() => this.send(body))
      .catch((error: unknown) => {
        this.failure ??= { error };
      })
      .finally(() => {
        this.inFlight.delete(sending);
        this.free.push(buffer);
      });
    this.inFlight.add(sending);
  }

  private throwIfFailed(): void {
    if (this.failure !== null) throw this.failure.error;
  }
}
