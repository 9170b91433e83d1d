import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outboxLag } from '../../services/eventstore/outbox.js';
import { Names, qualify } from '../../services/messaging/topology.js';
import { uploadFile } from '../helpers/graphql.js';
import { listFiles, makeClip } from '../helpers/media.js';
import { waitFor, type ServiceProcess } from '../helpers/processes.js';
import { Stack } from '../helpers/stack.js';
import { checkInvariants, taskOf, type ExpectedDeadLetter } from './support/invariants.js';
import { restoreServices, startPostgres, stopPostgres } from './support/services.js';

// Delivery cases d01-d03 (../shared/cases/README.md): a copy of a running task's message, as an
// at-least-once relay sends after a crash between publish and outbox delete or as a forgery would, never
// disturbs the running attempt; a copy with a damaged header is dead-lettered at once; nothing of a
// SIGKILLed worker (its ffmpeg, its temp files) outlives it; a PostgreSQL restart, which takes every
// lease with it, stops the attempt instead of letting a second one run beside it.
const RETRY_DELAYS_MS = [200, 400];
const REQUEUE_DELAY_MS = 1_000;
const run = promisify(execFile);

let stack: Stack;
let dir: string;
let clip: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'framelog-delivery-'));
  // Long enough that a copy, or an API restart, lands while the one transcode runs (one ffmpeg thread).
  clip = await makeClip(dir, { width: 1280, height: 720, durationSeconds: 12 });
  stack = await Stack.start({ workers: 2, env: { RETRY_DELAYS_MS: RETRY_DELAYS_MS.join(','), FFMPEG_THREADS: '1' } });
  // The test's own pool loses its connections when PostgreSQL restarts (last scenario).
  stack.database.pool.on('error', () => undefined);
});

afterAll(async () => {
  try {
    await restoreServices();
  } finally {
    await stack?.close();
    await rm(dir, { recursive: true, force: true });
  }
});

async function upload(): Promise<string> {
  const response = await uploadFile(stack.apiUrl, clip);
  expect(response.body.errors).toBeUndefined();
  return response.body.data!.uploadVideo.id;
}

/** The case's own tool: waits for ProcessingStarted of `videoId`, then publishes a copy of its task message. */
async function publishTaskCopy(videoId: string, ...args: string[]): Promise<void> {
  await run(process.execPath, ['../shared/cases/publish-task-copy.mjs', videoId, '--queue', qualify(stack.namespace, Names.workQueue), ...args], {
    env: { ...process.env, ...stack.env },
  });
}

const eventTypes = async (videoId: string) =>
  (await stack.database.db.selectFrom('events').select('type').where('stream_id', '=', videoId).orderBy('version').execute()).map((e) => e.type);

const loggedBy = (msg: string, videoId: string) => (worker: ServiceProcess) => worker.lines.some((l) => l.msg === msg && l.videoId === videoId);

const copyAcked = (videoId: string) => loggedBy('another attempt of this task is alive; acking this delivery without work', videoId);

const invariants = (videoIds: string[], deadLetters: ExpectedDeadLetter[] = []) =>
  checkInvariants({ db: stack.database.db, namespace: stack.namespace, videoIds, deadLetters, delaysMs: [...RETRY_DELAYS_MS, REQUEUE_DELAY_MS] });

/** A test-only advisory-lock key (the two-key space, apart from the leases' single 64-bit keys). */
const GATE_KEY = '4242, 13';
/** Each DELETE from the outbox waits while a session holds GATE_KEY. */
const OUTBOX_DELETE_GATE = `
  create function outbox_delete_gate() returns trigger language plpgsql as $$
  begin
    perform pg_advisory_xact_lock_shared(${GATE_KEY});
    return old;
  end $$;
  create trigger outbox_delete_gate before delete on outbox for each row execute function outbox_delete_gate();`;

/** One attempt, one transcode, PROCESSED: what a task must come to however often its message arrives. */
async function expectProcessedOnce(videoId: string, deadLetters: ExpectedDeadLetter[] = []): Promise<void> {
  const { statuses } = await invariants([videoId], deadLetters);
  expect(statuses.get(videoId)).toBe('PROCESSED');
  expect(await eventTypes(videoId)).toEqual(['VideoUploaded', 'ProcessingStarted', 'VideoProcessed']);
}

