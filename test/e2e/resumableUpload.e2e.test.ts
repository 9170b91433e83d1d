import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { connect } from 'node:net';
import { createClient } from 'graphql-ws';
import * as tus from 'tus-js-client';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../../services/api/auth/tokenStore.js';
import { Names } from '../../services/messaging/topology.js';
import { queueDepth } from '../helpers/amqp.js';
import { gql } from '../helpers/graphql.js';
import { makeClip } from '../helpers/media.js';
import { TestBucket } from '../helpers/s3.js';
import { waitFor } from '../helpers/processes.js';
import { Stack } from '../helpers/stack.js';
import { openTestStore, type TestStore } from '../helpers/stores.js';

// Resumable uploads against a real API process (no workers: a completed upload stays QUEUED, which is
// all these checks need): createUpload over GraphQL, the bytes over tus, on each storage backend (the
// tus file store under MEDIA_ROOT; @tus/s3-store on the local Swift).

const MiB = 1024 * 1024;
const MAX_UPLOAD_BYTES = 64 * MiB;
const CREATE_UPLOAD = `mutation($filename: String!, $sizeBytes: Float!, $title: String) {
  createUpload(filename: $filename, sizeBytes: $sizeBytes, title: $title) { uploadUrl expiresAt video { id status sizeBytes sha256 title } }
}`;

interface Ticket {
  uploadUrl: string;
  expiresAt: string;
  video: { id: string; status: string; sizeBytes: number; sha256: string; title: string | null };
}

const tokens = { alice: '', bob: '' };
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const tusHeaders = (token: string) => ({ ...bearer(token), 'tus-resumable': '1.0.0' });
const codeOf = (text: string) => (JSON.parse(text) as { errors: { extensions: { code: string } }[] }).errors[0]?.extensions.code;

/**
 * Sends a PATCH declaring all of `file` but with only its first `sent` bytes, then closes the connection
 * (FIN after the bytes, as a client whose network goes away after sending them): an upload cut
 * mid-request. The server reads every byte sent before it sees the end.
 */
async function cutPatch(url: string, file: Buffer, sent: number): Promise<void> {
  const target = new URL(url);
  const socket = connect(Number(target.port), target.hostname);
  socket.on('error', () => undefined);
  const head = [
    `PATCH ${target.pathname} HTTP/1.1`,
    `host: ${target.host}`,
    ...Object.entries({ ...tusHeaders(tokens.alice), 'upload-offset': '0', 'content-type': 'application/offset+octet-stream', 'content-length': String(file.length) }).map(
      ([name, value]) => `${name}: ${value}`,
    ),
    '',
    '',
  ].join('\r\n');
  socket.write(head);
  await new Promise<void>((resolve) => socket.end(file.subarray(0, sent), resolve));
}

/** Resumes with a well-kept tus client from whatever offset the server has. */
function resumeWithTusClient(url: string, file: Buffer, token = tokens.alice): Promise<void> {
  return new Promise((resolve, reject) => {
    const upload = new tus.Upload(file, { uploadUrl: url, headers: bearer(token), retryDelays: [], onSuccess: () => resolve(), onError: reject });
    upload.start();
  });
}

