import { ErrorCode, FramelogError } from '../domain/errors.js';
import type { MediaInfo } from '../domain/events.js';
import { runFfprobe, type FfprobeOutput, type FfprobeStream } from './ffprobe.js';
import { ALLOWED_FORMAT_NAMES } from './inputPolicy.js';

export interface ProbeLimits {
  maxDurationSeconds: number;
  /** Largest accepted width or height, in pixels. */
  maxDimension: number;
  /** Most streams (video, audio, subtitles, data…) a file may have. */
  maxStreams: number;
}

/** MediaInfo plus what transcoding needs to know about the source's streams. */
export type ProbedMedia = MediaInfo & {
  hasAudio: boolean;
  /** ffprobe index of the video stream to transcode. */
  videoStreamIndex: number;
  /** ffprobe index of the audio stream to keep, or null. */
  audioStreamIndex: number | null;
  audioChannels: number | null;
};

export interface ProbeOptions {
  /** ffprobe wall-clock limit (default 30 s); a file that takes longer is not worth waiting for. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

const DEFAULT_PROBE_TIMEOUT_MS = 30_000;

/**
 * Describes the video at `path` or refuses it with a typed, non-retryable error: NOT_A_VIDEO,
 * UNSUPPORTED_FORMAT, NO_VIDEO_STREAM, MEDIA_CORRUPT, DURATION_LIMIT, DIMENSION_LIMIT, TOO_MANY_STREAMS.
 * Width and height are display dimensions: pixel aspect applied and swapped for 90/270 rotation.
 */
export async function probeMedia(path: string, limits: ProbeLimits, options: ProbeOptions = {}): Promise<ProbedMedia> {
  const output = await runFfprobe(path, {
    timeoutMs: options.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS,
    signal: options.signal,
  });
  return interpretProbe(output, limits);
}

/** The pure half of probeMedia: checks ffprobe's description against the policy and limits. */
export function interpretProbe(output: FfprobeOutput, limits: ProbeLimits): ProbedMedia {
  const formatName = output.format.format_name ?? '';
  if (!ALLOWED_FORMAT_NAMES.includes(formatName)) {
    throw refuse(
      ErrorCode.UNSUPPORTED_FORMAT,
      `The container format ${JSON.stringify(formatName)} is not accepted; upload an MP4, MOV, MKV, WebM, AVI, ` +
        'MPEG-TS, FLV or Ogg video.',
      { formatName },
    );
  }

  const streamCount = Math.max(output.streams.length, output.format.nb_streams ?? 0);
  if (streamCount > limits.maxStreams) {
    throw refuse(ErrorCode.TOO_MANY_STREAMS, `The file has ${streamCount} streams; at most ${limits.maxStreams} are accepted.`, {
      streams: streamCount,
      maxStreams: limits.maxStreams,
    });
  }

  const video = pickStream(output.streams, 'video');
  if (!video) {
    throw refuse(ErrorCode.NO_VIDEO_STREAM, 'The file has no video stream (audio only?); upload a video.', { formatName });
  }
  const { width: codedWidth = 0, height: codedHeight = 0 } = video;
  if (codedWidth <= 0 || codedHeight <= 0 || !video.codec_name) {
    throw refuse(ErrorCode.MEDIA_CORRUPT, 'The video stream has no readable size or codec; the file may be damaged.', {
      formatName,
      codec: video.codec_name ?? null,
    });
  }

  const rotation = clockwiseRotation(video);
  const storedWidth = Math.max(1, Math.round(codedWidth * pixelAspect(video.sample_aspect_ratio)));
  const [width, height] = rotation % 180 === 0 ? [storedWidth, codedHeight] : [codedHeight, storedWidth];
  const largest = Math.max(width, height, codedWidth, codedHeight);
  if (largest > limits.maxDimension) {
    throw refuse(
      ErrorCode.DIMENSION_LIMIT,
      `The video is ${width}x${height}; neither side may exceed ${limits.maxDimension} pixels.`,
      { width, height, maxDimension: limits.maxDimension },
    );
  }

  const durationSeconds = firstFinite(output.format.duration, video.duration);
  if (durationSeconds === null) {
    throw refuse(ErrorCode.MEDIA_CORRUPT, 'The duration of the video cannot be determined; the file may be damaged.', {
      formatName,
    });
  }
  if (durationSeconds > limits.maxDurationSeconds) {
    throw refuse(
      ErrorCode.DURATION_LIMIT,
      `The video lasts ${Math.round(durationSeconds)} s; at most ${limits.maxDurationSeconds} s are accepted.`,
      { durationSeconds, maxDurationSeconds: limits.maxDurationSeconds },
    );
  }

  const audio = pickStream(output.streams, 'audio');
  return {
    durationSeconds,
    width,
    height,
    videoCodec: video.codec_name,
    audioCodec: audio?.codec_name ?? null,
    frameRate: parseRate(video.avg_frame_rate),
    rotation,
    formatName,
    hasAudio: audio !== undefined,
    videoStreamIndex: video.index,
    audioStreamIndex: audio?.index ?? null,
    audioChannels: audio?.channels ?? null,
  };
}

/**
 * The stream to use: the default-flagged one of its type, else the first. Cover art (attached_pic) and
 * thumbnail tracks are pictures, not video, so an audio file with artwork has no video stream.
 */
function pickStream(streams: readonly FfprobeStream[], type: 'video' | 'audio'): FfprobeStream | undefined {
  const candidates = streams.filter(
    (stream) =>
      stream.codec_type === type && stream.disposition?.attached_pic !== 1 && stream.disposition?.timed_thumbnails !== 1,
  );
  return candidates.find((stream) => stream.disposition?.default === 1) ?? candidates[0];
}

/**
 * Clockwise display rotation, normalised to 0/90/180/270. The display matrix wins over the legacy
 * `rotate` tag. ffprobe reports the matrix angle counter-clockwise (av_display_rotation_get), the tag
 * clockwise. Angles that are not multiples of 90 round to the nearest one.
 */
export function clockwiseRotation(stream: Pick<FfprobeStream, 'side_data_list' | 'tags'>): 0 | 90 | 180 | 270 {
  const matrix = stream.side_data_list?.find(
    (side) => side.side_data_type === 'Display Matrix' && typeof side.rotation === 'number',
  );
  if (matrix?.rotation !== undefined) return normaliseRotation(-matrix.rotation);
  const tag = Number(stream.tags?.rotate);
  return stream.tags?.rotate !== undefined && Number.isFinite(tag) ? normaliseRotation(tag) : 0;
}

export function normaliseRotation(degrees: number): 0 | 90 | 180 | 270 {
  const quarter = (((Math.round(degrees / 90) % 4) + 4) % 4) as 0 | 1 | 2 | 3;
  return ([0, 90, 180, 270] as const)[quarter];
}

/** Sample (pixel) aspect ratio "N:M"; 1 when absent, unknown ("0:1") or nonsense. */
function pixelAspect(sar: string | undefined): number {
  const match = /^(\d+):(\d+)$/.exec(sar ?? '');
  const ratio = match ? Number(match[1]) / Number(match[2]) : NaN;
  // Anything outside 1:4..4:1 is a broken header rather than a real anamorphic format.
  return Number.isFinite(ratio) && ratio >= 0.25 && ratio <= 4 ? ratio : 1;
}

/** "30000/1001" → 29.97; null for ffprobe's "0/0" (unknown) and anything unparsable. */
export function parseRate(rate: string | undefined): number | null {
  const match = /^(\d+)\/(\d+)$/.exec(rate ?? '');
  if (!match) return null;
  const value = Number(match[1]) / Number(match[2]);
  return Number.isFinite(value) && value > 0 ? Math.round(value * 1000) / 1000 : null;
}

function firstFinite(...values: (string | undefined)[]): number | null {
  for (const value of values) {
    const number = value === undefined ? NaN : Number(value);
    if (Number.isFinite(number) && number >= 0) return number;
  }
  return null;
}

function refuse(code: ErrorCode, message: string, details: Record<string, unknown>): FramelogError {
  return new FramelogError(code, message, { retryable: false, details });
}
