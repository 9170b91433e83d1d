import { ErrorCode, FramelogError } from '../domain/errors.js';
import type { MediaInfo, MediaWarning } from '../domain/events.js';
import { decodableCodecs } from './codecs.js';
import { contentSeconds, missingSeconds, needsPacketScan, type PacketLengths } from './contentLength.js';
import { frameGridOf, type FrameGrid } from './frameGrid.js';
import { parseRate, runFfprobe, type FfprobeOutput, type FfprobeStream } from './ffprobe.js';
import { ACCEPTED_CONTAINERS, ALLOWED_FORMAT_NAMES } from './inputPolicy.js';
import { scanPacketLengths } from './packetScan.js';
import { allowedShortfallSeconds } from './transcode.js';
import { pictureTraits, type PictureTraits } from './videoFilters.js';

export { parseRate } from './ffprobe.js';

export interface ProbeLimits {
  maxDurationSeconds: number;
  /** Largest accepted width or height, in pixels. */
  maxDimension: number;
  /** Most streams (video, audio, subtitles, data…) a file may have. */
  maxStreams: number;
}

/**
 * MediaInfo plus what transcoding needs to know about the source's streams. `durationSeconds` is the
 * content of the output streams (contentLength.ts), not the container's header duration.
 */
export type ProbedMedia = MediaInfo & {
  hasAudio: boolean;
  /** ffprobe index of the video stream to transcode. */
  videoStreamIndex: number;
  /** ffprobe index of the audio stream to keep, or null. */
  audioStreamIndex: number | null;
  audioChannels: number | null;
  /** What the picture needs (deinterlace, tone-map, frame-rate cap); see videoFilters.ts. */
  picture: PictureTraits;
  /** Where the video's frames fall, for a constant frame rate; null for a variable or unknown one (frameGrid.ts). */
  frameGrid: FrameGrid | null;
  /** What the renditions will lack, e.g. an undecodable audio track; empty when nothing. */
  warnings: MediaWarning[];
};

export interface ProbeOptions {
  /** ffprobe wall-clock limit of the description (default 30 s). */
  timeoutMs?: number;
  /** Limit of a packet scan (default timeoutMs): it reads the whole file, so a large upload needs longer. */
  scanTimeoutMs?: number;
  signal?: AbortSignal;
}

/** What interpretProbe knows beyond ffprobe's description. */
export interface ProbeContext {
  /** Whether ffmpeg can decode a codec (by ffprobe codec_name); everything by default. */
  canDecode?: (codecName: string) => boolean;
  /** Lengths from a packet scan, for files whose headers cannot be trusted (needsPacketScan). */
  packets?: PacketLengths;
}

const DEFAULT_PROBE_TIMEOUT_MS = 30_000;

/**
 * Describes the video at `path` or refuses it with a typed, non-retryable error: NOT_A_VIDEO,
 * UNSUPPORTED_FORMAT, NO_VIDEO_STREAM, UNSUPPORTED_CODEC, MEDIA_CORRUPT, DURATION_LIMIT, DIMENSION_LIMIT,
 * TOO_MANY_STREAMS. Width and height are display dimensions: pixel aspect applied and swapped for 90/270
 * rotation. When the headers cannot say how long the streams are, their packets are scanned.
 */
export async function probeMedia(path: string, limits: ProbeLimits, options: ProbeOptions = {}): Promise<ProbedMedia> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
  const output = await runFfprobe(path, { timeoutMs, signal: options.signal });
  const decodable = await decodableCodecs();
  // Refusals that need no scan (format, streams, size, codec) come first: no reason to read the file then.
  const described = describeStreams(output, limits, (codec) => decodable.has(codec));
  const packets = needsPacketScan(output)
    ? await scanPacketLengths(path, {
        formatName: described.formatName,
        timeoutMs: options.scanTimeoutMs ?? timeoutMs,
        stopAfterSeconds: limits.maxDurationSeconds + 1,
        signal: options.signal,
      })
    : undefined;
  return withDuration(output, described, packets, limits);
}

/** The pure half of probeMedia: checks ffprobe's description (and a packet scan's) against the policy and limits. */
export function interpretProbe(output: FfprobeOutput, limits: ProbeLimits, context: ProbeContext = {}): ProbedMedia {
  return withDuration(output, describeStreams(output, limits, context.canDecode ?? (() => true)), context.packets, limits);
}

type Described = Omit<ProbedMedia, 'durationSeconds' | 'formatName'> & { formatName: string; outputStreams: FfprobeStream[] };

function withDuration(output: FfprobeOutput, described: Described, packets: PacketLengths | undefined, limits: ProbeLimits): ProbedMedia {
  const { outputStreams, ...media } = described;
  return { durationSeconds: checkDuration(output, outputStreams, packets, limits), ...media };
}

