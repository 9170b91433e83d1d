import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { clipProcessor } from '../lib/clipProcessor.js';
import { installRecorder, timedReplay } from '../lib/ffmpegRecorder.js';
import { row, type BenchRow } from '../lib/results.js';
import { median, timed } from '../lib/stats.js';

export async function ffmpegBenchmark(options: { seconds: number; runs: number }): Promise<BenchRow[]> {
  const dir = await mkdtemp(path.join(tmpdir(), 'framelog-bench-ffmpeg-'));
  try {
    const recorder = await installRecorder(dir);
    // fluent-ffmpeg looks FFMPEG_PATH up once per process, at its first run: this is that first run.
    process.env.FFMPEG_PATH = recorder.executable;
    const processOnce = await clipProcessor(dir, { width: 1280, height: 720, seconds: options.seconds });

    // Warm-up, which also records the command lines: both sides then run with a warm page cache.
    const warmup = await timed(processOnce);
    const calls = await recorder.calls();
    if (calls.length === 0) throw new Error('the processor ran no ffmpeg command with an input');

    const pipelineMs: number[] = [];
    const directMs: number[] = [];
    for (let i = 0; i < options.runs; i += 1) {
      // Alternating which side goes first cancels what running second gains or loses (cache, load drift).
      if (i % 2 === 0) {
        directMs.push(await timedReplay(calls));
        pipelineMs.push(await timed(processOnce));
      } else {
        pipelineMs.push(await timed(processOnce));
        directMs.push(await timedReplay(calls));
      }
    }
    return [
      row({
        benchmark: 'ffmpeg',
        measure: `${options.seconds} s 720p clip, median of ${options.runs}`,
        unit: 'ms',
        framelog: median(pipelineMs),
        baseline: median(directMs),
        comparison: '<=',
        limit: 1.05,
        details: {
          pipelineMs,
          directMs,
          // Each run's pair measured back to back: steadier than the ratio of medians on a busy machine.
          pairRatios: pipelineMs.map((ms, i) => ms / (directMs[i] ?? Number.NaN)),
          warmupMs: warmup,
          commands: calls.map((c) => ['ffmpeg', ...c.args].join(' ')),
        },
      }),
    ];
  } finally {
    delete process.env.FFMPEG_PATH;
    await rm(dir, { recursive: true, force: true });
  }
}
