import { ErrorCode } from './errors.js';
import type { PlannedRange, VideoEvent } from './events.js';
import { isTerminal, type VideoState } from './video.js';

/**
 * The video stream's side of split and stitch (DESIGN §11): planning, the one stitch request, and the
 * failure a segment that gave up brings to its video. Pure; `decide` routes these commands here.
 */

/** A plan the transcode task's attempt made from its probe: ranges with their segment ids chosen. */
export interface SplitPlan {
  durationSeconds: number;
  segmentSeconds: number;
  ranges: PlannedRange[];
}

export type SplitCommand =
  /** The attempt planned the video instead of encoding it (its outcome; the segments go out with it). */
  | { type: 'SplitAttempt'; videoId: string; taskId: string; attempt: number; plan: SplitPlan }
  /** A segment's result committed; `encoded` is how many of the plan's ranges have theirs (a fresh count). */
  | { type: 'RequestStitch'; videoId: string; taskId: string; encoded: number }
  /** A segment of the task gave up (SegmentAbandoned): the video fails with SEGMENT_FAILED. */
  | { type: 'FailForSegment'; videoId: string; taskId: string; range: PlannedRange; code: string; message: string };


/**
 * SplitAttempt: VideoSplit when the attempt still runs (a late duplicate does nothing). RequestStitch:
 * StitchRequested once, when every range is encoded and the task is still open (two last segments may
 * both ask: the second sees it requested, or loses on the stream's version and asks again to see it).
 * FailForSegment: VideoFailed (SEGMENT_FAILED, naming the range) while the task is open.
 */
export function decideSplit(command: SplitCommand, state: VideoState | null): VideoEvent[] {
  const open = state !== null && state.currentTaskId === command.taskId && !isTerminal(state.status);
  if (!open) return [];
  switch (command.type) {
    case 'SplitAttempt': {
      if (state.status !== 'PROCESSING' || state.split !== undefined || state.attempts !== command.attempt) return [];
      const { taskId, attempt, plan } = command;
      return [{ type: 'VideoSplit', data: { taskId, attempt, ...plan } }];
    }
    case 'RequestStitch': {
      const split = state.split;
      if (split === undefined || split.stitchRequested || command.encoded < split.ranges.length) return [];
      return [{ type: 'StitchRequested', data: { taskId: command.taskId, segments: split.ranges.length } }];
    }
    case 'FailForSegment': {
      const { range } = command;
      const message = `Segment ${range.index} (${range.startSeconds}-${range.endSeconds} s) failed: ${command.code}: ${command.message}`;
      return [{ type: 'VideoFailed', data: { taskId: command.taskId, attempts: state.attempts, code: ErrorCode.SEGMENT_FAILED, message } }];
    }
  }
}

/**
 * Whether a start of the task's `stage` has nothing to do: a `transcode` delivery of a task that was
 * split (its attempt planned; the segments carry on), or a `stitch` delivery before (or without) the
 * stitch request of the current task's plan.
 */
export function stageDone(state: VideoState, taskId: string, stage: 'transcode' | 'stitch'): boolean {
  const split = state.split?.taskId === taskId ? state.split : undefined;
  return stage === 'transcode' ? split !== undefined : split?.stitchRequested !== true;
}

/** The share of a video's progress its segments make together; the stitch makes the rest (DESIGN §11). */
export const SEGMENTS_SHARE = 0.9;

/** A range's share of the video's progress: its duration's part of the segments' share. */
export function rangeWeight(range: Pick<PlannedRange, 'startSeconds' | 'endSeconds'>, durationSeconds: number): number {
  return durationSeconds > 0 ? (SEGMENTS_SHARE * (range.endSeconds - range.startSeconds)) / durationSeconds : 0;
}

/** The stitch's share: what the segments leave. */
export const STITCH_WEIGHT = 1 - SEGMENTS_SHARE;
