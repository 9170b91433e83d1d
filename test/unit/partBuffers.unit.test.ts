import { describe, expect, it } from 'vitest';
import { PART_BUFFERS, PartBuffers } from '../../services/media/storage/partBuffers.js';

const PART = 1024 * 1024;

describe('PartBuffers', () => {
  it('cuts the bytes into parts of partSize in order, reusing at most PART_BUFFERS buffers, and dispose frees them', async () => {
    const bytes = Buffer.alloc(5 * PART + 10).map((_, i) => i % 251);
    const parts: Buffer[] = [];
    const bodies: Buffer[] = [];
    const buffers = new PartBuffers(PART, async (body) => {
      parts.push(Buffer.from(body)); // copied: the buffer is reused once this settles
      bodies.push(body);
      await Promise.resolve();
    });
    for (let offset = 0; offset < bytes.length; offset += 300_000) await buffers.write(bytes.subarray(offset, offset + 300_000));
    buffers.sendPending();
    await buffers.settle();
    expect(parts.map((part) => part.length)).toEqual([PART, PART, PART, PART, PART, 10]);
    expect(Buffer.concat(parts).equals(bytes)).toBe(true);
    expect(new Set(bodies.map((body) => body.buffer)).size).toBeLessThanOrEqual(PART_BUFFERS);

    const held = process.memoryUsage().arrayBuffers;
    buffers.dispose();
    expect(bodies.every((body) => body.length === 0)).toBe(true);
    expect(held - process.memoryUsage().arrayBuffers).toBeGreaterThanOrEqual(PART);
  });
});
