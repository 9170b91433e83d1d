import { randomUUID } from 'node:crypto';
import { chmod, copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendEvents, appendToStream } from '../../services/eventstore/append.js';
import { segmentStream } from '../../services/eventstore/segmentStream.js';
import { auditLog } from '../../services/eventstore/audit.js';
import { readVideoHistory } from '../../services/eventstore/readStream.js';
import { rebuildProjections } from '../../services/eventstore/rebuild.js';
import { ErrorCode, FramelogError } from '../../services/domain/errors.js';
import { createTaskLeases } from '../../services/eventstore/taskLease.js';
import { loadVideo } from '../../services/eventstore/videos.js';
import { createLogger } from '../../services/logger.js';
import { sourceKey } from '../../services/media/keys.js';
import type { ProbedMedia } from '../../services/media/probe.js';
import { createSplitMediaProcessor, type SplitMediaProcessor } from '../../services/media/splitProcessor.js';
import { handleTask, type WorkerDeps } from '../../services/worker/handleTask.js';
import { createNoopProcessor } from '../../services/worker/noopProcessor.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { metadata, uploaded } from '../helpers/events.js';
import { makeClip } from '../helpers/media.js';
import { TEST_LIMITS, useScratchMedia } from '../helpers/scratchMedia.js';
import { waitFor } from '../helpers/processes.js';

// Split and stitch's flow (DESIGN §11) against the real database, with a media side that makes no media
// (its ffmpeg work is splitmedia's tests'): the plan fans out one segment task per range, segments land
// in their own streams, and however the last segments race or their messages repeat, exactly one stitch.

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.drop();
});

/** A gate the test opens: encodeRange of a range waits on its gate when one is set. */
const gates = new Map<number, Promise<void>>();
const encoded: number[] = [];
/** Videos whose range 1 always fails. */
const failing = new Set<string>();

/** 10 s at 25 fps in an MP4: splittable (rangePlan.isSplittable). Only the fields the flow reads are real. */
const probed = { durationSeconds: 10, width: 64, height: 64, videoCodec: 'h264', audioCodec: null, frameRate: 25, rotation: 0, formatName: 'mov,mp4,m4a,3gp,3g2,mj2', frameGrid: { rateNum: 25, rateDen: 1, firstFrameSeconds: 0 } } as unknown as ProbedMedia;

const splitProcessor: SplitMediaProcessor = {
  probe: () => Promise.resolve(probed),
  async encodeRange({ range, videoId }) {
    await gates.get(range.index);
    if (failing.has(videoId) && range.index === 1) throw new FramelogError(ErrorCode.TRANSCODE_FAILED, 'range 1 always fails', { retryable: true });
    encoded.push(range.index);
    return { index: range.index, frames: 25 * (range.endSeconds - range.startSeconds), durationSeconds: range.endSeconds - range.startSeconds, sizeBytes: 1_000 };
  },
  stitch: () => Promise.resolve({ media: { durationSeconds: 10, width: 64, height: 64, videoCodec: 'h264', audioCodec: null, frameRate: 25, rotation: 0 }, renditions: [], poster: null }),
  removeTemps: () => Promise.resolve(),
};

const deps = (): WorkerDeps => ({
  db: database.db,
  leases: createTaskLeases(database.pool),
  processor: createNoopProcessor(),
  workerId: 'w-test',
  maxAttempts: 3,
  deliveryLimit: 3,
  retryDelaysMs: [100],
  log: createLogger('test', 'silent'),
  split: { processor: splitProcessor, minSeconds: 6, segmentSeconds: 4 },
});

interface Row {
  id: string;
  payload: unknown;
}
const outboxOf = async (videoId: string, kind: string): Promise<Row[]> =>
  (await database.db.selectFrom('outbox').select(['id', 'payload']).where('stream_id', '=', videoId).execute()).filter((row) => (row.payload as { kind?: string }).kind === kind);
const deliver = (row: Row, extra: { redelivered?: boolean } = {}) => handleTask(deps(), { body: row.payload, messageId: row.id, correlationId: randomUUID(), ...extra });
const videoTypes = async (videoId: string) => (await database.db.selectFrom('events').select('type').where('stream_id', '=', videoId).orderBy('version').execute()).map((e) => e.type);

