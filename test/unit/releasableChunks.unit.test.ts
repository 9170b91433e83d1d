import { describe, expect, it } from 'vitest';
import { handOver, releaseStored } from '../../services/media/storage/releasableChunks.js';

const MiB = 1024 * 1024;

describe('releasableChunks', () => {
  it('frees a handed-over chunk at once: it reads as empty and its memory is no longer held', () => {
    const chunk = handOver(Buffer.allocUnsafeSlow(8 * MiB).fill(1));
    const before = process.memoryUsage().arrayBuffers;
    releaseStored(chunk);
    expect(chunk.length).toBe(0);
    expect(before - process.memoryUsage().arrayBuffers).toBeGreaterThanOrEqual(8 * MiB);
  });

  it('leaves a chunk that was not handed over alone (a caller’s own buffer)', () => {
    const chunk = Buffer.alloc(MiB, 7);
    releaseStored(chunk);
    expect(chunk.equals(Buffer.alloc(MiB, 7))).toBe(true);
  });

  it('never marks a view of part of a buffer: freeing it would empty the rest (a pool slice, a subarray)', () => {
    const whole = Buffer.alloc(2 * MiB, 3);
    const half = handOver(whole.subarray(MiB));
    const pooled = handOver(Buffer.from('from the pool'));
    releaseStored(half);
    releaseStored(pooled);
    expect(whole.equals(Buffer.alloc(2 * MiB, 3))).toBe(true);
    expect(pooled.toString()).toBe('from the pool');
  });

  it('frees a chunk once: a second release does nothing', () => {
    const chunk = handOver(Buffer.allocUnsafeSlow(MiB));
    releaseStored(chunk);
    expect(() => releaseStored(chunk)).not.toThrow();
    expect(chunk.length).toBe(0);
  });
});
