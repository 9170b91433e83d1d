// TEMPORARY: SPLIT.md's interface until splitmedia's services/media/rangePlan.ts and splitProcessor.ts land.
import type { ProbedMedia } from '../media/probe.js';
import type { ProcessResult } from '../media/processVideo.js';

export interface TimeRange {
  index: number;
  startSeconds: number;
  endSeconds: number;
}
export interface RangeResult {
  index: number;
  frames: number;
  durationSeconds: number;
  sizeBytes: number;
}
export interface SplitMediaProcessor {
  probe(input: { videoId: string; sourceKey: string; signal?: AbortSignal }): Promise<ProbedMedia>;
  encodeRange(input: { videoId: string; sourceKey: string; range: TimeRange; signal?: AbortSignal; onProgress?: (percent: number) => void }): Promise<RangeResult>;
  stitch(input: { videoId: string; sourceKey: string; ranges: readonly TimeRange[]; signal?: AbortSignal; onProgress?: (percent: number) => void }): Promise<ProcessResult>;
  removeTemps(videoId: string): Promise<void>;
}
export function planRanges(durationSeconds: number, segmentSeconds: number): TimeRange[] {
  const ranges: TimeRange[] = [];
  for (let start = 0; start < durationSeconds; start += segmentSeconds) ranges.push({ index: ranges.length, startSeconds: start, endSeconds: Math.min(start + segmentSeconds, durationSeconds) });
  return ranges;
}
export const isSplittable = (media: ProbedMedia): boolean => media.frameRate !== null;
