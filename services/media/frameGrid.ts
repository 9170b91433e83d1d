import type { FfprobeStream } from './ffprobe.js';

/**
 * Where the frames of a constant-frame-rate video stream fall: frame n at
 * `firstFrameSeconds + n × rateDen / rateNum`, in seconds from the start of the file (ffmpeg's time once
 * it has subtracted the format's start_time, which it does for every run without `-copyts`). Split and
 * stitch (rangePlan.ts) cuts a video between two frames of this grid. Pure.
 */
export interface FrameGrid {
  /** The exact frame rate as ffprobe's rational r_frame_rate, e.g. 30000/1001. */
  rateNum: number;
  rateDen: number;
  /** The first video frame's time after the start of the file (0 unless another stream starts earlier). */
  firstFrameSeconds: number;
}

/**
 * How far avg_frame_rate (frames over duration) may differ from r_frame_rate (the rate that represents
 * every timestamp) for a stream to count as constant-rate: 0.1 %, the drift of a phone's 29.98 fps "30 fps"
 * recording (a few ms of jitter, far below the half frame the cuts keep clear of), while a variable-rate
 * stream differs by far more (r is its highest rate).
 */
const CONSTANT_RATE_TOLERANCE = 0.001;

/** The stream's frame grid, or null when its rate is unknown or variable (avg and r disagree). */
export function frameGridOf(stream: Pick<FfprobeStream, 'r_frame_rate' | 'avg_frame_rate' | 'start_time'>, formatStartTime: string | undefined): FrameGrid | null {
  const exact = rational(stream.r_frame_rate);
  const average = rational(stream.avg_frame_rate);
  if (exact === null || average === null) return null;
  const rate = exact.num / exact.den;
  if (Math.abs(average.num / average.den - rate) > rate * CONSTANT_RATE_TOLERANCE) return null;
  const start = Number(stream.start_time) - Number(formatStartTime ?? 0);
  return { rateNum: exact.num, rateDen: exact.den, firstFrameSeconds: Number.isFinite(start) && start > 0 ? start : 0 };
}

/** Index of the first frame at or after `seconds` (a frame within a microsecond of it counts as at). */
export function frameIndexAt(grid: FrameGrid, seconds: number): number {
  return Math.max(0, Math.ceil(((seconds - grid.firstFrameSeconds) * grid.rateNum) / grid.rateDen - 1e-6));
}

/**
 * The instant halfway between frame `index - 1` and frame `index`: a cut there is half a frame from the
 * nearest frame, so timestamp rounding (µs options, container time bases, ms-rounded Matroska timestamps)
 * can never move a frame across it.
 */
export function cutBefore(grid: FrameGrid, index: number): number {
  return grid.firstFrameSeconds + ((index - 0.5) * grid.rateDen) / grid.rateNum;
}

/** Seconds of `frames` frames of the grid. */
export const framesSeconds = (grid: FrameGrid, frames: number): number => (frames * grid.rateDen) / grid.rateNum;

function rational(text: string | undefined): { num: number; den: number } | null {
  const match = /^(\d+)\/(\d+)$/.exec(text ?? '');
  if (!match) return null;
  const num = Number(match[1]);
  const den = Number(match[2]);
  return num > 0 && den > 0 ? { num, den } : null;
}
