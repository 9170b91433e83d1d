import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { MAX_MESSAGE_BYTES } from '../../services/api/subscriptions/wsServer.js';
import { makeClip } from '../helpers/media.js';
import { gql, uploadFile } from '../helpers/graphql.js';
import { startService, waitFor, type ServiceProcess } from '../helpers/processes.js';
import { Stack } from '../helpers/stack.js';

interface Update {
  id: string;
  status: string;
  progress: number | null;
}

let stack: Stack;
let apiA: ServiceProcess;
let urlA: string;
let clips: string;
const clients: Client[] = [];

beforeAll(async () => {
  clips = await mkdtemp(path.join(tmpdir(), 'framelog-live-'));
  // Process B (the stack's API) takes uploads; process A, on the same database and namespace, serves
  // subscriptions: only PostgreSQL LISTEN/NOTIFY connects them.
  stack = await Stack.start({ workers: 1 });
  apiA = startService('api-a', 'api', { ...stack.env, PORT: '0', RELAY_IN_API: 'false' });
  urlA = String((await apiA.waitForLog((l) => l.msg === 'listening')).url);
});

afterAll(async () => {
  await Promise.all(clients.map(async (c) => c.dispose()));
  await apiA?.stop('SIGKILL');
  await stack?.close();
  await rm(clips, { recursive: true, force: true });
});

/** Subscribes over graphql-ws and records every update; resolves once the server acknowledged. */
async function subscribe(baseUrl: string, id: string | null): Promise<Update[]> {
  const updates: Update[] = [];
  let acknowledged!: () => void;
  const ready = new Promise<void>((resolve) => (acknowledged = resolve));
  const client = createClient({ url: `${baseUrl.replace(/^http/, 'ws')}/graphql`, webSocketImpl: WebSocket, lazy: false, on: { connected: () => acknowledged() } });
  clients.push(client);
  client.subscribe<{ videoUpdated: Update }>(
    { query: 'subscription($id: ID) { videoUpdated(id: $id) { id status progress } }', variables: { id } },
    {
      next: ({ data, errors }) => {
        if (errors) throw new Error(JSON.stringify(errors));
        if (data) updates.push(data.videoUpdated);
      },
      error: (error) => {
        throw error instanceof Error ? error : new Error(JSON.stringify(error));
      },
      complete: () => undefined,
    },
  );
  await ready;
  return updates;
}

const statusesOf = (updates: readonly Update[], id: string) =>
  updates.filter((u) => u.id === id).map((u) => u.status).filter((status, i, all) => status !== all[i - 1]);

