import { stat } from 'node:fs/promises';
import { ErrorCode, FramelogError } from '../domain/errors.js';
import type { Rendition } from '../domain/events.js';
import { runFfmpeg, threadInputOptions } from './ffmpeg.js';
import { renditionName } from './keys.js';
import type { RenditionPlan } from './ladder.js';
import { mp4DurationSeconds } from './mp4Duration.js';
import type { ProbedMedia } from './probe.js';
import { colourTagFilters, FRAME_TIMING_OPTIONS, frameRateCapFilters, sourceFilters, type PictureTraits } from './videoFilters.js';
import type { OutputSet } from './storage.js';

export interface TranscodeInput {
  /** The video's output set: renditions are written into it as `<label>.mp4`; the caller commits or aborts it. */
  outputs: OutputSet;
  /** Local path of the source (storage.readLocal of its key). */
  sourcePath: string;
  media: Pick<ProbedMedia, 'durationSeconds' | 'videoStreamIndex' | 'audioStreamIndex' | 'audioChannels' | 'picture'>;
  plan: readonly RenditionPlan[];
}

export interface TranscodeOptions {
  /** Wall-clock limit; past it ffmpeg is killed and JOB_TIMEOUT (retryable) thrown. */
  timeoutMs: number;
  /** FFMPEG_THREADS: threads of the decoder, the filter graph and each encoder; 0 lets ffmpeg choose. */
  threads: number;
  /** Aborting kills ffmpeg and throws an error named 'AbortError'. */
  signal?: AbortSignal;
  onProgress?: (percent: number) => void;
}

/**
 * Produces every rendition of `plan` in ONE ffmpeg run: the source is decoded once and `split` feeds one
 * scaler and encoder per rung (DESIGN §5: 1.3-1.4x faster than a run per rendition). Outputs go into the
 * uncommitted output set, so nothing is visible until the caller commits it after every output succeeded,
 * and a failed run leaves nothing once the caller aborts the set. Keys are the set's (`keyOf`).
 */
export async function transcodeRenditions(input: TranscodeInput, options: TranscodeOptions): Promise<Rendition[]> {
  const { outputs, plan, media } = input;
  if (plan.length === 0) throw new Error('transcodeRenditions needs at least one rendition in the plan');
  const targets = await Promise.all(
    plan.map(async (rung) => {
      const name = renditionName(rung.label);
      return { rung, key: outputs.keyOf(name), path: await outputs.localPath(name) };
    }),
  );

  const { stderr } = await runFfmpeg({
    input: input.sourcePath,
    inputOptions: threadInputOptions(options.threads),
    complexFilter: ladderFilterGraph(media.videoStreamIndex, plan, media.picture),
    outputs: targets.map(({ path }, index) => ({ path, options: renditionOutputOptions(index, media, options.threads) })),
    timeoutMs: options.timeoutMs,
    signal: options.signal,
    durationSeconds: media.durationSeconds,
    onProgress: options.onProgress,
  });
  if (/Output file is empty, nothing was encoded/.test(stderr)) {
    throw new FramelogError(ErrorCode.MEDIA_CORRUPT, 'No video frame could be decoded from the upload; the file is damaged.', {
      retryable: false,
      details: { stderr: stderr.slice(-2000) },
    });
  }
  const renditions: Rendition[] = [];
  for (const { rung, key, path } of targets) {
    const { size } = await stat(path);
    if (size === 0) throw new FramelogError(ErrorCode.TRANSCODE_FAILED, 'ffmpeg wrote an empty rendition.', { retryable: true });
    renditions.push({ label: rung.label, width: rung.width, height: rung.height, sizeBytes: size, storageKey: key });
  }
  const first = targets[0];
  if (first !== undefined) assertCoversSource(await mp4DurationSeconds(first.path), media.durationSeconds);
  return renditions;
}