describe.each(['local', 's3'] as const)('on %s storage', (backend) => {
  let store: TestStore;
  let stack: Stack;
  /** The API's TMPDIR of its own (@tus/s3-store downloads a resumed request's short part there). */
  let apiTmp: string;

  beforeAll(async () => {
    store = await openTestStore(backend);
    apiTmp = await mkdtemp(path.join(tmpdir(), 'framelog-tus-tmp-'));
    stack = await Stack.start({ workers: 0, env: store.env, apiEnv: { MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES), AUTH_CACHE_SECONDS: '0', TMPDIR: apiTmp } });
    tokens.alice = (await createToken(stack.database.db, { name: 'alice', role: 'uploader' })).token;
    tokens.bob = (await createToken(stack.database.db, { name: 'bob', role: 'uploader' })).token;
  });

  afterAll(async () => {
    await stack?.close();
    await store?.close();
    await rm(apiTmp, { recursive: true, force: true });
  });

  /** Everything stored for an upload (its bytes, offset record, short part, unfinished multipart upload). */
  async function storedFor(videoId: string): Promise<string[]> {
    return [...(await store.keys(`resumable/${videoId}`)), ...(await store.leftovers()).filter((key) => key.includes(videoId))];
  }

  async function openUpload(sizeBytes: number, token = tokens.alice): Promise<Ticket> {
    const body = await gql<{ createUpload: Ticket }>(stack.apiUrl, CREATE_UPLOAD, { filename: 'big.mp4', sizeBytes, title: 'Resumable' }, bearer(token));
    expect(body.errors).toBeUndefined();
    return body.data!.createUpload;
  }

  async function head(url: string, token = tokens.alice): Promise<Response> {
    return fetch(url, { method: 'HEAD', headers: tusHeaders(token) });
  }

  async function patch(url: string, offset: number, bytes: Buffer, token = tokens.alice): Promise<Response> {
    return fetch(url, {
      method: 'PATCH',
      headers: { ...tusHeaders(token), 'upload-offset': String(offset), 'content-type': 'application/offset+octet-stream' },
      body: bytes,
    });
  }

  async function eventsOf(videoId: string): Promise<{ type: string; data: Record<string, unknown> }[]> {
    const rows = await stack.database.db.selectFrom('events').select(['type', 'data']).where('stream_id', '=', videoId).orderBy('version').execute();
    return rows.map((row) => ({ type: row.type, data: row.data as Record<string, unknown> }));
  }

  const outboxRows = async (videoId: string) => (await stack.database.db.selectFrom('outbox').select('id').where('stream_id', '=', videoId).execute()).length;

  describe('createUpload + tus', () => {
    it('a 12 MiB upload cut after 5 MiB shows the offset, resumes after an API restart, and ends with exactly one VideoUploaded of the same sha256', async () => {
      const file = randomBytes(12 * MiB);
      const ticket = await openUpload(file.length);
      expect(ticket.video).toMatchObject({ status: 'UPLOADING', sizeBytes: file.length, sha256: '', title: 'Resumable' });
      expect(new Date(ticket.expiresAt).getTime()).toBeGreaterThan(Date.now());
      expect(ticket.uploadUrl).toBe(`${stack.apiUrl}/uploads/${ticket.video.id}`);

      await cutPatch(ticket.uploadUrl, file, 5 * MiB);
      // HEAD waits for the cut request's lock: once that request has ended, the server has stored every
      // byte it read, all 5 MiB (a request cut short ends its body with what arrived, and the stores keep it).
      const afterCut = await waitFor(async () => {
        const response = await head(ticket.uploadUrl);
        return response.status === 200 && Number(response.headers.get('upload-offset')) > 0 ? response : null;
      });
      const offset = Number(afterCut.headers.get('upload-offset'));
      expect(offset).toBe(5 * MiB);
      expect(afterCut.headers.get('upload-length')).toBe(String(file.length));

      await stack.api.stop('SIGKILL');
      await stack.startApi();
      const url = `${stack.apiUrl}/uploads/${ticket.video.id}`;
      expect((await head(url)).headers.get('upload-offset')).toBe(String(offset));

      await resumeWithTusClient(url, file);
      const events = await eventsOf(ticket.video.id);
      expect(events.map((e) => e.type)).toEqual(['UploadStarted', 'VideoUploaded']);
      expect(events[1]?.data).toMatchObject({ sha256: createHash('sha256').update(file).digest('hex'), sizeBytes: file.length, storageKey: `resumable/${ticket.video.id}` });
      expect(events[1]?.data.taskId).toBe(events[0]?.data.taskId);
      // The bytes are at that key (s3: the multipart upload completed there; no copy, nothing unfinished).
      expect((await store.bytes(`resumable/${ticket.video.id}`)).equals(file)).toBe(true);
      expect(await storedFor(ticket.video.id)).toEqual([`resumable/${ticket.video.id}`, `resumable/${ticket.video.id}${backend === 'local' ? '.json' : '.info'}`]);
      // One task message: the relay publishes the outbox row to the work queue (no workers consume it here).
      await waitFor(async () => (await queueDepth(stack.namespace, Names.workQueue)) === 1, { message: 'one task message queued' });
      expect(await outboxRows(ticket.video.id)).toBe(0);

      // A client that lost the last answer asks again: HEAD says it is done; a repeated PATCH changes nothing.
      expect((await head(url)).headers.get('upload-offset')).toBe(String(file.length));
      const again = await patch(url, file.length, Buffer.alloc(0));
      expect(again.status).toBe(409);
      expect(codeOf(await again.text())).toBe('UPLOAD_CONFLICT');
      expect((await eventsOf(ticket.video.id)).length).toBe(2);
      expect(await queueDepth(stack.namespace, Names.workQueue)).toBe(1);
    });

    it("refuses another principal's token, a body larger than the declared size, a tus POST and bad createUpload input, changing nothing", async () => {
      const ticket = await openUpload(2 * MiB);
      expect((await patch(ticket.uploadUrl, 0, randomBytes(MiB))).status).toBe(204);
      const before = await eventsOf(ticket.video.id);

      const foreign = await patch(ticket.uploadUrl, MiB, randomBytes(MiB), tokens.bob);
      expect(foreign.status).toBe(403);
      expect(codeOf(await foreign.text())).toBe('FORBIDDEN');
      expect((await head(ticket.uploadUrl, tokens.bob)).status).toBe(403);
      const anonymous = await fetch(ticket.uploadUrl, { method: 'HEAD', headers: { 'tus-resumable': '1.0.0' } });
      expect(anonymous.status).toBe(401);

      const tooLarge = await patch(ticket.uploadUrl, MiB, randomBytes(MiB + 1));
      expect(tooLarge.status).toBe(413);
      expect(codeOf(await tooLarge.text())).toBe('UPLOAD_TOO_LARGE');

      const post = await fetch(`${stack.apiUrl}/uploads`, { method: 'POST', headers: { ...tusHeaders(tokens.alice), 'upload-length': '10' } });
      expect(post.status).toBe(400);
      expect(codeOf(await post.text())).toBe('BAD_USER_INPUT');

      expect((await head(ticket.uploadUrl)).headers.get('upload-offset')).toBe(String(MiB));
      expect(await eventsOf(ticket.video.id)).toEqual(before);

      for (const [variables, code] of [
        [{ filename: 'x.mp4', sizeBytes: MAX_UPLOAD_BYTES + 1 }, 'UPLOAD_TOO_LARGE'],
        [{ filename: 'x.mp4', sizeBytes: 0 }, 'UPLOAD_EMPTY'],
        [{ filename: 'x.mp4', sizeBytes: 1.5 }, 'BAD_USER_INPUT'],
        [{ filename: '  ', sizeBytes: 10 }, 'BAD_USER_INPUT'],
        [{ filename: 'x.mp4', sizeBytes: 10, title: 'x'.repeat(501) }, 'BAD_USER_INPUT'],
      ] as const) {
        const count = (await stack.database.db.selectFrom('events').select('event_id').execute()).length;
        const body = await gql(stack.apiUrl, CREATE_UPLOAD, variables, bearer(tokens.alice));
        expect(body.errors?.[0]?.extensions?.code, JSON.stringify(variables)).toBe(code);
        expect((await stack.database.db.selectFrom('events').select('event_id').execute()).length).toBe(count);
      }
    });

    it('a tus DELETE by the owner cancels the upload: UploadCancelled, the bytes removed, later requests refused', async () => {
      const ticket = await openUpload(2 * MiB);
      expect((await patch(ticket.uploadUrl, 0, randomBytes(MiB))).status).toBe(204);
      expect((await fetch(ticket.uploadUrl, { method: 'DELETE', headers: tusHeaders(tokens.bob) })).status).toBe(403);
      expect((await fetch(ticket.uploadUrl, { method: 'DELETE', headers: tusHeaders(tokens.alice) })).status).toBe(204);

      const events = await eventsOf(ticket.video.id);
      expect(events.map((e) => e.type)).toEqual(['UploadStarted', 'UploadCancelled']);
      expect(events[1]?.data).toMatchObject({ receivedBytes: MiB, requestedBy: 'alice' });
      expect(await storedFor(ticket.video.id)).toEqual([]);
      const video = await gql<{ video: { status: string; lastError: { code: string } } }>(stack.apiUrl, `query($id: ID!) { video(id: $id) { status lastError { code } } }`, { id: ticket.video.id }, bearer(tokens.alice));
      expect(video.data?.video).toEqual({ status: 'FAILED', lastError: { code: 'UPLOAD_CANCELLED' } });
      const late = await patch(ticket.uploadUrl, MiB, randomBytes(MiB));
      expect(late.status).toBe(410);
      expect(codeOf(await late.text())).toBe('UPLOAD_CANCELLED');
      const retry = await gql(stack.apiUrl, `mutation($id: ID!) { retryVideo(id: $id) { id } }`, { id: ticket.video.id }, bearer(tokens.alice));
      expect(retry.errors?.[0]?.extensions?.code).toBe('RETRY_NOT_ALLOWED');
    });
  });

  describe('progress', () => {
    it('bytes arriving reach videoUpdated as progress while UPLOADING', async () => {
      const ticket = await openUpload(4 * MiB);
      const updates: { status: string; progress: number | null }[] = [];
      let connected!: () => void;
      const ready = new Promise<void>((resolve) => (connected = resolve));
      const client = createClient({ url: `${stack.apiUrl.replace(/^http/, 'ws')}/graphql`, webSocketImpl: WebSocket, lazy: false, connectionParams: bearer(tokens.alice), on: { connected: () => connected() } });
      try {
        client.subscribe<{ videoUpdated: { status: string; progress: number | null } }>(
          { query: 'subscription($id: ID) { videoUpdated(id: $id) { status progress } }', variables: { id: ticket.video.id } },
          { next: ({ data }) => void (data && updates.push(data.videoUpdated)), error: () => undefined, complete: () => undefined },
        );
        await ready;
        // A PATCH that takes a few seconds (tus reports received bytes once a second while a request runs).
        const request = http.request(ticket.uploadUrl, {
          method: 'PATCH',
          headers: { ...tusHeaders(tokens.alice), 'upload-offset': '0', 'content-type': 'application/offset+octet-stream', 'content-length': String(2 * MiB) },
        });
        const answered = new Promise<number>((resolve, reject) => {
          request.on('response', (response) => resolve(response.statusCode ?? 0)).on('error', reject);
        });
        // A slow client: a quarter MiB every 400 ms.
        for (let i = 0; i < 8; i += 1) {
          request.write(randomBytes(MiB / 4));
          if (i < 7) await new Promise((resolve) => setTimeout(resolve, 400));
        }
        request.end();
        expect(await answered).toBe(204);
        const progress = await waitFor(() => updates.find((u) => u.status === 'UPLOADING' && u.progress !== null && u.progress > 0), { timeoutMs: 10_000, message: 'a progress update' });
        expect(progress.progress).toBeLessThanOrEqual(50);
      } finally {
        await client.dispose();
      }
    });
  });

  describe('expiry', () => {
    let short: Stack;
    beforeAll(async () => {
      // 1.8 s to finish, a sweep every second.
      short = await Stack.start({ workers: 0, env: store.env, apiEnv: { UPLOAD_EXPIRY_HOURS: '0.0005', UPLOAD_SWEEP_SECONDS: '1' } });
    });
    afterAll(async () => {
      await short?.close();
    });

    it('an upload not finished in time ends with UploadExpired, its bytes removed, and a late PATCH is refused with UPLOAD_EXPIRED', async () => {
      const body = await gql<{ createUpload: Ticket }>(short.apiUrl, CREATE_UPLOAD, { filename: 'slow.mp4', sizeBytes: 2 * MiB });
      const ticket = body.data!.createUpload;
      const headers = { 'tus-resumable': '1.0.0', 'content-type': 'application/offset+octet-stream' };
      expect((await fetch(ticket.uploadUrl, { method: 'PATCH', headers: { ...headers, 'upload-offset': '0' }, body: randomBytes(MiB) })).status).toBe(204);
      await waitFor(
        async () => {
          const rows = await short.database.db.selectFrom('events').select('type').where('stream_id', '=', ticket.video.id).execute();
          return rows.some((row) => row.type === 'UploadExpired');
        },
        { timeoutMs: 20_000, message: 'UploadExpired' },
      );
      // The event first, then the bytes go (endUpload).
      await waitFor(async () => (await storedFor(ticket.video.id)).length === 0, { message: 'the bytes removed' });
      const late = await fetch(ticket.uploadUrl, { method: 'PATCH', headers: { ...headers, 'upload-offset': String(MiB) }, body: randomBytes(MiB) });
      expect(late.status).toBe(410);
      expect(codeOf(await late.text())).toBe('UPLOAD_EXPIRED');
      const rows = await short.database.db.selectFrom('events').select('type').where('stream_id', '=', ticket.video.id).orderBy('version').execute();
      expect(rows.map((row) => row.type)).toEqual(['UploadStarted', 'UploadExpired']);
    });
  });
});

