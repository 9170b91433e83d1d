import { execFile, type ExecFileException } from 'node:child_process';
import { z } from 'zod';
import { ErrorCode, FramelogError } from '../domain/errors.js';
import { abortError } from './abort.js';
import { ACCEPTED_CONTAINERS, fileUrl, SAFE_INPUT_OPTIONS } from './inputPolicy.js';
import { FFPROBE_LAUNCHER } from './launchers.js';

/**
 * Runs the system ffprobe with JSON output. fluent-ffmpeg's ffprobe is deliberately not used: it parses
 * ffprobe's default `key=value` output, which does not escape newlines in tag values, so a file whose
 * title contains "\nduration=1" or "\n[STREAM]…" could forge the duration, the format name or whole
 * streams and slip past the limits. The JSON writer escapes every string.
 */

const SideData = z.object({
  side_data_type: z.string().optional(),
  rotation: z.number().optional(),
  /** Dolby Vision configuration record: profile and the base layer's compatibility (1 HDR10, 2 SDR, 4 HLG). */
  dv_profile: z.number().optional(),
  dv_bl_signal_compatibility_id: z.number().optional(),
});

const FfprobeStream = z.object({
  index: z.number().int(),
  codec_type: z.string().optional(),
  codec_name: z.string().optional(),
  /** The container's fourcc, which names a codec ffmpeg does not know ("unknown" codec_name). */
  codec_tag_string: z.string().optional(),
  /** e.g. "High" (H.264) or "LC" (AAC). */
  profile: z.string().optional(),
  width: z.number().int().optional(),
  height: z.number().int().optional(),
  coded_width: z.number().int().optional(),
  coded_height: z.number().int().optional(),
  sample_aspect_ratio: z.string().optional(),
  avg_frame_rate: z.string().optional(),
  /** The lowest rate that represents every timestamp: the highest rate a VFR stream reaches. */
  r_frame_rate: z.string().optional(),
  duration: z.string().optional(),
  /** Presentation time of the stream's first frame, seconds, in the file's timestamps. */
  start_time: z.string().optional(),
  /** The header duration in time_base units; all ones (2^32-1, 2^64-1) means "unknown". */
  duration_ts: z.number().optional(),
  /** tt, bb, tb, bt (interlaced), progressive or unknown. */
  field_order: z.string().optional(),
  color_transfer: z.string().optional(),
  color_primaries: z.string().optional(),
  color_space: z.string().optional(),
  channels: z.number().int().optional(),
  disposition: z.record(z.string(), z.number()).optional(),
  tags: z.record(z.string(), z.string()).optional(),
  side_data_list: z.array(SideData).optional(),
});
export type FfprobeStream = z.infer<typeof FfprobeStream>;

const FfprobeOutput = z.object({
  streams: z.array(FfprobeStream).default([]),
  format: z
    .object({
      format_name: z.string().optional(),
      duration: z.string().optional(),
      start_time: z.string().optional(),
      nb_streams: z.number().int().optional(),
    })
    .default({}),
});
export type FfprobeOutput = z.infer<typeof FfprobeOutput>;

/** "30000/1001" → 29.97; null for ffprobe's "0/0" (unknown) and anything unparsable. */
export function parseRate(rate: string | undefined): number | null {
  const match = /^(\d+)\/(\d+)$/.exec(rate ?? '');
  if (!match) return null;
  const value = Number(match[1]) / Number(match[2]);
  return Number.isFinite(value) && value > 0 ? Math.round(value * 1000) / 1000 : null;
}

export interface FfprobeOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  /** The executable; by default ffprobe on PATH through bin/ffprobe, which dies with this process. */
  ffprobePath?: string;
}

// Enough for thousands of streams; the stream-count limit refuses such files anyway.
const MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

export async function runFfprobe(path: string, options: FfprobeOptions): Promise<FfprobeOutput> {
  const { timeoutMs, signal, ffprobePath = FFPROBE_LAUNCHER } = options;
  if (signal?.aborted) throw abortError(signal);
  const args = [
    '-v', 'error', '-hide_banner',
    '-print_format', 'json',
    '-show_format', '-show_streams',
    ...SAFE_INPUT_OPTIONS,
    '-i', fileUrl(path),
  ];
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(
      ffprobePath,
      args,
      { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: MAX_OUTPUT_BYTES, signal, encoding: 'utf8' },
      (error, out, stderr) => (error ? reject(probeError(error, stderr, path, timeoutMs, signal)) : resolve(out)),
    );
  });
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch (cause) {
    throw notAVideo(path, 'ffprobe printed no readable description', { cause });
  }
  const parsed = FfprobeOutput.safeParse(json);
  if (!parsed.success) throw notAVideo(path, 'ffprobe described it in an unexpected shape', { cause: parsed.error });
  return parsed.data;
}

function probeError(
  error: ExecFileException,
  stderr: string,
  path: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Error {
  if (signal?.aborted) return abortError(signal);
  const details = { path, stderr: stderr.slice(-2000) };
  // 127/126: the launcher (bin/ffprobe) could not execute ffprobe.
  if ((error.code === 'ENOENT' && error.path !== undefined) || error.code === 127 || error.code === 126) {
    // The executable itself is missing: a broken deployment, not a bad upload.
    return new FramelogError(ErrorCode.INTERNAL, `ffprobe could not be started (${error.message}); install ffmpeg.`, {
      retryable: true,
      cause: error,
    });
  }
  if (error.killed && error.signal === 'SIGKILL') {
    return new FramelogError(ErrorCode.JOB_TIMEOUT, `ffprobe did not finish within ${timeoutMs} ms.`, {
      retryable: true,
      details,
      cause: error,
    });
  }
  if (error.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') {
    return new FramelogError(ErrorCode.TOO_MANY_STREAMS, 'The file describes more streams than we accept.', {
      details,
      cause: error,
    });
  }
  if (/Format not on whitelist|Protocol not on whitelist/i.test(stderr)) {
    return new FramelogError(
      ErrorCode.UNSUPPORTED_FORMAT,
      `This file format is not accepted; upload ${ACCEPTED_CONTAINERS}.`,
      { details, cause: error },
    );
  }
  if (/moov atom not found/i.test(stderr)) {
    // An MP4/MOV whose index is missing: typically an upload cut off before its end (the index comes last).
    return new FramelogError(ErrorCode.MEDIA_CORRUPT, 'The MP4/MOV file has no index (moov); it is truncated or damaged. Upload it again.', {
      details,
      cause: error,
    });
  }
  if (/No such file or directory/i.test(stderr)) {
    return new FramelogError(ErrorCode.SOURCE_MISSING, 'The uploaded file is no longer in storage.', {
      details,
      cause: error,
    });
  }
  return notAVideo(path, 'ffprobe could not read it', { cause: error, stderr });
}

function notAVideo(path: string, why: string, extra: { cause: unknown; stderr?: string }): FramelogError {
  return new FramelogError(ErrorCode.NOT_A_VIDEO, `The upload is not a readable video file (${why}).`, {
    details: { path, stderr: extra.stderr?.slice(-2000) },
    cause: extra.cause,
  });
}