/** A video uploaded and split by its transcode task; returns its segment task messages in range order. */
async function splitVideo(): Promise<{ videoId: string; segments: Row[] }> {
  const videoId = randomUUID();
  const taskId = randomUUID();
  await appendToStream(database.db, { streamId: videoId, expectedVersion: 0, state: null, events: [{ event: uploaded(taskId), metadata: metadata() }] });
  expect(await handleTask(deps(), { body: { schema: 2, kind: 'transcode', videoId, taskId }, messageId: randomUUID(), correlationId: randomUUID() })).toEqual({ kind: 'ack' });
  expect(await videoTypes(videoId)).toEqual(['VideoUploaded', 'ProcessingStarted', 'VideoSplit']);
  const segments = await outboxOf(videoId, 'segment');
  const split = await database.db.selectFrom('events').select('data').where('stream_id', '=', videoId).where('type', '=', 'VideoSplit').executeTakeFirstOrThrow();
  const ranges = (split.data as { ranges: { index: number; segmentId: string; startSeconds: number; endSeconds: number }[] }).ranges;
  expect(ranges.map((r) => [r.startSeconds, r.endSeconds])).toEqual([[0, 4], [4, 8], [8, 10]]);
  const byIndex = ranges.map((r) => segments.find((row) => row.id === r.segmentId)!);
  expect(byIndex.every((row) => (row.payload as { taskId: string }).taskId === row.id)).toBe(true);
  return { videoId, segments: byIndex };
}

