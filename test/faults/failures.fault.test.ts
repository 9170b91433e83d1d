import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Names } from '../../services/messaging/topology.js';
import { publishRaw } from '../helpers/amqp.js';
import { uploadFile } from '../helpers/graphql.js';
import { makeClip } from '../helpers/media.js';
import { waitFor, type ServiceProcess } from '../helpers/processes.js';
import { Stack } from '../helpers/stack.js';
import { FAULTY_WORKER_ENTRY, FaultMarker, gatePath } from './support/faults.js';
import { checkInvariants, taskOf, type ExpectedDeadLetter } from './support/invariants.js';

// Task-level faults, all in one deployment at once, so each must end within its limits while the
// healthy uploads beside it still finish.
const RETRY_DELAYS_MS = [200, 400];
const REQUEUE_DELAY_MS = 1_000; // DEFAULT_BROKER_SETTINGS.requeueDelayMs
const MAX_ATTEMPTS = 3;
const DELIVERY_LIMIT = 2;

let stack: Stack;
let dir: string;
let supervising = true;
const uploaded: string[] = [];
const expectedDeadLetters: ExpectedDeadLetter[] = [];

/** Keeps the faulty workers alive: one that dies (FAULT:kill) is replaced, as `npm start` would. */
async function supervise(worker: ServiceProcess): Promise<void> {
  await worker.exited;
  if (!supervising) return;
  // A replacement still starting when the file ends is killed by stack.close(): not an error.
  const next = await stack.startWorker({ entry: FAULTY_WORKER_ENTRY }).catch((error: unknown) => {
    if (supervising) throw error;
    return null;
  });
  if (next) void supervise(next);
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'framelog-faults-'));
  stack = await Stack.start({
    workers: 0,
    env: {
      RETRY_DELAYS_MS: RETRY_DELAYS_MS.join(','),
      MAX_ATTEMPTS: String(MAX_ATTEMPTS),
      DELIVERY_LIMIT: String(DELIVERY_LIMIT),
      // Room for the gate test to open its gate after SIGTERM; what hangs is aborted after it.
      SHUTDOWN_GRACE_SECONDS: '3',
    },
  });
  for (let i = 0; i < 2; i += 1) void supervise(await stack.startWorker({ entry: FAULTY_WORKER_ENTRY }));
});

afterAll(async () => {
  supervising = false;
  await stack?.close();
  await rm(dir, { recursive: true, force: true });
});

async function upload(file: string): Promise<string> {
  const response = await uploadFile(stack.apiUrl, file);
  expect(response.body.errors).toBeUndefined();
  const id = response.body.data!.uploadVideo.id;
  uploaded.push(id);
  return id;
}

async function faultFile(marker: string): Promise<string> {
  const file = path.join(dir, `${randomUUID()}.mp4`);
  await writeFile(file, `${marker}\n`);
  return file;
}

async function eventsOf(id: string) {
  return stack.database.db.selectFrom('events').select(['type', 'data']).where('stream_id', '=', id).orderBy('version').execute();
}

async function statusOf(id: string): Promise<{ status: string; lastErrorCode: string | null } | null> {
  const row = await stack.database.db.selectFrom('videos').select(['status', 'last_error']).where('id', '=', id).executeTakeFirst();
  return row ? { status: row.status, lastErrorCode: (row.last_error as { code?: string } | null)?.code ?? null } : null;
}

