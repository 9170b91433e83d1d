import { Readable } from 'node:stream';
import type { FileUpload } from 'graphql-upload-minimal';
import { describe, expect, it } from 'vitest';
import { openUpload } from '../../services/api/upload.js';
import { releaseStored } from '../../services/media/storage/releasableChunks.js';

/** A file part as graphql-upload-minimal gives it out: its createReadStream is the parser's file stream. */
function filePart(stream: Readable): Promise<FileUpload> {
  return Promise.resolve({ fieldName: '0', filename: 'clip.mp4', mimetype: 'video/mp4', encoding: '7bit', createReadStream: () => stream } as FileUpload);
}

describe('openUpload', () => {
  it('hands over each chunk the parser pushes into the file part, so storage frees it once stored; a view of part of a chunk stays whole', async () => {
    const parser = new Readable({ read: () => undefined });
    const { stream } = await openUpload(filePart(parser));
    const whole = Buffer.allocUnsafeSlow(64 * 1024).fill(1);
    const requestChunk = Buffer.allocUnsafeSlow(64 * 1024).fill(2);
    const beforeBoundary = requestChunk.subarray(0, 1000);
    const chunks = stream[Symbol.asyncIterator]();
    const read: Buffer[] = [];
    for (const pushed of [whole, beforeBoundary]) {
      stream.push(pushed);
      read.push((await chunks.next()).value as Buffer);
    }
    expect(read[0]).toBe(whole);
    expect(read[1]!.equals(beforeBoundary)).toBe(true);
    for (const chunk of read) releaseStored(chunk);
    expect(whole.length).toBe(0);
    expect(beforeBoundary.equals(Buffer.alloc(1000, 2))).toBe(true);
    expect(requestChunk.equals(Buffer.alloc(64 * 1024, 2))).toBe(true);
  });
});