describe('split and stitch: exactly one stitch', () => {
  it('the plan fans out one segment task per range in the append; the video stays PROCESSING; a transcode copy does nothing', async () => {
    const { videoId, segments } = await splitVideo();
    expect(segments).toHaveLength(3);
    expect(await loadVideo(database.db, videoId)).toMatchObject({ status: 'PROCESSING' });
    const taskId = (await loadVideo(database.db, videoId))!.currentTaskId;
    expect(await handleTask(deps(), { body: { schema: 2, kind: 'transcode', videoId, taskId }, messageId: randomUUID(), correlationId: null, redelivered: true })).toEqual({ kind: 'ack' });
    expect(await videoTypes(videoId)).toEqual(['VideoUploaded', 'ProcessingStarted', 'VideoSplit']);
  });

  it('two last segments racing: both land, one StitchRequested with one stitch task; the stitch ends in VideoProcessed', async () => {
    const { videoId, segments } = await splitVideo();
    expect(await deliver(segments[0]!)).toEqual({ kind: 'ack' });
    expect(await outboxOf(videoId, 'stitch')).toEqual([]);
    // Both last segments wait until both are encoding, then commit at once.
    let release!: () => void;
    const together = new Promise<void>((resolve) => (release = resolve));
    gates.set(1, together);
    gates.set(2, together);
    const racing = Promise.all([deliver(segments[1]!), deliver(segments[2]!)]);
    await new Promise<void>((resolve) => setImmediate(resolve));
    release();
    expect(await racing).toEqual([{ kind: 'ack' }, { kind: 'ack' }]);
    gates.clear();
    expect((await videoTypes(videoId)).filter((t) => t === 'StitchRequested')).toHaveLength(1);
    const stitches = await outboxOf(videoId, 'stitch');
    expect(stitches).toHaveLength(1);

    // The stitch, and a copy of it after: one VideoProcessed.
    expect(await deliver(stitches[0]!)).toEqual({ kind: 'ack' });
    expect(await deliver(stitches[0]!)).toEqual({ kind: 'ack' });
    expect(await videoTypes(videoId)).toEqual(['VideoUploaded', 'ProcessingStarted', 'VideoSplit', 'StitchRequested', 'ProcessingStarted', 'VideoProcessed']);
    expect(await loadVideo(database.db, videoId)).toMatchObject({ status: 'PROCESSED' });

    // History holds the segments' events beside the video's; audit and rebuild cover both stream types.
    const history = await readVideoHistory(database.db, videoId);
    expect(history.filter((e) => e.type === ('SegmentEncoded' as string))).toHaveLength(3);
    expect(history.map((e) => e.position)).toEqual([...history.map((e) => e.position)].sort((a, b) => (a < b ? -1 : 1)));
    expect(await auditLog(database.db)).toMatchObject({ ok: true, mismatches: [] });
    expect(await rebuildProjections(database.db)).toMatchObject({ differences: 0 });
    expect(await auditLog(database.db)).toMatchObject({ ok: true });
  });

  it('a segment task published twice: the copy during the attempt acks without work, the copy after it changes nothing', async () => {
    const { videoId, segments } = await splitVideo();
    let release!: () => void;
    gates.set(0, new Promise<void>((resolve) => (release = resolve)));
    const before = encoded.length;
    const first = deliver(segments[0]!);
    // The copy arrives while the first delivery holds the segment's lease.
    await waitFor(async () => (await database.db.selectFrom('segments').select('id').where('id', '=', segments[0]!.id).executeTakeFirst()) !== undefined, { intervalMs: 10 });
    expect(await deliver(segments[0]!)).toEqual({ kind: 'ack' });
    release();
    expect(await first).toEqual({ kind: 'ack' });
    gates.clear();
    expect(encoded.length - before).toBe(1);
    expect(await deliver(segments[0]!)).toEqual({ kind: 'ack' });
    const segmentEvents = await database.db.selectFrom('events').select('type').where('stream_id', '=', segments[0]!.id).orderBy('version').execute();
    expect(segmentEvents.map((e) => e.type)).toEqual(['SegmentStarted', 'SegmentEncoded']);
    for (const row of segments.slice(1)) expect(await deliver(row)).toEqual({ kind: 'ack' });
    for (const row of segments) expect(await deliver(row)).toEqual({ kind: 'ack' });
    expect(await outboxOf(videoId, 'stitch')).toHaveLength(1);
  });

  it('a crash between the last result and the stitch request is healed by the redelivered segment', async () => {
    const { videoId, segments } = await splitVideo();
    for (const row of segments.slice(0, 2)) expect(await deliver(row)).toEqual({ kind: 'ack' });
    // The last segment's worker committed its result and died before asking for the stitch.
    const last = segments[2]!.id;
    const video = (await loadVideo(database.db, videoId))!;
    const startedEvent = { type: 'SegmentStarted' as const, data: { taskId: last, videoId, videoTaskId: video.currentTaskId, index: 2, startSeconds: 8, endSeconds: 10, attempt: 1, workerId: 'dead' } };
    const encodedEvent = { type: 'SegmentEncoded' as const, data: { taskId: last, attempt: 1, frames: 50, durationSeconds: 2, sizeBytes: 10, elapsedMs: 1 } };
    await appendEvents(database.db, segmentStream, { streamId: last, expectedVersion: 0, state: null, events: [startedEvent, encodedEvent].map((event) => ({ event, metadata: metadata() })) });
    expect(await outboxOf(videoId, 'stitch')).toEqual([]);
    expect(await deliver(segments[2]!, { redelivered: true })).toEqual({ kind: 'ack' });
    expect((await videoTypes(videoId)).filter((t) => t === 'StitchRequested')).toHaveLength(1);
    expect(await outboxOf(videoId, 'stitch')).toHaveLength(1);
  });

  it('a segment that always fails is retried alone, then fails its video with SEGMENT_FAILED naming the range', async () => {
    const { videoId, segments } = await splitVideo();
    failing.add(videoId);
    expect(await deliver(segments[0]!)).toEqual({ kind: 'ack' });
    expect(await deliver(segments[1]!)).toEqual({ kind: 'retry', delayMs: 100 });
    expect(await deliver(segments[1]!)).toEqual({ kind: 'retry', delayMs: 100 });
    expect(await deliver(segments[1]!)).toMatchObject({ kind: 'dead-letter', reason: expect.stringMatching(/^MAX_ATTEMPTS: Gave up after 3 attempts/) as unknown });
    const video = await loadVideo(database.db, videoId);
    expect(video).toMatchObject({ status: 'FAILED', lastError: { code: 'SEGMENT_FAILED', message: expect.stringMatching(/^Segment 1 \(4-8 s\) failed: TRANSCODE_FAILED/) as unknown } });
    // The last segment's delivery, after: nothing to do for a failed video.
    expect(await deliver(segments[2]!)).toEqual({ kind: 'ack' });
    expect(await database.db.selectFrom('events').select('type').where('stream_id', '=', segments[2]!.id).execute()).toEqual([]);
    expect(await outboxOf(videoId, 'stitch')).toEqual([]);
  });

  it('the database refuses a second result for one segment and a second stitch request for one task', async () => {
    const { videoId, segments } = await splitVideo();
    for (const row of segments) await deliver(row);
    const stitch = await database.db.selectFrom('events').select(['data', 'version']).where('stream_id', '=', videoId).where('type', '=', 'StitchRequested').executeTakeFirstOrThrow();
    const segment = await database.db.selectFrom('events').select(['data', 'version']).where('stream_id', '=', segments[0]!.id).where('type', '=', 'SegmentEncoded').executeTakeFirstOrThrow();
    // Past every check of the code: straight into the table, at the stream's next version.
    const insert = async (streamId: string, streamType: string, type: string, data: unknown) => {
      const { version } = await database.db.selectFrom('events').select((eb) => eb.fn.max('version').as('version')).where('stream_id', '=', streamId).executeTakeFirstOrThrow();
      return database.db.insertInto('events').values({ stream_id: streamId, stream_type: streamType, version: version + 1, event_id: randomUUID(), type, data: JSON.stringify(data), metadata: JSON.stringify(metadata()) }).execute();
    };
    expect(stitch.version).toBeGreaterThan(0);
    expect(segment.version).toBe(2);
    await expect(insert(videoId, 'video', 'StitchRequested', stitch.data)).rejects.toThrow(/events_one_stage_per_task/);
    await expect(insert(segments[0]!.id, 'segment', 'SegmentEncoded', segment.data)).rejects.toThrow(/events_one_segment_outcome/);
  });
});