describe('task faults: each ends FAILED or dead-lettered within its limits; healthy uploads still finish', () => {
  it('dead-letters a poison message published straight to the queue and keeps working', async () => {
    const bodies = ['not json at all', JSON.stringify({ schema: 99, videoId: randomUUID() }), JSON.stringify({ schema: 1, videoId: randomUUID(), taskId: randomUUID(), storageKey: 'x', attempt: 1 })];
    for (const body of bodies) {
      await publishRaw(stack.namespace, Names.exchange, Names.taskRoutingKey, Buffer.from(body), { persistent: true, contentType: 'application/json', messageId: randomUUID() });
      expectedDeadLetters.push({ body: (b) => b === body, reason: /invalid content|INVALID_MESSAGE/ });
    }
    const healthy = await upload(await makeClip(dir, { width: 160, height: 120, durationSeconds: 1 }));
    await waitFor(async () => (await statusOf(healthy))?.status === 'PROCESSED', { timeoutMs: 60_000, message: 'healthy upload processed' });
    expect(stack.workers.every((w) => w.running)).toBe(true);
  });

  it('fails a task whose processing always throws after MAX_ATTEMPTS, with backoff, and dead-letters it', async () => {
    const id = await upload(await faultFile(FaultMarker.throw));
    expectedDeadLetters.push({ body: taskOf(id), reason: /^MAX_ATTEMPTS/ });
    await waitFor(async () => (await statusOf(id))?.status === 'FAILED', { timeoutMs: 60_000, message: 'throwing task FAILED' });
    const types = (await eventsOf(id)).map((e) => e.type);
    expect(types).toEqual([
      'VideoUploaded',
      'ProcessingStarted', 'ProcessingFailed',
      'ProcessingStarted', 'ProcessingFailed',
      'ProcessingStarted', 'VideoFailed',
    ]);
    const failures = (await eventsOf(id)).filter((e) => e.type === 'ProcessingFailed').map((e) => e.data as { attempt: number; retryable: boolean; nextAttemptAt: string });
    expect(failures.map((f) => [f.attempt, f.retryable])).toEqual([[1, true], [2, true]]);
    expect(failures.every((f) => !Number.isNaN(Date.parse(f.nextAttemptAt)))).toBe(true);
  });

  it('fails a task that kills its worker every time with REDELIVERY_LIMIT, replacing the dead workers', async () => {
    const id = await upload(await faultFile(FaultMarker.kill));
    expectedDeadLetters.push({ body: taskOf(id), reason: /REDELIVERY_LIMIT|delivery_limit/ });
    await waitFor(async () => (await statusOf(id))?.status === 'FAILED', { timeoutMs: 120_000, message: 'crash-looping task FAILED' });
    expect((await statusOf(id))?.lastErrorCode).toBe('REDELIVERY_LIMIT');
    const starts = (await eventsOf(id)).filter((e) => e.type === 'ProcessingStarted');
    expect(starts).toHaveLength(DELIVERY_LIMIT);
    const healthy = await upload(await makeClip(dir, { width: 160, height: 120, durationSeconds: 1 }));
    await waitFor(async () => (await statusOf(healthy))?.status === 'PROCESSED', { timeoutMs: 60_000, message: 'healthy upload after the crash loop' });
  });

  it('records one outcome when the same task message is published three times', async () => {
    const id = await upload(await makeClip(dir, { width: 160, height: 120, durationSeconds: 1 }));
    const first = (await eventsOf(id))[0]!.data as { taskId: string; storageKey: string };
    const body = Buffer.from(JSON.stringify({ schema: 1, videoId: id, taskId: first.taskId, storageKey: first.storageKey, attempt: 1 }));
    await Promise.all([0, 1].map(() => publishRaw(stack.namespace, Names.exchange, Names.taskRoutingKey, body, { persistent: true, contentType: 'application/json', messageId: randomUUID() })));
    await waitFor(async () => (await statusOf(id))?.status === 'PROCESSED', { timeoutMs: 60_000, message: 'duplicated task processed' });
    // The copies are acked without work once they find the task finished: wait for the queue to drain.
    await checkInvariantsSoFar();
    expect((await eventsOf(id)).filter((e) => e.type === 'VideoProcessed')).toHaveLength(1);
  });

  it('SIGTERM mid-job: the job is aborted after the grace period and requeued without counting a failure', async () => {
    const id = await upload(await faultFile(FaultMarker.hangOnce));
    await waitFor(async () => (await eventsOf(id)).some((e) => e.type === 'ProcessingStarted'), { timeoutMs: 30_000, message: 'job started' });
    const busy = await waitFor(() => stack.workers.find((w) => w.running && w.lines.some((l) => l.msg === 'processing started' && l.videoId === id)), { message: 'the busy worker' });
    await busy.stop('SIGTERM');
    expect((await busy.exited).code).toBe(0);
    expect(busy.lines.some((l) => l.msg === 'stopped')).toBe(true);
    await waitFor(async () => (await statusOf(id))?.status === 'PROCESSED', { timeoutMs: 60_000, message: 'requeued job processed by another worker' });
    const events = await eventsOf(id);
    expect(events.map((e) => e.type)).toEqual(['VideoUploaded', 'ProcessingStarted', 'ProcessingFailed', 'ProcessingStarted', 'VideoProcessed']);
    expect(events[2]!.data).toMatchObject({ code: 'WORKER_SHUTDOWN', interrupted: true, attempt: 1 });
    // Uncounted: the second run is attempt 1 again.
    expect(events[3]!.data).toMatchObject({ attempt: 1 });
    expect(events[4]!.data).toMatchObject({ attempt: 1 });
  });

  it('SIGTERM mid-job: a job that ends within the grace period records its outcome and is acked, not requeued', async () => {
    const id = await upload(await faultFile(FaultMarker.gate));
    const busy = await waitFor(() => stack.workers.find((w) => w.running && w.lines.some((l) => l.msg === 'processing started' && l.videoId === id)), {
      timeoutMs: 30_000,
      message: 'the busy worker',
    });
    const stopped = busy.stop('SIGTERM');
    await busy.waitForLog((l) => l.msg === 'shutting down: no new tasks, finishing the current one');
    await writeFile(gatePath(stack.mediaRoot, id), '');
    await stopped;
    expect((await busy.exited).code).toBe(0);
    expect(busy.lines.some((l) => l.msg === 'task processed' && l.videoId === id)).toBe(true);
    const events = await stack.database.db.selectFrom('events').select(['type', 'data', 'metadata']).where('stream_id', '=', id).orderBy('version').execute();
    expect(events.map((e) => e.type)).toEqual(['VideoUploaded', 'ProcessingStarted', 'VideoProcessed']);
    expect(events[2]!.data).toMatchObject({ attempt: 1 });
    expect((events[2]!.metadata as { workerId?: string }).workerId).toMatch(new RegExp(`:${busy.pid}$`));
  });

  it('ends with every invariant holding', async () => {
    await checkInvariantsSoFar(true);
  });
});

async function checkInvariantsSoFar(final = false) {
  await checkInvariants({
    db: stack.database.db,
    namespace: stack.namespace,
    videoIds: uploaded,
    deadLetters: final ? expectedDeadLetters : 'unchecked',
    delaysMs: [...RETRY_DELAYS_MS, REQUEUE_DELAY_MS],
  });
}
