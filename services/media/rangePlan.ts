import { ErrorCode, FramelogError } from '../domain/errors.js';
import { cutBefore, frameIndexAt, type FrameGrid } from './frameGrid.js';
import type { ProbedMedia } from './probe.js';
import { GOP_SECONDS } from './transcode.js';

/**
 * Split and stitch (DESIGN §11, issue 19): which time ranges of a long video are encoded apart, and which
 * source frames each range holds. Pure.
 */

/** One range of the plan: [startSeconds, endSeconds) of the video, both on the GOP grid except the video's end. */
export interface TimeRange {
  /** 0-based position in the plan. */
  index: number;
  startSeconds: number;
  endSeconds: number;
}

/**
 * Ranges of `segmentSeconds` covering [0, durationSeconds), in order; the last one ends at the video's end.
 * A last range shorter than one GOP (GOP_SECONDS) is merged into the one before, so no range is a
 * fragment of a GOP (a video no longer than segmentSeconds + one GOP is one range).
 * Errors: CONFIG_INVALID when segmentSeconds is not a positive multiple of GOP_SECONDS, BAD_USER_INPUT when
 * durationSeconds is not a positive finite number.
 */
export function planRanges(durationSeconds: number, segmentSeconds: number): TimeRange[] {
  if (!Number.isInteger(segmentSeconds / GOP_SECONDS) || segmentSeconds <= 0) {
    throw new FramelogError(ErrorCode.CONFIG_INVALID, `SEGMENT_SECONDS must be a positive multiple of ${GOP_SECONDS} (the GOP), not ${segmentSeconds}.`, {
      details: { segmentSeconds, gopSeconds: GOP_SECONDS },
    });
  }
  if (!Number.isFinite(durationSeconds) || durationSeconds <= 0) {
    throw new FramelogError(ErrorCode.BAD_USER_INPUT, `A video of ${durationSeconds} s cannot be planned into ranges.`, { details: { durationSeconds } });
  }
  const ranges: TimeRange[] = [];
  for (let start = 0; start < durationSeconds; start += segmentSeconds) {
    ranges.push({ index: ranges.length, startSeconds: start, endSeconds: Math.min(start + segmentSeconds, durationSeconds) });
  }
  const last = ranges.at(-1);
  const before = ranges.at(-2);
  if (last !== undefined && before !== undefined && last.endSeconds - last.startSeconds < GOP_SECONDS) {
    ranges.splice(-2, 2, { ...before, endSeconds: last.endSeconds });
  }
  return ranges;
}

/**
 * Containers whose demuxers seek by an index (MP4/MOV sample tables, Matroska cues), so `-ss` lands on
 * the keyframe before the cut and ffmpeg's accurate seek decodes from there. MPEG-TS/PS, AVI, FLV, Ogg,
 * ASF and MXF seek by byte position or bisection and can land after it: those are transcoded whole.
 */
const INDEXED_FORMATS: ReadonlySet<string> = new Set(['mov,mp4,m4a,3gp,3g2,mj2', 'matroska,webm']);

/**
 * Whether a probed source can be split: a constant frame rate (media.frameGrid, frameGrid.ts), so a cut
 * between two frames stays clear of both and each range's frame count is known, and an indexed
 * container (INDEXED_FORMATS). Otherwise it is transcoded whole, as a short video is.
 */
export function isSplittable(media: Pick<ProbedMedia, 'frameGrid' | 'formatName'>): boolean {
  return media.frameGrid !== null && INDEXED_FORMATS.has(media.formatName ?? '');
}

/** Which source frames a range holds and how ffmpeg cuts them out (transcode.ts encodeRangeLadder). */
export interface RangeCut {
  /** Input seek (`-ss`, seconds from the file's start, halfway between two frames); null for the first range. */
  seekSeconds: number | null;
  /** Where the range ends, in seconds after seekSeconds (after the file's start for the first); null for the last range. */
  endAfterSeekSeconds: number | null;
  /** Index of the range's first frame in the source. */
  firstFrame: number;
  /** Frames from firstFrame to the next range's first frame; null for the last range (it runs to the end). */
  frames: number | null;
}

/**
 * The frames of `range`: those from the first frame at or after its start to the last one before the
 * next range's first frame. Each cut lies halfway between two frames (frameGrid.cutBefore) and two
 * adjacent ranges compute their shared cut from the same numbers, so every source frame lands in exactly
 * one range. The first range starts at the file's start, the last runs to its end (no cut there: nothing
 * before or after is lost whatever the header says). Errors: BAD_USER_INPUT for a range outside the video.
 */
export function rangeCut(grid: FrameGrid, range: TimeRange, durationSeconds: number): RangeCut {
  if (!(range.startSeconds >= 0 && range.endSeconds > range.startSeconds && range.startSeconds < durationSeconds)) {
    throw new FramelogError(ErrorCode.BAD_USER_INPUT, `Range ${range.index} [${range.startSeconds}, ${range.endSeconds}) s is not within the ${durationSeconds} s video.`, {
      details: { ...range, durationSeconds },
    });
  }
  const first = range.startSeconds <= 0;
  const last = range.endSeconds >= durationSeconds - 1e-6;
  const firstFrame = first ? 0 : frameIndexAt(grid, range.startSeconds);
  const endFrame = last ? null : frameIndexAt(grid, range.endSeconds);
  const seekSeconds = first ? null : cutBefore(grid, firstFrame);
  return {
    seekSeconds,
    endAfterSeekSeconds: endFrame === null ? null : cutBefore(grid, endFrame) - (seekSeconds ?? 0),
    firstFrame,
    frames: endFrame === null ? null : endFrame - firstFrame,
  };
}