describe('a video the split decision leaves whole', () => {
  const scratch = useScratchMedia('framelog-split-flow-');

  /** An ffprobe (FFPROBE_PATH, read by the launcher at each run) that logs each run's arguments, one run a line. */
  async function countingFfprobe(): Promise<{ runs(file: string): Promise<string[]>; restore(): void }> {
    const log = path.join(scratch.dir, 'ffprobe-runs.log');
    const wrapper = path.join(scratch.dir, 'ffprobe-counting.sh');
    await writeFile(wrapper, `#!/bin/sh\necho "$*" >> '${log}'\nexec ffprobe "$@"\n`);
    await chmod(wrapper, 0o755);
    const previous = process.env.FFPROBE_PATH;
    process.env.FFPROBE_PATH = wrapper;
    return {
      runs: async (file) => (await readFile(log, 'utf8').catch(() => '')).split('\n').filter((line) => line.includes(file)),
      restore: () => {
        if (previous === undefined) delete process.env.FFPROBE_PATH;
        else process.env.FFPROBE_PATH = previous;
      },
    };
  }

  it("is probed once: the transcode task hands the decision's probe (and its packet scan) to the processor", async () => {
    // Matroska: its headers are not trusted for lengths, so the probe also scans the packets (probe.ts).
    const clip = await makeClip(path.join(scratch.dir, 'clips'), { width: 160, height: 90, durationSeconds: 2, audio: true, format: 'mkv' });
    const videoId = randomUUID();
    const taskId = randomUUID();
    const key = sourceKey(videoId);
    await mkdir(path.dirname(scratch.storage.localPath(key)), { recursive: true });
    await copyFile(clip, scratch.storage.localPath(key));
    await appendToStream(database.db, { streamId: videoId, expectedVersion: 0, state: null, events: [{ event: uploaded(taskId, { storageKey: key }), metadata: metadata() }] });
    const split = createSplitMediaProcessor({ storage: scratch.storage, limits: TEST_LIMITS, threads: 0 });
    const ffprobe = await countingFfprobe();
    try {
      const realDeps = { ...deps(), processor: scratch.processor, split: { processor: split, minSeconds: 6, segmentSeconds: 4 } };
      expect(await handleTask(realDeps, { body: { schema: 2, kind: 'transcode', videoId, taskId }, messageId: randomUUID(), correlationId: randomUUID() })).toEqual({ kind: 'ack' });
      expect(await loadVideo(database.db, videoId)).toMatchObject({ status: 'PROCESSED' });
      const runs = await ffprobe.runs(scratch.storage.localPath(key));
      expect(runs.filter((args) => args.includes('-show_format'))).toHaveLength(1);
      expect(runs.filter((args) => args.includes('packet='))).toHaveLength(1);
      expect(runs).toHaveLength(2);
    } finally {
      ffprobe.restore();
    }
  });
});
