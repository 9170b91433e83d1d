import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { CreateMultipartUploadCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../services/domain/errors.js';
import { createS3Client } from '../../services/media/storage/s3Client.js';
import { PART_BUFFERS } from '../../services/media/storage/partBuffers.js';
import { MIN_PART_BYTES, partSizeFor } from '../../services/media/storage/s3PartWriter.js';
import { PART_SIZE } from '../../services/media/storage/s3Upload.js';
import { S3Objects } from '../../services/media/storage/s3.js';
import { Scratch } from '../../services/media/storage/scratch.js';
import { failure } from '../helpers/failure.js';
import { TestBucket } from '../helpers/s3.js';

// The S3 backend's own guarantees against the real S3 server (the local Swift, ops/s3-up.sh).

let bucket: TestBucket;
let scratchDir: string;
let objects: S3Objects;

beforeAll(async () => {
  bucket = await TestBucket.create();
  scratchDir = await mkdtemp(path.join(tmpdir(), 'framelog-s3-scratch-'));
  objects = bucket.objects(scratchDir);
});

afterAll(async () => {
  await bucket?.drop();
  if (scratchDir !== undefined) await rm(scratchDir, { recursive: true, force: true });
});

const newKey = () => `uploads/${randomUUID()}/source`;

/** `total` random bytes in 1 MiB chunks, then a failure of the source itself when `failAfter` is given. */
function source(total: number, failAfter?: number): { stream: Readable; bytes: Buffer } {
  const bytes = randomBytes(total);
  let offset = 0;
  const stream = new Readable({
    read() {
      if (failAfter !== undefined && offset >= failAfter) {
        this.destroy(new Error('client went away'));
        return;
      }
      if (offset >= total) {
        this.push(null);
        return;
      }
      this.push(bytes.subarray(offset, offset + 1024 * 1024));
      offset += 1024 * 1024;
    },
  });
  return { stream, bytes };
}

describe('S3 storage: writeStream', () => {
  it('streams a multipart object and reports the size and sha256 of the bytes', async () => {
    const key = newKey();
    const size = PART_SIZE * 2 + 12_345;
    const { stream, bytes } = source(size);
    const written = await objects.writeStream(key, stream, { maxBytes: size });
    expect(written).toEqual({ sizeBytes: size, sha256: createHash('sha256').update(bytes).digest('hex') });
    const stored = await objects.stat(key);
    expect(stored?.sizeBytes).toBe(size);
    expect(stored?.etag).toMatch(/^".+"$/);
    const local = await objects.readLocal(key);
    expect(local).not.toBeNull();
    expect((await readFile(local!.path)).equals(bytes)).toBe(true);
    await local!.release();
    await expect(stat(path.dirname(local!.path))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('reads the source at most PART_BUFFERS parts ahead of the parts stored: the request waits while parts are in flight', async () => {
    // The bytes of finished UploadParts, counted by a client of the test's own.
    const client = createS3Client(bucket.settings);
    let stored = 0;
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const result = await next(args);
        if (context.commandName === 'UploadPartCommand') stored += (args.input as { Body?: Uint8Array }).Body?.byteLength ?? 0;
        return result;
      },
      { step: 'initialize' },
    );
    const counted = new S3Objects(client, { bucket: bucket.settings.bucket, prefix: '' }, new Scratch(scratchDir));
    const size = PART_SIZE * 12 + 4321;
    const { stream, bytes } = source(size);
    const writing = counted.writeStream(newKey(), stream, { maxBytes: size });
    // Bytes the upload took from the source beyond those stored, at each chunk it took.
    let taken = 0;
    let readAhead = 0;
    stream.on('data', (chunk: Buffer) => {
      taken += chunk.length;
      readAhead = Math.max(readAhead, taken - stored);
    });
    const written = await writing;
    client.destroy();
    expect(written.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(stored).toBe(size);
    // Every buffer out, plus the one 1 MiB chunk that waits for one of them to come back.
    expect(readAhead).toBeLessThanOrEqual(PART_BUFFERS * partSizeFor(size) + 1024 * 1024);
  });

  it.each([
    ['one byte', 1],
    ['exactly one part', MIN_PART_BYTES],
    ['exactly three parts (the last buffer empty at the end)', MIN_PART_BYTES * 3],
    ['one byte more than a part', MIN_PART_BYTES + 1],
  ])('stores %s whole, byte for byte', async (_name, size) => {
    expect(partSizeFor(size)).toBe(MIN_PART_BYTES);
    const key = newKey();
    const { stream, bytes } = source(size);
    expect(await objects.writeStream(key, stream, { maxBytes: size })).toEqual({ sizeBytes: size, sha256: createHash('sha256').update(bytes).digest('hex') });
    const body = await objects.read(key);
    const chunks: Buffer[] = [];
    for await (const chunk of body!) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).equals(bytes)).toBe(true);
    expect(await bucket.pendingUploads()).toEqual([]);
  });

  it('the store failing one part: the error, the source destroyed, no object and no multipart upload left', async () => {
    const client = createS3Client(bucket.settings);
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'UploadPartCommand' && (args.input as { PartNumber?: number }).PartNumber === 3) throw new Error('store refused part 3');
        return next(args);
      },
      { step: 'initialize' },
    );
    const failing = new S3Objects(client, { bucket: bucket.settings.bucket, prefix: '' }, new Scratch(scratchDir));
    const key = newKey();
    const { stream } = source(PART_SIZE * 6);
    await expect(failing.writeStream(key, stream, { maxBytes: PART_SIZE * 10 })).rejects.toThrow('store refused part 3');
    client.destroy();
    expect(stream.destroyed).toBe(true);
    expect(await bucket.keys(key)).toEqual([]);
    expect(await bucket.pendingUploads()).toEqual([]);
  });

  it('a source that fails after several parts were uploaded: UPLOAD_FAILED, no object, no multipart upload left', async () => {
    const key = newKey();
    const { stream } = source(PART_SIZE * 4, PART_SIZE * 2 + 1024 * 1024);
    const error = await failure(objects.writeStream(key, stream, { maxBytes: PART_SIZE * 10 }), ErrorCode.UPLOAD_FAILED);
    expect(error.retryable).toBe(true);
    expect(error.message).toContain('client went away');
    expect(await objects.exists(key)).toBe(false);
    expect(await bucket.keys(key)).toEqual([]);
    expect(await bucket.pendingUploads()).toEqual([]);
  });

  it('more than maxBytes: UPLOAD_TOO_LARGE as soon as they arrive, the source destroyed, nothing left', async () => {
    const key = newKey();
    const { stream } = source(PART_SIZE * 6);
    await failure(objects.writeStream(key, stream, { maxBytes: PART_SIZE * 2 }), ErrorCode.UPLOAD_TOO_LARGE);
    expect(stream.destroyed).toBe(true);
    expect(await bucket.keys(key)).toEqual([]);
    expect(await bucket.pendingUploads()).toEqual([]);
  });

  it('an empty source: UPLOAD_EMPTY and no object', async () => {
    const key = newKey();
    await failure(objects.writeStream(key, Readable.from([]), { maxBytes: 10 }), ErrorCode.UPLOAD_EMPTY);
    expect(await bucket.keys(key)).toEqual([]);
  });

  it.each(['../escape', 'uploads/../../escape', '/absolute', 'uploads/.hidden', 'uploads//double', 'uploads/a\\b', ''])(
    'the key %j is refused with BAD_USER_INPUT before anything is stored or read',
    async (key) => {
      const before = await bucket.keys();
      await failure(objects.writeStream(key, Readable.from([Buffer.from('x')]), { maxBytes: 10 }), ErrorCode.BAD_USER_INPUT);
      await failure(objects.stat(key), ErrorCode.BAD_USER_INPUT);
      await failure(objects.read(key), ErrorCode.BAD_USER_INPUT);
      await failure(objects.readLocal(key), ErrorCode.BAD_USER_INPUT);
      await failure(objects.remove(key), ErrorCode.BAD_USER_INPUT);
      expect(await bucket.keys()).toEqual(before);
    },
  );
});