describe('live status across API processes', () => {
  it('a subscriber on process A sees QUEUED → PROCESSING → PROCESSED, with progress, for an upload through process B', async () => {
    const all = await subscribe(urlA, null);
    // The connection is acknowledged before the subscription is registered: a first upload whose
    // update reaches the subscriber proves it is.
    const warmUp = await uploadFile(stack.apiUrl, await makeClip(clips, { width: 160, height: 120, durationSeconds: 1 }));
    const warmUpId = warmUp.body.data!.uploadVideo.id;
    await waitFor(() => all.some((u) => u.id === warmUpId), { timeoutMs: 30_000, message: 'the subscription on A to be live' });
    const clip = await makeClip(clips, { width: 1280, height: 720, durationSeconds: 8, audio: true });
    const upload = await uploadFile(stack.apiUrl, clip);
    expect(upload.body.errors).toBeUndefined();
    const id = upload.body.data!.uploadVideo.id;

    const one = await subscribe(urlA, id);
    await waitFor(() => statusesOf(all, id).includes('PROCESSED'), { timeoutMs: 180_000, message: 'PROCESSED pushed to the subscriber on A' });
    expect(statusesOf(all, id)).toEqual(['QUEUED', 'PROCESSING', 'PROCESSED']);

    // Progress travels by NOTIFY only while PROCESSING, and is null otherwise.
    const withProgress = all.filter((u) => u.id === id && u.progress !== null);
    expect(withProgress.length).toBeGreaterThan(0);
    for (const update of withProgress) {
      expect(update.status).toBe('PROCESSING');
      expect(update.progress).toBeGreaterThanOrEqual(0);
      expect(update.progress).toBeLessThanOrEqual(100);
    }
    expect(all.filter((u) => u.id === id && u.status !== 'PROCESSING').every((u) => u.progress === null)).toBe(true);

    // A subscription with an id starts from the current state and sees only that video.
    await waitFor(() => one.some((u) => u.status === 'PROCESSED'), { timeoutMs: 30_000, message: 'PROCESSED pushed to the id subscriber' });
    expect(one.every((u) => u.id === id)).toBe(true);
  });

  it('serves only subscriptions over the socket: a mutation there is refused and changes nothing', async () => {
    const client = createClient({ url: `${urlA.replace(/^http/, 'ws')}/graphql`, webSocketImpl: WebSocket });
    clients.push(client);
    const outcome = await new Promise<unknown>((resolve) => {
      client.subscribe({ query: 'mutation { rebuildProjections { events } }' }, { next: resolve, error: resolve, complete: () => resolve('completed') });
    });
    expect(outcome).toEqual([expect.objectContaining({ extensions: expect.objectContaining({ code: 'BAD_USER_INPUT' }) as unknown })]);
  });

  it('answers a malformed subscription with a typed error for that operation, on a socket that stays open', async () => {
    let closes = 0;
    const client = createClient({ url: `${urlA.replace(/^http/, 'ws')}/graphql`, webSocketImpl: WebSocket, lazy: false, on: { closed: () => (closes += 1) } });
    clients.push(client);
    const outcomeOf = (query: string, variables?: Record<string, unknown>) =>
      new Promise<unknown>((resolve) => {
        client.subscribe({ query, ...(variables ? { variables } : {}) }, { next: resolve, error: resolve, complete: () => resolve('completed') });
      });
    const codes = (outcome: unknown) => {
      const errors = Array.isArray(outcome) ? outcome : ((outcome as { errors?: unknown[] }).errors ?? []);
      return (errors as { extensions?: { code?: string } }[]).map((e) => e.extensions?.code);
    };
    expect(codes(await outcomeOf('subscription {'))).toEqual(['GRAPHQL_PARSE_FAILED']);
    expect(codes(await outcomeOf('subscription { videoUpdated { nope } }'))).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    expect(codes(await outcomeOf('subscription A { videoUpdated { id } } subscription B { videoUpdated { id } }'))).toEqual(['OPERATION_RESOLUTION_FAILURE']);
    expect(codes(await outcomeOf('subscription($id: ID) { videoUpdated(id: $id) { id } }', { id: { not: 'an id' } }))).toEqual(['BAD_USER_INPUT']);
    expect(closes).toBe(0);
    expect(apiA.lines.filter((line) => (line.level ?? 0) >= 50)).toEqual([]);
  });

  it('closes a socket that sends a message over 1 MiB with 1009', async () => {
    const socket = new WebSocket(`${urlA.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
    await new Promise((resolve) => socket.once('open', resolve));
    const closed = new Promise<number>((resolve) => socket.once('close', resolve));
    socket.send(JSON.stringify({ type: 'connection_init', payload: { filler: 'x'.repeat(MAX_MESSAGE_BYTES) } }));
    expect(await closed).toBe(1009);
    expect(apiA.running).toBe(true);
  }, 30_000);

  it('carries one correlationId from the upload through the worker into every event, and links causes', async () => {
    const correlationId = randomUUID();
    const clip = await makeClip(clips, { width: 320, height: 240, durationSeconds: 1 });
    const upload = await uploadFile(stack.apiUrl, clip, { headers: { 'apollo-require-preflight': 'true', 'x-correlation-id': correlationId } });
    expect(upload.body.errors).toBeUndefined();
    const id = upload.body.data!.uploadVideo.id;

    const events = await waitFor(
      async () => {
        const rows = await stack.database.db.selectFrom('events').selectAll().where('stream_id', '=', id).orderBy('version').execute();
        return rows.some((r) => r.type === 'VideoProcessed') ? rows : null;
      },
      { timeoutMs: 120_000, message: 'the video to be processed' },
    );
    expect(events.map((e) => e.type)).toEqual(['VideoUploaded', 'ProcessingStarted', 'VideoProcessed']);
    const [uploaded, started, processed] = events as [(typeof events)[number], (typeof events)[number], (typeof events)[number]];
    const meta = (e: (typeof events)[number]) => e.metadata as Record<string, unknown>;
    for (const event of events) expect(meta(event).correlationId).toBe(correlationId);
    const taskId = (uploaded.data as { taskId: string }).taskId;
    for (const event of events) expect(meta(event).taskId).toBe(taskId);
    // The message id is the task-creating event's id; the outcome is caused by the start.
    expect(meta(started).causationId).toBe(uploaded.event_id);
    expect(meta(processed).causationId).toBe(started.event_id);

    // The worker's log lines for this task carry the same correlationId.
    const line = await stack.workers[0]!.waitForLog((l) => l.msg === 'processing started' && l.videoId === id);
    expect(line.correlationId).toBe(correlationId);
  });

  it('audits the log and rebuilds the projection over GraphQL, on any API process', async () => {
    const { rows } = await stack.database.pool.query<{ events: string; videos: string }>(
      'select (select count(*) from events) as events, (select count(*) from videos) as videos',
    );
    const audit = await gql<{ audit: { ok: boolean; streamsChecked: number; eventsChecked: number; mismatches: unknown[] } }>(
      urlA,
      '{ audit { ok streamsChecked eventsChecked mismatches { streamId position kind detail } } }',
    );
    expect(audit.errors).toBeUndefined();
    expect(audit.data!.audit).toEqual({ ok: true, streamsChecked: Number(rows[0]!.videos), eventsChecked: Number(rows[0]!.events), mismatches: [] });

    const rebuild = await gql<{ rebuildProjections: { events: number; videos: number; differences: number; durationMs: number } }>(
      stack.apiUrl,
      'mutation { rebuildProjections { events videos durationMs differences } }',
    );
    expect(rebuild.errors).toBeUndefined();
    expect(rebuild.data!.rebuildProjections).toMatchObject({ events: Number(rows[0]!.events), videos: Number(rows[0]!.videos), differences: 0 });
  });
});
