import { rm, stat } from 'node:fs/promises';
import type { Poster } from '../domain/events.js';
import { runFfmpeg, threadInputOptions } from './ffmpeg.js';
import { POSTER_NAME } from './keys.js';
import type { RenditionPlan } from './ladder.js';
import type { ProbedMedia } from './probe.js';
import { posterFilters } from './videoFilters.js';
import type { OutputSet } from './storage.js';

export interface PosterInput {
  /** The video's output set: the poster is written into it as `poster.jpg`; the caller commits or aborts it. */
  outputs: OutputSet;
  sourcePath: string;
  media: Pick<ProbedMedia, 'durationSeconds' | 'videoStreamIndex' | 'picture'>;
  /** Display size of the poster (ladder.posterSize); both sides even. */
  size: Pick<RenditionPlan, 'width' | 'height'>;
}

export interface PosterOptions {
  timeoutMs: number;
  threads: number;
  signal?: AbortSignal;
}

/** Where the poster frame is taken: far enough in to skip black intros and fades. */
export const POSTER_POSITION = 0.1;

/**
 * Writes one JPEG poster from ~10% into the video into the output set. Returns null, with no poster file
 * left in the set, when the video has no decodable frame to show (ffmpeg succeeds but writes nothing
 * even from the very start); timeouts, aborts and ffmpeg failures throw like transcodeRenditions.
 */
export async function extractPoster(input: PosterInput, options: PosterOptions): Promise<Poster | null> {
  const { outputs, size } = input;
  const file = await outputs.localPath(POSTER_NAME);
  const deadline = Date.now() + options.timeoutMs;
  // Seeking past the last frame (very short clips, wrong header durations) yields no image; retry at 0.
  for (const seconds of [input.media.durationSeconds * POSTER_POSITION, 0]) {
    await runFfmpeg({
      input: input.sourcePath,
      // Input seeking: jumps to the nearest keyframe before decoding instead of decoding from the start.
      inputOptions: [...threadInputOptions(options.threads), ...(seconds > 0 ? ['-ss', seconds.toFixed(3)] : [])],
      outputs: [
        {
          path: file,
          options: [
            '-map', `0:${input.media.videoStreamIndex}`,
            '-frames:v', '1',
            '-vf', posterFilters(input.media.picture, size),
            // 4:2:0 full-range JPEG: what every decoder expects, whatever the source's chroma layout.
            '-c:v', 'mjpeg', '-pix_fmt', 'yuvj420p', '-q:v', '3',
            '-threads', String(options.threads),
            '-map_metadata', '-1',
            // A single image at a fixed name (no %d pattern).
            '-f', 'image2', '-update', '1',
          ],
        },
      ],
      timeoutMs: Math.max(1, deadline - Date.now()),
      signal: options.signal,
    });
    if (await nonEmpty(file)) return { storageKey: outputs.keyOf(POSTER_NAME), width: size.width, height: size.height };
    if (seconds === 0) break;
  }
  // An empty file ffmpeg may have left must not be published.
  await rm(file, { force: true });
  return null;
}

async function nonEmpty(path: string): Promise<boolean> {
  try {
    return (await stat(path)).size > 0;
  } catch {
    return false;
  }
}
