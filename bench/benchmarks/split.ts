import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { makeClip } from '../../test/helpers/media.js';
import type { Stack } from '../../test/helpers/stack.js';
import { startPipeline } from '../lib/pipeline.js';
import { row, type BenchRow } from '../lib/results.js';
import { outcomeAt, uploadFile } from '../lib/uploadFile.js';

const exec = promisify(execFile);

export interface SplitBenchOptions {
  /** Length of the 1080p30 clip (issue 19: 120 s). */
  seconds: number;
  /** SEGMENT_SECONDS of the split runs (a multiple of the 2 s GOP). */
  segmentSeconds: number;
}

/** One segment of a split run, from its segment stream: which range, which worker, how long. */
interface SegmentTiming {
  index: number;
  workerId: string;
  /** SegmentStarted's recorded_at after VideoUploaded's, ms. */
  startedAfterMs: number;
  /** SegmentStarted to the attempt's outcome (recorded_at), ms; NaN without one. */
  ms: number;
  /** SegmentEncoded, SegmentFailed, or `none`. */
  outcome: string;
}

interface RunResult {
  /** VideoUploaded to VideoProcessed (recorded_at of both), ms: processing only, not the upload. */
  ms: number;
  segments: SegmentTiming[];
}

/**
 * Split and stitch (issue 19): one 1080p30 clip through a deployment whose workers are each pinned to a
 * core of their own (`taskset`, FFMPEG_THREADS=1, so one worker is one core of encoding), timed from
 * VideoUploaded to VideoProcessed: split with 2 workers against split with 1 (target ≥ 1.8× faster), and
 * split with 1 worker against the single-task path with splitting off (SPLIT_MIN_SECONDS=0; target ≤ 1.10×,
 * the cost of splitting). Prints every segment's timing and worker.
 */
export async function splitBenchmark(options: SplitBenchOptions): Promise<BenchRow[]> {
  const dir = await mkdtemp(path.join(tmpdir(), 'framelog-bench-split-'));
  try {
    // Noisy audio: the bare test tone costs the AAC encoder ~4x what recorded sound does (makeClip), ~13 s of
    // a 120 s clip's serial stitch that real uploads do not have.
    const clip = await makeClip(dir, { width: 1920, height: 1080, durationSeconds: options.seconds, audio: true, audioContent: 'noisy', fps: 30 });
    // The split threshold just under the clip, so the clip is split however short (--quick).
    const split = { SPLIT_MIN_SECONDS: String(Math.max(1, Math.floor(options.seconds / 2))), SEGMENT_SECONDS: String(options.segmentSeconds) };
    const single = await runOnce(clip, 1, { SPLIT_MIN_SECONDS: '0', SEGMENT_SECONDS: String(options.segmentSeconds) }, 'single task');
    const oneWorker = await runOnce(clip, 1, split, 'split, 1 worker');
    const twoWorkers = await runOnce(clip, 2, split, 'split, 2 workers');
    const details = { singleMs: single.ms, oneWorkerMs: oneWorker.ms, twoWorkersMs: twoWorkers.ms, segments: { oneWorker: oneWorker.segments, twoWorkers: twoWorkers.segments } };
    const measure = `${options.seconds} s 1080p30 clip, ${options.segmentSeconds} s segments, VideoUploaded to VideoProcessed, workers pinned to a core each, FFMPEG_THREADS=1`;
    return [
      // The ratio is the speed-up: the time with 1 worker over the time with 2.
      row({ benchmark: 'split', measure: `${measure}: 1 worker (framelog) over 2 workers (baseline)`, unit: 'ms', framelog: oneWorker.ms, baseline: twoWorkers.ms, comparison: '>=', limit: 1.8, details }),
      row({ benchmark: 'split', measure: `${measure}: split with 1 worker against the single task`, unit: 'ms', framelog: oneWorker.ms, baseline: single.ms, comparison: '<=', limit: 1.1, details }),
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** One video through a fresh deployment of `workers` pinned workers; prints the run's time and its segments. */
async function runOnce(clip: string, workers: number, env: Record<string, string>, name: string): Promise<RunResult> {
  const pipeline = await startPipeline({ workers, env: { ...env, FFMPEG_THREADS: '1' } });
  try {
    await pinWorkers(pipeline);
    const videoId = await uploadFile(pipeline.apiUrl, clip, `bench split: ${name}`);
    const processedAt = await outcomeAt(pipeline, videoId);
    const { rows } = await pipeline.database.pool.query<{ at: string }>(
      `select extract(epoch from min(recorded_at)) * 1000 as at from events where stream_id = $1`,
      [videoId],
    );
    const uploadedAt = Number(rows[0]?.at);
    const result = { ms: processedAt - uploadedAt, segments: await segmentTimings(pipeline, videoId, uploadedAt) };
    const lines = result.segments.map((s) => `\n  segment ${s.index} on ${s.workerId}: from ${Math.round(s.startedAfterMs)} ms, ${Math.round(s.ms)} ms, ${s.outcome}`);
    console.log(`${name}: ${Math.round(result.ms)} ms${lines.join('')}`);
    return result;
  } finally {
    await pipeline.close();
  }
}

/**
 * Pins worker i (and every thread and later child of it: ffmpeg inherits the mask) to core i, so each
 * worker has one core of its own; the API and the services float.
 */
async function pinWorkers(pipeline: Stack): Promise<void> {
  const cores = availableParallelism();
  await Promise.all(
    pipeline.workers.map((worker, index) => exec('taskset', ['-a', '-p', '-c', String(index % cores), String(worker.child.pid)])),
  );
}

/**
 * Every attempt at a segment of the video: SegmentStarted and the segment stream's next event after it
 * (SegmentEncoded, SegmentFailed, or none for an attempt cut short), with when it started after `since`.
 */
async function segmentTimings(pipeline: Stack, videoId: string, since: number): Promise<SegmentTiming[]> {
  const { rows } = await pipeline.database.pool.query<{ index: string; worker: string; started: string; ms: string | null; outcome: string | null }>(
    `select s.data->>'index' as index, s.data->>'workerId' as worker,
            extract(epoch from s.recorded_at) * 1000 as started,
            extract(epoch from e.recorded_at - s.recorded_at) * 1000 as ms, e.type as outcome
       from events s
       left join lateral (
         select type, recorded_at from events n
          where n.stream_id = s.stream_id and n.version > s.version order by n.version limit 1
       ) e on true
      where s.type = 'SegmentStarted' and s.data->>'videoId' = $1
      order by s.recorded_at`,
    [videoId],
  );
  return rows.map((r) => ({
    index: Number(r.index),
    workerId: r.worker,
    startedAfterMs: Number(r.started) - since,
    ms: r.ms === null ? Number.NaN : Number(r.ms),
    outcome: r.outcome ?? 'none',
  }));
}
