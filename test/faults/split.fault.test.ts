import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Names, qualify } from '../../services/messaging/topology.js';
import { publishRaw } from '../helpers/amqp.js';
import { uploadFile } from '../helpers/graphql.js';
import { makeClip } from '../helpers/media.js';
import { waitFor, type ServiceProcess } from '../helpers/processes.js';
import { Stack } from '../helpers/stack.js';
import { FAULTY_WORKER_ENTRY, SPLIT_FAULT_ENV, SplitFault } from './support/faults.js';
import { checkInvariants, stitchesOf, type ExpectedDeadLetter } from './support/invariants.js';
import { restoreServices, startPostgres, stopPostgres } from './support/services.js';

// Split and stitch under faults (issue 19, DESIGN §11): a worker SIGKILLed mid-segment, segment tasks
// published twice, a segment that always fails, PostgreSQL restarting while segments land. Each ends in
// the invariant check (segment tasks included) with exactly one stitch for every processed video.
const RETRY_DELAYS_MS = [200, 400];
const REQUEUE_DELAY_MS = 1_000;
const run = promisify(execFile);

let stack: Stack;
let dir: string;
/** 9 s: ranges [0,2) [2,4) [4,6) [6,9) with SEGMENT_SECONDS=2 (the last second joins the range before). */
let clip: string;
let workers: ServiceProcess[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'framelog-faults-split-'));
  clip = await makeClip(dir, { width: 160, height: 120, durationSeconds: 9, audio: true });
  const env = { RETRY_DELAYS_MS: RETRY_DELAYS_MS.join(','), SPLIT_MIN_SECONDS: '3', SEGMENT_SECONDS: '2', FFMPEG_THREADS: '1' };
  stack = await Stack.start({ workers: 0, env });
  stack.database.pool.on('error', () => undefined);
});

afterEach(async () => {
  await Promise.all(workers.map((worker) => worker.stop('SIGKILL')));
  workers = [];
});

afterAll(async () => {
  try {
    await restoreServices();
  } finally {
    await stack?.close();
    await rm(dir, { recursive: true, force: true });
  }
});

async function startWorkers(count: number, fault?: string): Promise<void> {
  for (let i = 0; i < count; i += 1) workers.push(await stack.startWorker({ entry: FAULTY_WORKER_ENTRY, env: fault ? { [SPLIT_FAULT_ENV]: fault } : {} }));
}

async function upload(): Promise<string> {
  const response = await uploadFile(stack.apiUrl, clip);
  expect(response.body.errors).toBeUndefined();
  return response.body.data!.uploadVideo.id;
}

const invariants = (videoIds: string[], deadLetters: ExpectedDeadLetter[] = []) =>
  checkInvariants({ db: stack.database.db, namespace: stack.namespace, videoIds, deadLetters, delaysMs: [...RETRY_DELAYS_MS, REQUEUE_DELAY_MS], timeoutMs: 180_000 });

interface Plan {
  taskId: string;
  ranges: { index: number; segmentId: string }[];
}
const planOf = (videoId: string): Promise<Plan> =>
  waitFor(
    async () => {
      const row = await stack.database.db.selectFrom('events').select('data').where('stream_id', '=', videoId).where('type', '=', 'VideoSplit').executeTakeFirst();
      return row === undefined ? null : (row.data as Plan);
    },
    { timeoutMs: 60_000, message: `the plan of ${videoId}` },
  );

const segmentEvents = async (segmentId: string) =>
  (await stack.database.db.selectFrom('events').select(['type', 'metadata']).where('stream_id', '=', segmentId).orderBy('version').execute()).map((e) => e.type);

