import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer, text } from 'node:stream/consumers';
import { CreateMultipartUploadCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, FramelogError } from '../../services/domain/errors.js';
import { outputSetKey, sourceKey } from '../../services/media/keys.js';
import { LocalDiskStorage } from '../../services/media/storage/local.js';
import { S3Storage } from '../../services/media/storage/s3.js';
import { PublishedOutputs } from '../../services/media/storage/published.js';
import { handOver } from '../../services/media/storage/releasableChunks.js';
import { Scratch } from '../../services/media/storage/scratch.js';
import type { MediaStorage } from '../../services/media/storage/types.js';
import { failure } from '../helpers/failure.js';
import { listFiles } from '../helpers/media.js';
import { TestBucket } from '../helpers/s3.js';

// The MediaStorage contract on both backends: local disk and S3 (the local Swift, a bucket for this file).

let dir: string;
let bucket: TestBucket;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'framelog-contract-'));
  bucket = await TestBucket.create();
});

afterAll(async () => {
  await bucket?.drop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

interface Backend {
  storage: MediaStorage;
  /** What unfinished work left behind: hidden staging/temp files, S3 multipart uploads, scratch files. */
  leftovers(): Promise<string[]>;
}

const backends: Record<'local' | 's3', () => Promise<Backend>> = {
  local: () => {
    const root = path.join(dir, 'local');
    return Promise.resolve({
      storage: new LocalDiskStorage(root),
      leftovers: async () => (await listFiles(root)).filter((file) => file.split(path.sep).some((s) => s.startsWith('.'))),
    });
  },
  s3: () => {
    const scratch = path.join(dir, 's3-scratch');
    return Promise.resolve({
      storage: new S3Storage(bucket.client, { bucket: bucket.settings.bucket, prefix: 'contract/' }, new Scratch(scratch)),
      leftovers: async () => [...(await bucket.pendingUploads()), ...(await listFiles(scratch))],
    });
  },
};

const contentOf = async (storage: MediaStorage, key: string) => {
  const body = await storage.read(key);
  return body === null ? null : text(body);
};

describe.each(['local', 's3'] as const)('MediaStorage on %s', (name) => {
  let backend: Backend;
  let storage: MediaStorage;

  beforeAll(async () => {
    backend = await backends[name]();
    storage = backend.storage;
  });

  it('writeStream frees each handed-over chunk once its bytes are stored, and leaves a caller’s own buffers whole', async () => {
    const MiB = 1024 * 1024;
    const bytes = randomBytes(6 * MiB + 5);
    // Chunks with ArrayBuffers of their own, as a request's are; every other one handed over.
    const chunks = Array.from({ length: 7 }, (_, i) => {
      const chunk = Buffer.allocUnsafeSlow(Math.min(MiB, bytes.length - i * MiB));
      bytes.copy(chunk, 0, i * MiB);
      return i % 2 === 0 ? handOver(chunk) : chunk;
    });
    const lengths = chunks.map((chunk) => chunk.length);
    const key = sourceKey(randomUUID());
    expect((await storage.writeStream(key, Readable.from(chunks), { maxBytes: bytes.length })).sizeBytes).toBe(bytes.length);
    expect(chunks.map((chunk) => chunk.length)).toEqual(lengths.map((length, i) => (i % 2 === 0 ? 0 : length)));
    expect(Buffer.concat(chunks.filter((_, i) => i % 2 === 1)).equals(Buffer.concat([1, 3, 5].map((i) => bytes.subarray(i * MiB, (i + 1) * MiB))))).toBe(true);
    expect((await buffer((await storage.read(key))!)).equals(bytes)).toBe(true);
  });

  it('an output set is invisible until commit, then every file and the manifest are there at once', async () => {
    const setKey = outputSetKey(randomUUID());
    const set = await storage.openOutputSet(setKey);
    await writeFile(await set.localPath('720p.mp4'), 'rendition');
    const hls = await set.localDir('hls');
    await writeFile(path.join(hls, 'seg-00001.m4s'), 'segment');
    await set.writeFile('hls/master.m3u8', Readable.from([Buffer.from('#EXTM3U\n')]));
    expect(await new PublishedOutputs(storage).stat(set.keyOf('720p.mp4'))).toBeNull();
    expect(await storage.readManifest(setKey)).toBeNull();

    const manifest = await set.commit();
    expect(manifest.files.map((file) => file.name)).toEqual(['720p.mp4', 'hls/master.m3u8', 'hls/seg-00001.m4s']);
    expect(await storage.readManifest(setKey)).toEqual(manifest);
    expect(await contentOf(storage, set.keyOf('720p.mp4'))).toBe('rendition');
    expect(await contentOf(storage, set.keyOf('hls/seg-00001.m4s'))).toBe('segment');
    expect(await storage.stat(set.keyOf('720p.mp4'))).toMatchObject({ sizeBytes: 9 });
    expect(await text((await storage.read(set.keyOf('720p.mp4'), { start: 3, end: 6 }))!)).toBe('diti');
    expect(await backend.leftovers()).toEqual([]);
  });

  it('a rerun replaces the set as a whole: the old version is gone once the new one is committed', async () => {
    const setKey = outputSetKey(randomUUID());
    const first = await storage.openOutputSet(setKey);
    await first.writeFile('720p.mp4', 'first');
    await first.writeFile('480p.mp4', 'first');
    await first.commit();
    const second = await storage.openOutputSet(setKey);
    await second.writeFile('360p.mp4', 'second');
    // Until the second commits, readers keep the first.
    expect(await contentOf(storage, first.keyOf('720p.mp4'))).toBe('first');
    await second.commit();
    expect(await storage.stat(first.keyOf('720p.mp4'))).toBeNull();
    expect(await storage.stat(first.keyOf('480p.mp4'))).toBeNull();
    expect(await contentOf(storage, second.keyOf('360p.mp4'))).toBe('second');
    expect((await storage.readManifest(setKey))?.version).toBe(second.version);
  });

  it('abort, or a commit that fails, leaves nothing and keeps the committed version', async () => {
    const setKey = outputSetKey(randomUUID());
    const kept = await storage.openOutputSet(setKey);
    await kept.writeFile('720p.mp4', 'kept');
    await kept.commit();

    const aborted = await storage.openOutputSet(setKey);
    await aborted.writeFile('720p.mp4', 'half');
    await aborted.abort();
    expect(await storage.stat(aborted.keyOf('720p.mp4'))).toBeNull();

    // A producer wrote a file whose name is no key: the commit refuses the whole set.
    const refused = await storage.openOutputSet(setKey);
    await refused.writeFile('480p.mp4', 'fine');
    await writeFile(path.join(await refused.localDir('hls'), 'bad name.m4s'), 'x');
    await failure(refused.commit(), ErrorCode.BAD_USER_INPUT);
    expect(await storage.stat(refused.keyOf('480p.mp4'))).toBeNull();

    await failure((await storage.openOutputSet(setKey)).commit(), ErrorCode.TRANSCODE_FAILED);
    expect((await storage.readManifest(setKey))?.version).toBe(kept.version);
    expect(await contentOf(storage, kept.keyOf('720p.mp4'))).toBe('kept');
    expect(await backend.leftovers()).toEqual([]);
  });

  it("opening a set leaves what another run left (it may still be writing); removeUnfinished removes it", async () => {
    const setKey = outputSetKey(randomUUID());
    const killed = await storage.openOutputSet(setKey);
    await killed.writeFile('720p.mp4', 'orphan');
    if (name === 's3') {
      // Killed during its commit: one file uploaded, another one's multipart upload begun.
      const Bucket = bucket.settings.bucket;
      await bucket.client.send(new PutObjectCommand({ Bucket, Key: `contract/${killed.keyOf('720p.mp4')}`, Body: 'orphan' }));
      await bucket.client.send(new CreateMultipartUploadCommand({ Bucket, Key: `contract/${killed.keyOf('480p.mp4')}` }));
      // Uploaded, but no manifest names its version: not published.
      expect(await new PublishedOutputs(storage).stat(killed.keyOf('720p.mp4'))).toBeNull();
    }
    // No commit, no abort: the process died, or it is still running. Another run of the video touches none of it.
    const next = await storage.openOutputSet(setKey);
    if (name === 's3') {
      expect(await bucket.keys(`contract/${setKey}/`)).toEqual([`contract/${killed.keyOf('720p.mp4')}`]);
      expect(await bucket.pendingUploads()).toHaveLength(1);
    }
    await next.writeFile('720p.mp4', 'new');
    await next.commit();
    // Once the video is terminal nothing can still be writing: what never finished goes.
    await storage.removeUnfinished(setKey);
    expect(await storage.stat(killed.keyOf('720p.mp4'))).toBeNull();
    if (name === 's3') expect(await bucket.pendingUploads()).toEqual([]);
    expect(await storage.stat(next.keyOf('720p.mp4'))).not.toBeNull();
    // The dead process's scratch directory goes when the next process starts; this one is still alive.
    await killed.abort();
  });

  it.each(['../escape', 'a/../../escape', '/absolute', '.hidden', 'a//b', ''])('the output name %j is refused (BAD_USER_INPUT)', async (bad) => {
    const set = await storage.openOutputSet(outputSetKey(randomUUID()));
    try {
      expect(() => set.keyOf(bad)).toThrow(FramelogError);
      await failure(set.localPath(bad), ErrorCode.BAD_USER_INPUT);
      await failure(set.localDir(bad), ErrorCode.BAD_USER_INPUT);
      await failure(set.writeFile(bad, 'x'), ErrorCode.BAD_USER_INPUT);
    } finally {
      await set.abort();
    }
    await failure(storage.openOutputSet(`renditions/${bad}`), ErrorCode.BAD_USER_INPUT);
  });

  it('a scratch or staging directory holds nothing once sets are committed or aborted', async () => {
    expect(await backend.leftovers()).toEqual([]);
    if (name === 's3') {
      const processDirs = await readdir(path.join(dir, 's3-scratch'));
      for (const processDir of processDirs) expect(await readdir(path.join(dir, 's3-scratch', processDir))).toEqual([]);
    }
  });
});
