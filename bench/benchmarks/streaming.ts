import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { outputSetKey } from '../../services/media/keys.js';
import { planLadder, type RenditionPlan } from '../../services/media/ladder.js';
import { probeMedia, type ProbedMedia } from '../../services/media/probe.js';
import { LocalDiskStorage } from '../../services/media/storage.js';
import { audioOutputOptions, encodeLadder, ladderFilterGraph, transcodeRenditions, videoOutputOptions } from '../../services/media/transcode.js';
import { FRAME_TIMING_OPTIONS } from '../../services/media/videoFilters.js';
import { makeClip } from '../../test/helpers/media.js';
import { row, type BenchRow } from '../lib/results.js';
import { median, takeTurns } from '../lib/stats.js';

const run = promisify(execFile);
const LIMITS = { maxDurationSeconds: 3600, maxDimension: 8192, maxStreams: 16 };
const ffmpeg = (args: string[]) => run('ffmpeg', ['-nostdin', '-y', '-v', 'error', ...args], { maxBuffer: 64 * 1024 * 1024 });

/**
 * Today's path before adaptive streaming: the MP4 ladder alone, one ffmpeg run with `split`, each output
 * encoding its own AAC and writing a faststart MP4 (what transcode.ts did before the one encode).
 */
function mp4LadderArgs(clip: string, media: ProbedMedia, plan: readonly RenditionPlan[], dir: string): string[] {
  const outputs = plan.flatMap((rung, index) => [
    '-map', `[v${index}]`,
    ...(media.audioStreamIndex === null ? [] : ['-map', `0:${media.audioStreamIndex}`, '-c:a', 'aac', '-b:a', '128k']),
    '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '23', '-profile:v', 'high', '-pix_fmt', 'yuv420p', ...FRAME_TIMING_OPTIONS,
    '-movflags', '+faststart', '-f', 'mp4', path.join(dir, `${rung.label}.mp4`),
  ]);
  return ['-i', clip, '-filter_complex', ladderFilterGraph(media.videoStreamIndex, plan, media.picture), ...outputs];
}

/** PeerTube's way: one ffmpeg run per rung (each decoding the source again), and one for the audio. */
async function runPerRung(clip: string, media: ProbedMedia, plan: readonly RenditionPlan[], dir: string): Promise<void> {
  for (const [index, rung] of plan.entries()) {
    const options = videoOutputOptions(0, rung, 0);
    await ffmpeg(['-i', clip, '-filter_complex', ladderFilterGraph(media.videoStreamIndex, [rung], media.picture), ...options, path.join(dir, `rung-${index}.mp4`)]);
  }
  if (media.audioStreamIndex !== null) await ffmpeg(['-i', clip, ...audioOutputOptions(media.audioStreamIndex, 0), path.join(dir, 'audio.mp4')]);
}

/**
 * Adaptive streaming's cost (DESIGN §10) on the 720p clip: (1) the one encode plus all three packagings
 * (CMAF/HLS, DASH, MP4 downloads) against encoding the MP4 ladder alone, at most 1.10x the time; (2) the
 * one-pass ladder encode against one ffmpeg run per rung, at least 1.25x faster (ratio <= 0.8).
 */
export async function streamingBenchmark(options: { seconds: number; runs: number }): Promise<BenchRow[]> {
  const dir = await mkdtemp(path.join(tmpdir(), 'framelog-bench-streaming-'));
  try {
    const clip = await makeClip(dir, { width: 1280, height: 720, durationSeconds: options.seconds, audio: true, fps: 30 });
    const media = await probeMedia(clip, LIMITS);
    const plan = planLadder(media);
    const storage = new LocalDiskStorage(path.join(dir, 'media'));
    const setKey = outputSetKey(randomUUID());
    const scratch = async (fn: (work: string) => Promise<unknown>) => {
      const work = await mkdtemp(path.join(dir, 'work-'));
      try {
        await fn(work);
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    };
    const encodeAndPackage = async () => {
      const outputs = await storage.openOutputSet(setKey);
      try {
        await transcodeRenditions({ outputs, sourcePath: clip, media, plan }, { timeoutMs: 600_000, threads: 0 });
      } finally {
        await outputs.abort();
      }
    };
    const mp4Only = () => scratch((work) => ffmpeg(mp4LadderArgs(clip, media, plan, work)));
    const onePass = () => scratch((work) => encodeLadder({ sourcePath: clip, media, plan }, work, { timeoutMs: 600_000, threads: 0 }));
    const perRung = () => scratch((work) => runPerRung(clip, media, plan, work));

    await encodeAndPackage(); // warm-up: page cache and fluent-ffmpeg's first-run checks
    const packaging = await takeTurns(options.runs, encodeAndPackage, mp4Only);
    const ladder = await takeTurns(options.runs, onePass, perRung);
    const measure = `${options.seconds} s 720p clip, ${plan.length} rungs, median of ${options.runs}`;
    return [
      row({
        benchmark: 'streaming',
        measure: `encode + HLS/DASH/MP4 packaging vs MP4 ladder alone, ${measure}`,
        unit: 'ms',
        framelog: median(packaging.framelogMs),
        baseline: median(packaging.baselineMs),
        comparison: '<=',
        limit: 1.1,
        details: { ...packaging },
      }),
      row({
        benchmark: 'streaming',
        measure: `one-pass ladder vs one ffmpeg run per rung, ${measure}`,
        unit: 'ms',
        framelog: median(ladder.framelogMs),
        baseline: median(ladder.baselineMs),
        comparison: '<=',
        // 1.25x faster.
        limit: 0.8,
        details: { ...ladder },
      }),
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
