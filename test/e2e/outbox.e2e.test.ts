import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeClip } from '../helpers/media.js';
import { gql, uploadFile } from '../helpers/graphql.js';
import { queueDepth } from '../helpers/amqp.js';
import { startService, waitFor, type ServiceProcess } from '../helpers/processes.js';
import { Stack } from '../helpers/stack.js';

let stack: Stack;
let clips: string;
let relay: ServiceProcess | undefined;

beforeAll(async () => {
  clips = await mkdtemp(path.join(tmpdir(), 'framelog-clips-'));
  // The API runs without its in-process relay: uploads can only reach the broker through a relay we start.
  stack = await Stack.start({ workers: 1, apiEnv: { RELAY_IN_API: 'false' } });
});

afterAll(async () => {
  await relay?.stop('SIGKILL');
  await stack?.close();
  await rm(clips, { recursive: true, force: true });
});

const outboxSize = async () => Number((await stack.database.db.selectFrom('outbox').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n);

describe('transactional outbox', () => {
  it('uploads commit and wait in the outbox while no relay runs; a relay publishes them all and empties it', async () => {
    const clip = await makeClip(clips, { width: 320, height: 240, durationSeconds: 1, audio: false, name: 'a.mp4' });
    const uploads = await Promise.all([1, 2, 3].map(() => uploadFile(stack.apiUrl, clip)));
    const ids = uploads.map((u) => {
      expect(u.body.errors).toBeUndefined();
      return u.body.data!.uploadVideo.id;
    });
    expect(await outboxSize()).toBe(3);
    const rows = await stack.database.db.selectFrom('outbox').select(['id', 'stream_id']).execute();
    expect(new Set(rows.map((r) => r.stream_id))).toEqual(new Set(ids));
    // Nothing reached the broker and nothing was processed.
    expect(await queueDepth(stack.namespace, 'video_processing')).toBe(0);
    const queued = await gql<{ videos: { edges: { node: { status: string } }[] } }>(stack.apiUrl, '{ videos(first: 10) { edges { node { status } } } }');
    expect(queued.data?.videos.edges.map((e) => e.node.status)).toEqual(['QUEUED', 'QUEUED', 'QUEUED']);

    relay = startService('relay', 'relay', stack.env);
    await waitFor(async () => (await outboxSize()) === 0, { message: 'the relay to empty the outbox' });
    const statuses = await waitFor(async () => {
      const result = await gql<{ videos: { edges: { node: { status: string } }[] } }>(stack.apiUrl, '{ videos(first: 10) { edges { node { status } } } }');
      const list = result.data?.videos.edges.map((e) => e.node.status) ?? [];
      return list.every((s) => s === 'PROCESSED') ? list : null;
    }, { timeoutMs: 120_000, message: 'all uploads to be processed' });
    expect(statuses).toHaveLength(3);
  });
});