/** Everything but the duration: container, chosen streams, codec, size, picture traits. */
function describeStreams(output: FfprobeOutput, limits: ProbeLimits, canDecode: (codec: string) => boolean): Described {
  const formatName = checkContainer(output, limits);
  const video = pickStream(output.streams, 'video');
  if (!video) {
    throw refuse(ErrorCode.NO_VIDEO_STREAM, 'The file has no video stream (audio only?); upload a video.', { formatName });
  }
  const codec = video.codec_name === undefined || video.codec_name === 'unknown' ? null : video.codec_name;
  if (codec === null || !canDecode(codec)) {
    const named = codec ?? video.codec_tag_string ?? 'unknown';
    throw refuse(
      ErrorCode.UNSUPPORTED_CODEC,
      `The video codec ${JSON.stringify(named)} cannot be decoded here; upload H.264, HEVC, VP9, AV1 or another common codec.`,
      { formatName, codec: named },
    );
  }
  const { width, height, rotation } = displaySize(video, formatName, limits);
  const { audio, warnings } = pickAudio(output.streams, canDecode);
  return {
    width,
    height,
    videoCodec: codec,
    audioCodec: audio?.codec_name ?? null,
    frameRate: parseRate(video.avg_frame_rate),
    rotation,
    formatName,
    hasAudio: audio !== undefined,
    videoStreamIndex: video.index,
    audioStreamIndex: audio?.index ?? null,
    audioChannels: audio?.channels ?? null,
    picture: pictureTraits(video),
    frameGrid: frameGridOf(video, output.format.start_time),
    warnings,
    outputStreams: [video, ...(audio ? [audio] : [])],
  };
}

/** The accepted format name, or UNSUPPORTED_FORMAT / TOO_MANY_STREAMS. */
function checkContainer(output: FfprobeOutput, limits: ProbeLimits): string {
  const formatName = output.format.format_name ?? '';
  if (!ALLOWED_FORMAT_NAMES.includes(formatName)) {
    throw refuse(
      ErrorCode.UNSUPPORTED_FORMAT,
      `The container format ${JSON.stringify(formatName)} is not accepted; upload ${ACCEPTED_CONTAINERS}.`,
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
  return formatName;
}

/** Display width and height (pixel aspect and rotation applied) and rotation, within the dimension limit. */
function displaySize(video: FfprobeStream, formatName: string, limits: ProbeLimits): { width: number; height: number; rotation: 0 | 90 | 180 | 270 } {
  const { width: codedWidth = 0, height: codedHeight = 0 } = video;
  if (codedWidth <= 0 || codedHeight <= 0) {
    throw refuse(ErrorCode.MEDIA_CORRUPT, 'The video stream has no readable size; the file may be damaged.', {
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
  return { width, height, rotation };
}

/**
 * The content length of the output streams, or MEDIA_CORRUPT (unknown, or the file ends well before its
 * header says: cut off) or DURATION_LIMIT.
 */
function checkDuration(output: FfprobeOutput, streams: FfprobeStream[], packets: PacketLengths | undefined, limits: ProbeLimits): number {
  const formatName = output.format.format_name ?? '';
  const durationSeconds = contentSeconds(output, streams, packets);
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
  const missing = packets === undefined ? 0 : missingSeconds(output, packets);
  if (missing > allowedShortfallSeconds(Number(output.format.duration))) {
    throw refuse(
      ErrorCode.MEDIA_CORRUPT,
      `The file ends ${missing.toFixed(2)} s before the ${Number(output.format.duration).toFixed(2)} s its header states; ` +
        'it is truncated. Upload it again.',
      { formatName, missingSeconds: missing, durationSeconds: Number(output.format.duration) },
    );
  }
  return durationSeconds;
}

/**
 * The audio track a player would play: the default-flagged one among those ffmpeg can decode, else the
 * first decodable one. When the file has audio but none of it decodes, the renditions go without sound
 * and a warning says why.
 */
function pickAudio(streams: readonly FfprobeStream[], canDecode: (codec: string) => boolean): { audio: FfprobeStream | undefined; warnings: MediaWarning[] } {
  const all = candidates(streams, 'audio');
  const usable = all.filter((stream) => stream.codec_name !== undefined && canDecode(stream.codec_name));
  const audio = usable.find((stream) => stream.disposition?.default === 1) ?? usable[0];
  if (audio !== undefined || all.length === 0) return { audio, warnings: [] };
  const codecs = [...new Set(all.map((stream) => stream.codec_name ?? stream.codec_tag_string ?? 'unknown'))].join(', ');
  return {
    audio: undefined,
    warnings: [{ code: 'AUDIO_NOT_DECODABLE', message: `The audio (${codecs}) cannot be decoded here; the renditions have no sound.` }],
  };
}

/**
 * The stream to use: the default-flagged one of its type, else the first. Cover art (attached_pic) and
 * thumbnail tracks are pictures, not video, so an audio file with artwork has no video stream.
 */
function pickStream(streams: readonly FfprobeStream[], type: 'video' | 'audio'): FfprobeStream | undefined {
  const found = candidates(streams, type);
  return found.find((stream) => stream.disposition?.default === 1) ?? found[0];
}

function candidates(streams: readonly FfprobeStream[], type: 'video' | 'audio'): FfprobeStream[] {
  return streams.filter(
    (stream) =>
      stream.codec_type === type && stream.disposition?.attached_pic !== 1 && stream.disposition?.timed_thumbnails !== 1,
  );
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

function refuse(code: ErrorCode, message: string, details: Record<string, unknown>): FramelogError {
  return new FramelogError(code, message, { retryable: false, details });
}