describe('S3 storage: reads, prefixes, removal', () => {
  it('reads a byte range', async () => {
    const key = newKey();
    await objects.writeStream(key, Readable.from([Buffer.from('0123456789')]), { maxBytes: 100 });
    expect(await text((await objects.read(key, { start: 2, end: 5 }))!)).toBe('2345');
    expect(await text((await objects.read(key))!)).toBe('0123456789');
    expect(await objects.read(newKey())).toBeNull();
    expect(await objects.stat(newKey())).toBeNull();
    expect(await objects.readLocal(newKey())).toBeNull();
  });

  it('keeps every key under S3_PREFIX, and a prefix names nothing outside it', async () => {
    const prefixed = bucket.objects(scratchDir, 'tenant-a/');
    const key = newKey();
    await prefixed.writeStream(key, Readable.from([Buffer.from('inside')]), { maxBytes: 100 });
    expect(await bucket.keys(`tenant-a/${key}`)).toEqual([`tenant-a/${key}`]);
    expect(await objects.exists(key)).toBe(false);
    expect(await prefixed.exists(key)).toBe(true);
  });

  it('removePrefix removes every object below it and unfinished multipart uploads, nothing beside it', async () => {
    const id = randomUUID();
    for (const name of ['a.mp4', 'v1/b.mp4', 'v1/hls/c.m4s']) {
      await objects.writeStream(`renditions/${id}/${name}`, Readable.from([Buffer.from(name)]), { maxBytes: 100 });
    }
    const sibling = `renditions/${id}x/keep.mp4`;
    await objects.writeStream(sibling, Readable.from([Buffer.from('keep')]), { maxBytes: 100 });
    // A multipart upload its process never finished (killed mid-upload).
    await bucket.client.send(new CreateMultipartUploadCommand({ Bucket: bucket.settings.bucket, Key: `renditions/${id}/v2/d.mp4` }));
    expect(await bucket.pendingUploads()).toEqual([`renditions/${id}/v2/d.mp4`]);

    await objects.removePrefix(`renditions/${id}`);
    expect(await bucket.keys(`renditions/${id}/`)).toEqual([]);
    expect(await bucket.pendingUploads()).toEqual([]);
    expect(await objects.exists(sibling)).toBe(true);
  });
});

describe('S3 storage: scratch directory', () => {
  it('removes the scratch directories of processes that are gone, and keeps those of running ones', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'framelog-scratch-'));
    try {
      // pid 2^22 + 1 is above Linux's pid_max: no process has it.
      const gone = path.join(dir, `${2 ** 22 + 1}-0123abcd`);
      const running = path.join(dir, `${process.ppid}-0123abcd`);
      await mkdir(path.join(gone, 'source-x'), { recursive: true });
      await mkdir(running);
      const key = newKey();
      await objects.writeStream(key, Readable.from([Buffer.from('bytes')]), { maxBytes: 100 });
      const local = await bucket.objects(dir).readLocal(key);
      const entries = await readdir(dir);
      expect(entries).not.toContain(path.basename(gone));
      expect(entries).toContain(path.basename(running));
      expect(entries.filter((name) => name.startsWith(`${process.pid}-`))).toHaveLength(1);
      await local!.release();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
