import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { makeClip } from '../../test/helpers/media.js';
import type { Stack } from '../../test/helpers/stack.js';
import { installRecorder, timedReplay, type FfmpegRecorder, type RecordedCall } from '../lib/ffmpegRecorder.js';
import { startPipeline } from '../lib/pipeline.js';
import { outcomeAt, uploadFile } from '../lib/uploadFile.js';
import { row, type BenchRow } from '../lib/results.js';
import { median } from '../lib/stats.js';

/**
 * Where framelog's time went, in ms: the upload until the API answered; from then to the first ffmpeg
 * command (queueing, probe, packet scan); the ffmpeg commands (first start to last exit); and from then
 * to VideoProcessed (storage commit, the outcome's append).
 */
interface Phases {
  uploadMs: number;
  beforeFfmpegMs: number;
  ffmpegMs: number;
  afterFfmpegMs: number;
}

function phasesOf(startedAt: number, answeredAt: number, outcomeAt: number, calls: readonly RecordedCall[]): Phases {
  const firstStart = Number(calls.reduce((min, c) => (c.startedNs < min ? c.startedNs : min), calls[0]?.startedNs ?? 0n) / 1_000_000n);
  const lastEnd = Number(calls.reduce((max, c) => (c.endedNs !== null && c.endedNs > max ? c.endedNs : max), 0n) / 1_000_000n);
  return { uploadMs: answeredAt - startedAt, beforeFfmpegMs: firstStart - answeredAt, ffmpegMs: lastEnd - firstStart, afterFfmpegMs: outcomeAt - lastEnd };
}

/** One run: framelog from upload start to VideoProcessed, then the ffmpeg commands its worker ran, replayed directly. */
async function runOnce(pipeline: Stack, recorder: FfmpegRecorder, clip: string): Promise<{ framelogMs: number; directMs: number; phases: Phases; commands: string[] }> {
  const startedNs = BigInt(Date.now()) * 1_000_000n;
  const startedAt = Date.now();
  const videoId = await uploadFile(pipeline.apiUrl, clip, 'bench time to playable');
  const answeredAt = Date.now();
  const processedAt = await outcomeAt(pipeline, videoId);
  const calls = (await recorder.calls()).filter((c) => c.startedNs >= startedNs);
  if (calls.length === 0) throw new Error('the worker ran no ffmpeg command with an input');
  const phases = phasesOf(startedAt, answeredAt, processedAt, calls);
  console.log(`framelog ${Math.round(processedAt - startedAt)} ms: ${Object.entries(phases).map(([phase, ms]: [string, number]) => `${phase} ${Math.round(ms)}`).join(', ')}`);
  // The same command lines on the same stored input.
  const directMs = await timedReplay(calls);
  return { framelogMs: processedAt - startedAt, directMs, phases, commands: calls.map((c) => ['ffmpeg', ...c.args].join(' ')) };
}

/**
 * Time to playable: a 1080p30 clip uploaded through `uploadVideo` into a deployment with one ffmpeg
 * worker, from the upload's first byte to VideoProcessed's commit, against running the ffmpeg command
 * lines that worker ran (recorded through FFMPEG_PATH, so whatever the worker runs is what is replayed)
 * directly on the same input. The difference is what framelog adds: upload, hash, probes, queueing,
 * the log and storage.
 */
export async function playableBenchmark(options: { seconds: number; runs: number }): Promise<BenchRow[]> {
  const dir = await mkdtemp(path.join(tmpdir(), 'framelog-bench-playable-'));
  try {
    const recorder = await installRecorder(dir, { timed: true });
    const clip = await makeClip(dir, { width: 1920, height: 1080, durationSeconds: options.seconds, audio: true, fps: 30 });
    const pipeline = await startPipeline({ workers: 1, workerEnv: { FFMPEG_PATH: recorder.executable } });
    try {
      const runs = [];
      for (let i = 0; i < options.runs; i += 1) runs.push(await runOnce(pipeline, recorder, clip));
      const framelog = runs.map((r) => r.framelogMs);
      const direct = runs.map((r) => r.directMs);
      return [
        row({
          benchmark: 'time to playable',
          measure: `${options.seconds} s 1080p30 clip, upload start to VideoProcessed, median of ${options.runs}`,
          unit: 'ms',
          framelog: median(framelog),
          baseline: median(direct),
          comparison: '<=',
          limit: 1.1,
          details: { framelogMs: framelog, directMs: direct, phases: runs.map((r) => r.phases), clipBytes: (await stat(clip)).size, commands: runs[0]?.commands },
        }),
      ];
    } finally {
      await pipeline.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