/**
 * ffmpeg exits 0 on a truncated or damaged upload: it conceals what it can, skips what it cannot and stops
 * where the data ends, so the rendition is silently shorter than the header promised. Shorter by more than
 * this is refused as MEDIA_CORRUPT (not retryable); a little is normal (last frame duration, audio padding).
 */
export function allowedShortfallSeconds(durationSeconds: number): number {
  return Math.max(0.5, durationSeconds * 0.1);
}

/**
 * Refuses a rendition that lasts less than the source by more than allowedShortfallSeconds.
 * `writtenSeconds` is the duration its movie header declares (mp4Duration.ts): what an ffprobe of it
 * reports, without another process. (ffmpeg's own `time=` is not precise enough: it is the last packet's
 * timestamp in decoding order, which B-frames and the last frame's length put up to ~0.8 s short on a
 * whole 1 s clip at 5 fps.)
 */
export function assertCoversSource(writtenSeconds: number | null, durationSeconds: number): void {
  const written = writtenSeconds ?? Number.NaN;
  if (!Number.isFinite(written) || durationSeconds - written > allowedShortfallSeconds(durationSeconds)) {
    throw new FramelogError(
      ErrorCode.MEDIA_CORRUPT,
      `Only ${Number.isFinite(written) ? written.toFixed(2) : 'an unknown length'} s of the ${durationSeconds.toFixed(2)} s video ` +
        'could be decoded; the file is truncated or damaged. Upload it again.',
      { retryable: false, details: { decodedSeconds: Number.isFinite(written) ? written : null, durationSeconds } },
    );
  }
}

/**
 * `[0:<video>]<source filters>split=N[s0]…; [si]<fps cap>scale=W:H,setsar=1,format=yuv420p<tags>[vi]`
 * (videoFilters.ts: deinterlace and tone-map once, the frame-rate cap per rung). ffmpeg has already applied
 * the source's rotation (autorotate) before the graph, so W:H are display dimensions; setsar=1 makes pixels
 * square because W:H already include the source's pixel aspect.
 */
export function ladderFilterGraph(videoStreamIndex: number, plan: readonly RenditionPlan[], picture: PictureTraits): string {
  const splitOutputs = plan.map((_, index) => `[s${index}]`).join('');
  const source = sourceFilters(picture, plan[0]).map((filter) => `${filter},`).join('');
  const branches = plan.map((rung, index) => {
    const filters = [
      ...frameRateCapFilters(picture, Math.min(rung.width, rung.height)),
      `scale=${rung.width}:${rung.height}`, 'setsar=1', 'format=yuv420p',
      ...colourTagFilters(picture),
    ];
    return `[s${index}]${filters.join(',')}[v${index}]`;
  });
  return [`[0:${videoStreamIndex}]${source}split=${plan.length}${splitOutputs}`, ...branches].join(';');
}

/** Options of output `index`: H.264 High yuv420p, AAC only when the source has audio, faststart MP4. */
export function renditionOutputOptions(
  index: number,
  media: Pick<ProbedMedia, 'audioStreamIndex' | 'audioChannels'>,
  threads: number,
): string[] {
  const audio =
    media.audioStreamIndex === null
      ? []
      : [
          '-map', `0:${media.audioStreamIndex}`,
          '-c:a', 'aac', '-b:a', '128k',
          // Browsers play stereo everywhere; keep mono as mono.
          ...((media.audioChannels ?? 2) > 2 ? ['-ac', '2'] : []),
        ];
  return [
    '-map', `[v${index}]`,
    ...audio,
    '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '23',
    '-profile:v', 'high', '-pix_fmt', 'yuv420p',
    ...FRAME_TIMING_OPTIONS,
    '-threads', String(threads),
    // Uploads carry tags such as GPS location and device names; renditions are public, so drop them.
    '-map_metadata', '-1', '-map_chapters', '-1',
    // moov before mdat: playback can start before the whole file has downloaded.
    '-movflags', '+faststart',
    '-f', 'mp4',
  ];
}