describe('STORAGE=s3 with a worker', () => {
  let bucket: TestBucket;
  let s3: Stack;
  let clips: string;
  beforeAll(async () => {
    bucket = await TestBucket.create();
    clips = await mkdtemp(path.join(tmpdir(), 'framelog-tus-s3-'));
    s3 = await Stack.start({ workers: 1, env: bucket.env });
  });
  afterAll(async () => {
    await s3?.close();
    await bucket?.drop();
    await rm(clips, { recursive: true, force: true });
  });

  it('a completed upload is the source a worker with no shared disk processes', async () => {
    const clip = await makeClip(clips, { width: 320, height: 240, durationSeconds: 1 });
    const bytes = await readFile(clip);
    const body = await gql<{ createUpload: Ticket }>(s3.apiUrl, CREATE_UPLOAD, { filename: 'clip.mp4', sizeBytes: bytes.length });
    const ticket = body.data!.createUpload;
    await new Promise<void>((resolve, reject) => new tus.Upload(bytes, { uploadUrl: ticket.uploadUrl, retryDelays: [], onSuccess: () => resolve(), onError: reject }).start());
    const uploaded = await s3.database.db.selectFrom('events').select('data').where('stream_id', '=', ticket.video.id).where('type', '=', 'VideoUploaded').execute();
    expect(uploaded.map((row) => (row.data as { sha256: string }).sha256)).toEqual([createHash('sha256').update(bytes).digest('hex')]);
    expect(await bucket.keys()).toContain(`resumable/${ticket.video.id}`);
    await waitFor(async () => (await s3.database.db.selectFrom('videos').select('status').where('id', '=', ticket.video.id).executeTakeFirstOrThrow()).status === 'PROCESSED', {
      timeoutMs: 120_000,
      message: 'PROCESSED',
    });
  });
});
