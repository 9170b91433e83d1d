import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ErrorCode, FramelogError } from '../domain/errors.js';
import { runFfmpeg, threadInputOptions } from './ffmpeg.js';
import { rateCap, type RenditionPlan } from './ladder.js';
import { mp4DurationSeconds } from './mp4Duration.js';
import { packageLadder, type EncodedLadder, type LadderOutputs } from './stream.js';
import type { ProbedMedia } from './probe.js';
import type { RangeCut } from './rangePlan.js';
import { colourTagFilters, FRAME_TIMING_OPTIONS, frameRateCapFilters, sourceFilters, type PictureTraits } from './videoFilters.js';
import type { OutputSet } from './storage.js';

export interface TranscodeInput {
  /** The video's output set: downloads, segments and playlists are written into it; the caller commits or aborts it. */
  outputs: OutputSet;
  /** Local path of the source (storage.readLocal of its key). */
  sourcePath: string;
  media: Pick<ProbedMedia, 'durationSeconds' | 'videoStreamIndex' | 'audioStreamIndex' | 'picture'>;
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
 * Produces every rendition of `plan` from ONE encode (DESIGN §10): the source is decoded once and `split`
 * feeds one scaler and encoder per rung (DESIGN §5: 1.3-1.4x faster than a run per rendition), the audio
 * is encoded once, and one copy-only ffmpeg run packages those streams as CMAF segments with HLS and DASH
 * playlists plus the progressive MP4 downloads (stream.ts). The encoded streams stay in a private work
 * directory; what is published goes into the uncommitted output set, only after the encode covered the
 * source's duration, so nothing is visible until the caller commits the set.
 */
export async function transcodeRenditions(input: TranscodeInput, options: TranscodeOptions): Promise<LadderOutputs> {
  const { plan } = input;
  if (plan.length === 0) throw new Error('transcodeRenditions needs at least one rendition in the plan');
  const deadline = Date.now() + options.timeoutMs;
  const workDir = await mkdtemp(path.join(tmpdir(), 'framelog-ladder-'));
  try {
    const encoded = await encodeLadder(input, workDir, options);
    return await packageLadder(encoded, input.outputs, { timeoutMs: Math.max(1, deadline - Date.now()), signal: options.signal });
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

/**
 * The one encode: decodes the source once and writes into `workDir` one video-only MP4 per rung and, with
 * audio, one AAC stereo MP4. Throws MEDIA_CORRUPT when nothing (or too little of the source) decodes.
 */
export async function encodeLadder(
  input: Omit<TranscodeInput, 'outputs'>,
  workDir: string,
  options: TranscodeOptions,
): Promise<EncodedLadder> {
  const { plan, media } = input;
  const videos = plan.map((rung, index) => ({ rung, path: path.join(workDir, `video-${index}.mp4`) }));
  const audioPath = media.audioStreamIndex === null ? null : path.join(workDir, 'audio.mp4');
  await runLadderEncode(
    {
      sourcePath: input.sourcePath,
      inputOptions: threadInputOptions(options.threads),
      complexFilter: ladderFilterGraph(media.videoStreamIndex, plan, media.picture),
      videos,
      audio: audioPath === null || media.audioStreamIndex === null ? null : { path: audioPath, streamIndex: media.audioStreamIndex },
      durationSeconds: media.durationSeconds,
    },
    options,
  );
  return { workDir, videos, audioPath };
}

export interface RangeEncodeInput extends Omit<TranscodeInput, 'outputs'> {
  /** Which source frames to encode (rangePlan.rangeCut). */
  cut: RangeCut;
  /** Seconds of video the range holds: its progress scale and the length its encode must cover. */
  durationSeconds: number;
  /** Where to write each rung's video-only MP4, in plan order. */
  videoPaths: readonly string[];
}

/**
 * One range of a split video (DESIGN §11): the same filter graph and encoder options as encodeLadder, video
 * only (the stitch encodes the audio once, from the whole source), over the frames `cut` selects. An input
 * seek to the cut (`-ss`: ffmpeg seeks to the keyframe before it and, with accurate_seek, its default,
 * drops what decodes before it), then `trim=end=` at the next cut and `setpts=PTS-STARTPTS`, so each rung's
 * MP4 starts at 0 with the range's first frame; the encoder makes that frame a keyframe (a stream's first
 * frame always is, and `-force_key_frames` by time then puts one every GOP_SECONDS after it).
 */
export async function encodeRangeLadder(input: RangeEncodeInput, options: TranscodeOptions): Promise<{ rung: RenditionPlan; path: string }[]> {
  const { plan, media, cut } = input;
  if (plan.length !== input.videoPaths.length) throw new Error('encodeRangeLadder needs one output path per rung');
  const videos = plan.map((rung, index) => ({ rung, path: input.videoPaths[index] ?? '' }));
  await runLadderEncode(
    {
      sourcePath: input.sourcePath,
      inputOptions: [...threadInputOptions(options.threads), ...(cut.seekSeconds === null ? [] : ['-ss', cut.seekSeconds.toFixed(6)])],
      complexFilter: ladderFilterGraph(media.videoStreamIndex, plan, media.picture, rangeFilters(cut)),
      videos,
      audio: null,
      durationSeconds: input.durationSeconds,
      // A range is refused only for what would refuse the whole video (the stitch checks the whole again).
      allowedShortfallSeconds: allowedShortfallSeconds(media.durationSeconds),
    },
    options,
  );
  return videos;
}

/** The range's frames, restamped from 0: `trim` at the range's end cut (none for the last range), then `setpts`. */
export function rangeFilters(cut: RangeCut): string[] {
  return [...(cut.endAfterSeekSeconds === null ? [] : [`trim=end=${cut.endAfterSeekSeconds.toFixed(6)}`]), 'setpts=PTS-STARTPTS'];
}

interface LadderRun {
  sourcePath: string;
  inputOptions: string[];
  complexFilter: string;
  videos: readonly { rung: RenditionPlan; path: string }[];
  audio: { path: string; streamIndex: number } | null;
  /** Seconds the encode should cover (progress, and the shortfall check). */
  durationSeconds: number;
  /** How much less it may cover (default allowedShortfallSeconds of durationSeconds). */
  allowedShortfallSeconds?: number;
}

/** Runs one ladder encode and refuses what decoded too little (MEDIA_CORRUPT) or wrote nothing (TRANSCODE_FAILED). */
async function runLadderEncode(run: LadderRun, options: TranscodeOptions): Promise<void> {
  const { stderr } = await runFfmpeg({
    input: run.sourcePath,
    inputOptions: run.inputOptions,
    complexFilter: run.complexFilter,
    outputs: [
      ...run.videos.map(({ rung, path: output }, index) => ({ path: output, options: videoOutputOptions(index, rung, options.threads) })),
      ...(run.audio === null ? [] : [{ path: run.audio.path, options: audioOutputOptions(run.audio.streamIndex, options.threads) }]),
    ],
    timeoutMs: options.timeoutMs,
    signal: options.signal,
    durationSeconds: run.durationSeconds,
    onProgress: options.onProgress,
  });
  if (/Output file is empty, nothing was encoded/.test(stderr)) {
    throw new FramelogError(ErrorCode.MEDIA_CORRUPT, 'No video frame could be decoded from the upload; the file is damaged.', {
      retryable: false,
      details: { stderr: stderr.slice(-2000) },
    });
  }
  for (const { path: output } of run.videos) {
    const { size } = await stat(output);
    if (size === 0) throw new FramelogError(ErrorCode.TRANSCODE_FAILED, 'ffmpeg wrote an empty rendition.', { retryable: true });
  }
  const first = run.videos[0];
  if (first !== undefined) assertCoversSource(await mp4DurationSeconds(first.path), run.durationSeconds, run.allowedShortfallSeconds);
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
 * Refuses a rendition that lasts less than the source by more than `allowedSeconds` (allowedShortfallSeconds
 * of its duration unless given: a range of a split video is allowed the whole video's).
 * `writtenSeconds` is the duration its movie header declares (mp4Duration.ts): what an ffprobe of it
 * reports, without another process. (ffmpeg's own `time=` is not precise enough: it is the last packet's
 * timestamp in decoding order, which B-frames and the last frame's length put up to ~0.8 s short on a
 * whole 1 s clip at 5 fps.)
 */
export function assertCoversSource(writtenSeconds: number | null, durationSeconds: number, allowedSeconds = allowedShortfallSeconds(durationSeconds)): void {
  const written = writtenSeconds ?? Number.NaN;
  if (!Number.isFinite(written) || durationSeconds - written > allowedSeconds) {
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
 * (videoFilters.ts: deinterlace and tone-map once, the frame-rate cap per rung). `leading` filters come
 * first (a range's trim, encodeRangeLadder). ffmpeg has already applied
 * the source's rotation (autorotate) before the graph, so W:H are display dimensions; setsar=1 makes pixels
 * square because W:H already include the source's pixel aspect.
 */
export function ladderFilterGraph(
  videoStreamIndex: number,
  plan: readonly RenditionPlan[],
  picture: PictureTraits,
  leading: readonly string[] = [],
): string {
  const splitOutputs = plan.map((_, index) => `[s${index}]`).join('');
  const source = [...leading, ...sourceFilters(picture, plan[0])].map((filter) => `${filter},`).join('');
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

/** Seconds between keyframes, the same instants in every rung, so a player may switch at any of them. */
export const GOP_SECONDS = 2;

/**
 * Options of the video output `index`: H.264 High yuv420p at capped CRF (ladder.rateCap), a closed GOP
 * every GOP_SECONDS forced by time and no scene-cut keyframes, so the keyframes of all rungs line up.
 */
export function videoOutputOptions(index: number, rung: Pick<RenditionPlan, 'width' | 'height'>, threads: number): string[] {
  const cap = rateCap(rung);
  return [
    '-map', `[v${index}]`, '-an',
    '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '23',
    '-maxrate', `${cap.maxrateKbps}k`, '-bufsize', `${cap.bufsizeKbps}k`,
    '-profile:v', 'high', '-pix_fmt', 'yuv420p',
    ...FRAME_TIMING_OPTIONS,
    '-force_key_frames', `expr:gte(t,n_forced*${GOP_SECONDS})`, '-sc_threshold', '0',
    '-threads', String(threads),
    // Uploads carry tags such as GPS location and device names; outputs are public, so drop them.
    '-map_metadata', '-1', '-map_chapters', '-1',
    '-f', 'mp4',
  ];
}

/** Options of the one audio output: AAC-LC stereo at 128 kbit/s, which every browser plays. */
export function audioOutputOptions(audioStreamIndex: number, threads: number): string[] {
  return [
    '-map', `0:${audioStreamIndex}`, '-vn',
    '-c:a', 'aac', '-b:a', '128k', '-ac', '2',
    '-threads', String(threads),
    '-map_metadata', '-1', '-map_chapters', '-1',
    '-f', 'mp4',
  ];
}
