import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadConfig } from '../../services/config.js';
import { sourceKey } from '../../services/media/keys.js';
import { LocalDiskStorage } from '../../services/media/storage.js';
import { createProcessor } from '../../services/worker/startWorker.js';
import { makeClip } from '../../test/helpers/media.js';
import { row, type BenchRow } from '../lib/results.js';
import { median } from '../lib/stats.js';

const run = promisify(execFile);

/**
 * A stand-in ffmpeg for fluent-ffmpeg (FFMPEG_PATH) that records each invocation's arguments, then
 * execs the real one: the command lines the processor builds, taken as built, without touching
 * services/media. The shell adds ~2 ms per invocation to the pipeline's side.
 */
async function installRecorder(dir: string): Promise<{ executable: string; calls: () => Promise<string[][]> }> {
  const calls = path.join(dir, 'calls');
  await mkdir(calls);
  const executable = path.join(dir, 'ffmpeg-recorder.sh');
  await writeFile(executable, `#!/bin/sh\nprintf '%s\\0' "$@" > '${calls}'/"$(date +%s%N)-$$"\nexec ffmpeg "$@"\n`);
  await chmod(executable, 0o755);
  return {
    executable,
    async calls() {
      const files = (await readdir(calls)).sort();
      return Promise.all(files.map(async (f) => (await readFile(path.join(calls, f), 'utf8')).split('\0').slice(0, -1)));
    },
  };
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

export async function ffmpegBenchmark(options: { seconds: number; runs: number }): Promise<BenchRow[]> {
  const dir = await mkdtemp(path.join(tmpdir(), 'framelog-bench-ffmpeg-'));
  try {
    const recorder = await installRecorder(dir);
    // fluent-ffmpeg looks FFMPEG_PATH up once per process, at its first run: this is that first run.
    process.env.FFMPEG_PATH = recorder.executable;
    const mediaRoot = path.join(dir, 'media');
    const clip = await makeClip(dir, { width: 1280, height: 720, durationSeconds: options.seconds, audio: true, fps: 30 });
    const storage = new LocalDiskStorage(mediaRoot);
    const videoId = randomUUID();
    await storage.writeStream(sourceKey(videoId), createReadStream(clip), { maxBytes: 2 ** 40 });
    // The processor exactly as a worker composes it with the default settings (PROCESSOR=ffmpeg).
    const processor = createProcessor(loadConfig({ MEDIA_ROOT: mediaRoot }), storage);
    const processOnce = () => processor.process({ videoId, sourceKey: sourceKey(videoId) });

    // Warm-up, which also records the command lines: both sides then run with a warm page cache.
    const warmup = await timed(processOnce);
    const commands = (await recorder.calls()).filter((args) => args.includes('-i'));
    if (commands.length === 0) throw new Error('the processor ran no ffmpeg command with an input');
    const direct = async () => {
      for (const args of commands) await run('ffmpeg', args, { maxBuffer: 64 * 1024 * 1024 });
    };

    const pipelineMs: number[] = [];
    const directMs: number[] = [];
    for (let i = 0; i < options.runs; i += 1) {
      // Alternating which side goes first cancels what running second gains or loses (cache, load drift).
      if (i % 2 === 0) {
        directMs.push(await timed(direct));
        pipelineMs.push(await timed(processOnce));
      } else {
        pipelineMs.push(await timed(processOnce));
        directMs.push(await timed(direct));
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
          commands: commands.map((args) => ['ffmpeg', ...args].join(' ')),
        },
      }),
    ];
  } finally {
    delete process.env.FFMPEG_PATH;
    await rm(dir, { recursive: true, force: true });
  }
}