describe('copies of a running task (d01, d02)', () => {
  it('d01: a copy published while the job runs is acked without work: PROCESSED once, one transcode', async () => {
    const videoId = await upload();
    await publishTaskCopy(videoId);
    await expectProcessedOnce(videoId);
    expect(stack.workers.some(copyAcked(videoId)), 'the copy acked by the idle worker while the job ran').toBe(true);
  });

  it('d02: a copy with a damaged correlation id is dead-lettered at once with its reason; the live task ends PROCESSED', async () => {
    const videoId = await upload();
    await publishTaskCopy(videoId, '--correlation-id', 'not-a-uuid');
    await expectProcessedOnce(videoId, [{ body: taskOf(videoId), reason: /^INVALID_MESSAGE: .*correlationId/ }]);
  });

  it('d01 through the relay: the API killed between publish and outbox delete republishes the task; PROCESSED once', async () => {
    // Upload with no relay running, so the outbox row waits for the relay started below.
    await stack.api.stop('SIGKILL');
    await stack.startApi({ RELAY_IN_API: 'false' });
    const videoId = await upload();
    // Widen the window: a gate on the outbox's DELETE lets the relay claim and publish, but its DELETE
    // waits until this transaction ends. (A SHARE lock on the whole table would also stop the worker's
    // appends: framelog_append inserts its 0..n outbox rows with one INSERT, which takes ROW EXCLUSIVE.)
    await stack.database.pool.query(OUTBOX_DELETE_GATE);
    const blocker = new pg.Client({ connectionString: stack.database.url });
    await blocker.connect();
    try {
      await blocker.query('begin');
      await blocker.query(`select pg_advisory_xact_lock(${GATE_KEY})`);
      await stack.api.stop('SIGKILL');
      await stack.startApi({ RELAY_IN_API: 'true' });
      await waitFor(async () => (await eventTypes(videoId)).includes('ProcessingStarted'), { message: 'the published task started' });
      expect((await outboxLag(stack.database.db)).count).toBe(1);
      await stack.api.stop('SIGKILL');
    } finally {
      await blocker.query('rollback').catch(() => undefined);
      await blocker.end();
      await stack.database.pool.query('drop trigger outbox_delete_gate on outbox; drop function outbox_delete_gate()');
    }
    // The killed relay's transaction rolls back: its row is published again by the next API.
    await stack.startApi({ RELAY_IN_API: 'true' });
    await expectProcessedOnce(videoId);
    expect(stack.workers.some(copyAcked(videoId)), 'the republished copy acked while the job ran').toBe(true);
  });
});

describe('a worker SIGKILLed mid-transcode (d03)', () => {
  it('its ffmpeg dies with it, and no temp file is left once the video is terminal', async () => {
    const videoId = await upload();
    const victim = await waitFor(() => stack.workers.find(loggedBy('processing started', videoId)), { message: 'a worker to start the job' });
    const ffmpeg = await waitFor(async () => (await childrenOf(victim.pid)).find((child) => child.comm === 'ffmpeg'), { message: 'ffmpeg running under the worker' });
    const outputs = stack.file(`renditions/${videoId}`);
    await waitFor(async () => (await tempFiles(outputs)).length > 0, { message: 'ffmpeg writing its temp files' });
    await victim.stop('SIGKILL');
    await waitFor(async () => !(await isRunning(ffmpeg.pid)), { timeoutMs: 10_000, message: `ffmpeg ${ffmpeg.pid} to die with its worker` });

    // The broker redelivers the task to the other worker, which processes it.
    const { statuses } = await invariants([videoId]);
    expect(statuses.get(videoId)).toBe('PROCESSED');
    expect(await tempFiles(outputs)).toEqual([]);
  });
});

describe('PostgreSQL restarting mid-attempt', () => {
  it('the attempt loses its lease, kills its ffmpeg and is requeued as interrupted (uncounted); PROCESSED once', async () => {
    const videoId = await upload();
    const worker = await waitFor(() => stack.workers.find(loggedBy('processing started', videoId)), { message: 'a worker to start the job' });
    const ffmpeg = await waitFor(async () => (await childrenOf(worker.pid)).find((child) => child.comm === 'ffmpeg'), { message: 'ffmpeg running under the worker' });
    try {
      await stopPostgres();
      await waitFor(async () => !(await isRunning(ffmpeg.pid)), { timeoutMs: 10_000, message: 'the attempt to stop its ffmpeg once its lease was gone' });
    } finally {
      await startPostgres();
    }
    const { statuses } = await invariants([videoId]);
    expect(statuses.get(videoId)).toBe('PROCESSED');
    const events = await stack.database.db.selectFrom('events').select(['type', 'data']).where('stream_id', '=', videoId).orderBy('version').execute();
    // Recorded by the next delivery, named by the requeued copy: neither an attempt nor a crash.
    expect(events.map((e) => e.type)).toEqual(['VideoUploaded', 'ProcessingStarted', 'ProcessingFailed', 'ProcessingStarted', 'VideoProcessed']);
    expect(events[2]!.data).toMatchObject({ attempt: 1, interrupted: true, code: 'DATABASE_UNAVAILABLE' });
    expect(events[3]!.data).toMatchObject({ attempt: 1 });
  });
});

interface ProcInfo {
  pid: number;
  comm: string;
  state: string;
  ppid: number;
}

/** `/proc/PID/stat`: "pid (comm) state ppid …"; comm may contain spaces and parentheses. */
async function procInfo(pid: number): Promise<ProcInfo | null> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  if (stat === null) return null;
  const close = stat.lastIndexOf(')');
  const [state = '', ppid = '0'] = stat.slice(close + 2).split(' ');
  return { pid, comm: stat.slice(stat.indexOf('(') + 1, close), state, ppid: Number(ppid) };
}

async function childrenOf(parent: number): Promise<ProcInfo[]> {
  const pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name)).map(Number);
  const infos = await Promise.all(pids.map(procInfo));
  return infos.filter((info): info is ProcInfo => info !== null && info.ppid === parent);
}

/** A zombie (killed, not yet reaped by whoever inherited it) runs no more. */
const isRunning = async (pid: number) => !['Z', 'X', undefined].includes((await procInfo(pid))?.state);

/** Files of runs not committed: anything under a dot-named entry (an output set's staging, a temp manifest). */
const tempFiles = async (root: string) => (await listFiles(root)).filter((file) => file.split(path.sep).some((part) => part.startsWith('.')));
