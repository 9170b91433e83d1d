import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { streamUpload, uploadFile, waitForTerminal } from '../helpers/graphql.js';
import { ffmpegCli, makeClip } from '../helpers/media.js';
import { waitFor } from '../helpers/processes.js';
import { Stack } from '../helpers/stack.js';
import { openTestStore, type TestStore } from '../helpers/stores.js';

// The whole deployment on each storage backend: local disk (MEDIA_ROOT shared by API and workers) and
// S3 (the local Swift of ops/s3-up.sh), where the API and the worker share no directory at all.

interface VideoResult {
  id: string;
  status: string;
  lastError: { code: string; message: string } | null;
  renditions: { label: string; url: string; sizeBytes: number }[];
  posterUrl: string | null;
}

/** More than two S3 parts (8 MiB): the upload is a multipart upload when it is cut. */
const CUT_AFTER_BYTES = 20 * 1024 * 1024;

describe.each(['local', 's3'] as const)('storage %s', (backend) => {
  let store: TestStore;
  let stack: Stack;
  let dir: string;
  /** Each process's own directories: on S3 nothing may appear in the API's, and the worker's scratch empties. */
  const own = (proc: 'api' | 'worker') => ({ scratch: path.join(dir, `${proc}-scratch`), media: path.join(dir, `${proc}-media`) });

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), `framelog-storage-${backend}-`));
    store = await openTestStore(backend);
    const separate = (proc: 'api' | 'worker'): Record<string, string> =>
      backend === 's3' ? { SCRATCH_DIR: own(proc).scratch, MEDIA_ROOT: own(proc).media } : { SCRATCH_DIR: own(proc).scratch };
    stack = await Stack.start({ workers: 0, env: store.env, apiEnv: { ...separate('api'), MAX_UPLOAD_BYTES: String(64 * 1024 * 1024) } });
    await stack.startWorker({ env: separate('worker') });
  });

  afterAll(async () => {
    await stack?.close();
    await store?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });


  const waitTerminal = (id: string) => waitForTerminal<VideoResult>(stack.apiUrl, id, 120_000);

  async function upload(file: string): Promise<string> {
    const response = await uploadFile(stack.apiUrl, file);
    expect(response.body.errors).toBeUndefined();
    return response.body.data!.uploadVideo.id;
  }

  async function countEvents(): Promise<number> {
    const row = await stack.database.db.selectFrom('events').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  it('upload → PROCESSED: the renditions and poster are objects of the store, served with Range (206)', async () => {
    const clip = await makeClip(dir, { width: 640, height: 360, durationSeconds: 2, audio: true, name: 'clip.mp4' });
    const id = await upload(clip);
    expect(await store.keys(`uploads/${id}/`)).toEqual([`uploads/${id}/source`]);
    expect((await store.bytes(`uploads/${id}/source`)).equals(await readFile(clip))).toBe(true);

    const video = await waitTerminal(id);
    expect(video.status, JSON.stringify(video.lastError)).toBe('PROCESSED');
    const stored = await store.keys(`renditions/${id}/`);
    const rendition = video.renditions[0]!;
    const renditionKey = stored.find((key) => key.endsWith(`/${rendition.label}.mp4`));
    expect(renditionKey, JSON.stringify(stored)).toBeDefined();
    expect(stored.some((key) => key.endsWith('/poster.jpg'))).toBe(true);

    const ranged = await fetch(new URL(rendition.url, stack.apiUrl), { headers: { range: 'bytes=0-99' } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get('content-range')).toBe(`bytes 0-99/${rendition.sizeBytes}`);
    const served = Buffer.from(await ranged.arrayBuffer());
    expect(served.equals((await store.bytes(renditionKey!)).subarray(0, 100))).toBe(true);
    const poster = await fetch(new URL(video.posterUrl!, stack.apiUrl));
    expect(poster.status).toBe(200);
    expect(poster.headers.get('content-type')).toBe('image/jpeg');
  });

  it('S3: the worker works in its own scratch directory and empties it, sharing no disk with the API; local disk needs none', async () => {
    const id = await upload(await makeClip(dir, { width: 320, height: 240, durationSeconds: 1, name: 'scratch.mp4' }));
    expect((await waitTerminal(id)).status).toBe('PROCESSED');
    // The API never needs a scratch directory.
    expect(existsSync(own('api').scratch)).toBe(false);
    if (backend === 'local') {
      expect(existsSync(own('worker').scratch)).toBe(false);
      return;
    }
    // Neither process ever wrote to its MEDIA_ROOT: resumable uploads go to the bucket too (@tus/s3-store).
    expect(existsSync(own('worker').media)).toBe(false);
    expect(existsSync(own('api').media)).toBe(false);
    // The worker's scratch space held the job (in its process directory) and holds nothing once it ended.
    const processDirs = await readdir(own('worker').scratch);
    expect(processDirs).toHaveLength(1);
    expect(await readdir(path.join(own('worker').scratch, processDirs[0]!))).toEqual([]);
  });

  it('a job that fails after ffmpeg wrote outputs leaves no output set behind', async () => {
    // A faststart MP4 cut in half: ffmpeg writes renditions of the ~2 s it can decode, then the check
    // that the output covers the 4 s the header promises fails the job (MEDIA_CORRUPT).
    const whole = await makeClip(dir, { width: 320, height: 240, durationSeconds: 4, audio: true, name: 'whole.mp4' });
    const faststart = path.join(dir, 'faststart.mp4');
    await ffmpegCli(['-y', '-i', whole, '-c', 'copy', '-movflags', '+faststart', '-f', 'mp4', faststart]);
    const bytes = await readFile(faststart);
    const cut = path.join(dir, 'cut.mp4');
    await writeFile(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const id = await upload(cut);
    const video = await waitTerminal(id);
    expect(video.status).toBe('FAILED');
    expect(video.lastError?.code).toBe('MEDIA_CORRUPT');
    expect(await store.keys(`renditions/${id}`)).toEqual([]);
    expect(await store.leftovers()).toEqual([]);
  });

  it('an upload cut mid-body by the client leaves no object, no unfinished multipart upload and no event', async () => {
    const [events, uploads] = [await countEvents(), await store.keys('uploads/')];
    let release!: () => void;
    const stalled = new Promise<void>((resolve) => (release = resolve));
    const cut = streamUpload(`${stack.apiUrl}/graphql`, {
      file: (async function* (): AsyncGenerator<Buffer> {
        for (let sent = 0; sent < CUT_AFTER_BYTES; sent += 1024 * 1024) yield randomBytes(1024 * 1024);
        await stalled;
      })(),
      bytes: 2 * CUT_AFTER_BYTES,
    });
    // Under way in the store: a temp file on disk, a multipart upload in S3.
    await waitFor(async () => (await store.leftovers()).length > 0, { message: 'the upload to reach the store' });
    cut.abort();
    release();
    await expect(cut.response).rejects.toThrow();
    await waitFor(async () => (await store.leftovers()).length === 0, { message: 'the partial upload to be removed' });
    expect(await store.keys('uploads/')).toEqual(uploads);
    expect(await countEvents()).toBe(events);
    expect(stack.api.running).toBe(true);
  });

  it('no path reaches an uploaded source or anything outside the outputs', async () => {
    const clip = await makeClip(dir, { width: 320, height: 240, durationSeconds: 1, name: 'secret.mp4' });
    const response = await uploadFile(stack.apiUrl, clip, { filename: '../../../../outside.mp4' });
    const id = response.body.data!.uploadVideo.id;
    // The client's filename never becomes part of a key.
    expect(await store.keys('uploads/')).toContain(`uploads/${id}/source`);
    expect((await store.keys('')).some((key) => key.includes('outside'))).toBe(false);
    for (const target of [
      `/media/uploads/${id}/source`,
      `/media/renditions/../uploads/${id}/source`,
      `/media/renditions/%2e%2e/uploads/${id}/source`,
      `/media/renditions/..%2Fuploads%2F${id}%2Fsource`,
      `/media/renditions/${id}/..%2F..%2Fuploads%2F${id}%2Fsource`,
      `/media/renditions/${id}/manifest.json`,
      '/media/renditions/..%2F..%2F..%2F..%2Fetc%2Fpasswd',
    ]) {
      // 403 for a path that is not a key (traversal), 404 for a key that is not public.
      const answer = await rawGet(stack.apiUrl, target);
      expect([403, 404], `${target}: ${answer.status}`).toContain(answer.status);
      expect(JSON.parse(answer.body)).toMatchObject({ errors: [{ extensions: { code: expect.stringMatching(/^(NOT_FOUND|BAD_USER_INPUT)$/) as unknown } }] });
    }
  });
});

/** GET with the path sent exactly as written (fetch would normalise `..` away before sending it). */
function rawGet(base: string, rawPath: string): Promise<{ status: number; body: string }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const request = http.request({ host: url.hostname, port: url.port, path: rawPath, method: 'GET' }, (answer) => {
      let body = '';
      answer.setEncoding('latin1');
      answer.on('data', (chunk: string) => (body += chunk));
      answer.on('end', () => resolve({ status: answer.statusCode ?? 0, body }));
    });
    request.on('error', reject);
    request.end();
  });
}
