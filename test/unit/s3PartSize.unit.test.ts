import { describe, expect, it } from 'vitest';
import { MAX_PARTS, MIN_PART_BYTES, partSizeFor } from '../../services/media/storage/s3PartWriter.js';

const MiB = 1024 * 1024;

describe('partSizeFor', () => {
  it("is S3's minimum part of 5 MiB for every limit that 10,000 such parts hold", () => {
    expect(partSizeFor(1)).toBe(MIN_PART_BYTES);
    expect(partSizeFor(2 * 1024 ** 3)).toBe(MIN_PART_BYTES);
    expect(partSizeFor(MIN_PART_BYTES * MAX_PARTS)).toBe(MIN_PART_BYTES);
  });

  it('grows by whole MiB above that, so an upload at its limit never needs more than 10,000 parts', () => {
    for (const maxBytes of [MIN_PART_BYTES * MAX_PARTS + 1, 100 * 1024 ** 3, 5 * 1024 ** 4]) {
      const size = partSizeFor(maxBytes);
      expect(size % MiB).toBe(0);
      expect(Math.ceil(maxBytes / size)).toBeLessThanOrEqual(MAX_PARTS);
      expect(Math.ceil(maxBytes / (size - MiB))).toBeGreaterThan(MAX_PARTS);
    }
  });
});