describe('split and stitch under faults', () => {
  it('SIGKILL of a worker mid-segment costs that segment, not the video: PROCESSED with one stitch', async () => {
    await startWorkers(3, SplitFault.killOnce);
    const id = await upload();
    const { statuses } = await invariants([id]);
    expect(statuses.get(id)).toBe('PROCESSED');
    expect(await stitchesOf(stack.database.db, id)).toBe(1);
    expect(workers.filter((worker) => !worker.running)).toHaveLength(1);
    const plan = await planOf(id);
    // Range 1 was started by the worker that died, and again by another; every other range once.
    const killed = await segmentEvents(plan.ranges[1]!.segmentId);
    expect(killed.filter((t) => t === 'SegmentStarted')).toHaveLength(2);
    expect(killed.at(-1)).toBe('SegmentEncoded');
    for (const range of plan.ranges.filter((r) => r.index !== 1)) expect(await segmentEvents(range.segmentId)).toEqual(['SegmentStarted', 'SegmentEncoded']);
  });

  it('every segment task published twice (and the transcode task): one result per segment, one stitch', async () => {
    await startWorkers(2);
    const id = await upload();
    const plan = await planOf(id);
    const copies = plan.ranges.map((range) =>
      publishRaw(stack.namespace, Names.exchange, Names.taskRoutingKey, Buffer.from(JSON.stringify({ schema: 2, kind: 'segment', videoId: id, taskId: range.segmentId })), {
        persistent: true,
        contentType: 'application/json',
        messageId: range.segmentId,
      }),
    );
    // The case's own tool: a copy of the video's task message (its transcode task, already split).
    const transcodeCopy = run(process.execPath, ['../shared/cases/publish-task-copy.mjs', id, '--queue', qualify(stack.namespace, Names.workQueue)], { env: { ...process.env, ...stack.env } });
    await Promise.all([...copies, transcodeCopy]);
    const { statuses } = await invariants([id]);
    expect(statuses.get(id)).toBe('PROCESSED');
    expect(await stitchesOf(stack.database.db, id)).toBe(1);
    for (const range of plan.ranges) expect(await segmentEvents(range.segmentId)).toEqual(['SegmentStarted', 'SegmentEncoded']);
    const video = (await stack.database.db.selectFrom('events').select('type').where('stream_id', '=', id).orderBy('version').execute()).map((e) => e.type);
    expect(video).toEqual(['VideoUploaded', 'ProcessingStarted', 'VideoSplit', 'StitchRequested', 'ProcessingStarted', 'VideoProcessed']);
  });

  it('a segment that always fails is retried alone, then fails the video with SEGMENT_FAILED; no stitch', async () => {
    await startWorkers(2, SplitFault.alwaysFail);
    const id = await upload();
    const plan = await planOf(id);
    const failing = plan.ranges[1]!.segmentId;
    const { statuses } = await invariants([id], [{ body: (body) => body.includes(failing), reason: /^MAX_ATTEMPTS/ }]);
    expect(statuses.get(id)).toBe('FAILED');
    const video = await stack.database.db.selectFrom('videos').select('last_error').where('id', '=', id).executeTakeFirstOrThrow();
    expect(video.last_error).toMatchObject({ code: 'SEGMENT_FAILED', message: expect.stringMatching(/^Segment 1 \(2-4 s\) failed: TRANSCODE_FAILED/) as unknown });
    expect(await stitchesOf(stack.database.db, id)).toBe(0);
    const events = await segmentEvents(failing);
    expect(events.filter((t) => t === 'SegmentStarted')).toHaveLength(5);
    expect(events.at(-1)).toBe('SegmentAbandoned');
  });

  it('PostgreSQL restarting while segments land: every segment lands once, one stitch, PROCESSED', async () => {
    await startWorkers(2);
    const ids = [await upload(), await upload()];
    // Once the first results are in, PostgreSQL goes away mid-run and comes back.
    await waitFor(async () => (await stack.database.db.selectFrom('segments').select('id').where('status', '=', 'ENCODED').where('video_id', 'in', ids).execute()).length > 0, {
      timeoutMs: 120_000,
      intervalMs: 50,
      message: 'a segment result',
    });
    try {
      await stopPostgres();
    } finally {
      await startPostgres();
    }
    const { statuses } = await invariants(ids);
    expect([...statuses.values()]).toEqual(['PROCESSED', 'PROCESSED']);
    for (const id of ids) expect(await stitchesOf(stack.database.db, id)).toBe(1);
  });
});

