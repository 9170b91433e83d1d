import { describe, expect, it } from 'vitest';
import { ErrorCode, FramelogError } from '../../services/domain/errors.js';
import { cutBefore, frameGridOf, frameIndexAt, framesSeconds, type FrameGrid } from '../../services/media/frameGrid.js';
import { OWN_CONCAT_INPUT_OPTIONS } from '../../services/media/inputPolicy.js';
import { rangeSetKey, rangesPrefix, isPublicOutputKey } from '../../services/media/keys.js';
import { planLadder } from '../../services/media/ladder.js';
import { isSplittable, planRanges, rangeCut, type TimeRange } from '../../services/media/rangePlan.js';
import { ladderFilterGraph, rangeFilters } from '../../services/media/transcode.js';

const MP4 = 'mov,mp4,m4a,3gp,3g2,mj2';
const grid = (rateNum: number, rateDen = 1, firstFrameSeconds = 0): FrameGrid => ({ rateNum, rateDen, firstFrameSeconds });
const spans = (ranges: TimeRange[]) => ranges.map((range) => [range.startSeconds, range.endSeconds]);

function codeOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (error instanceof FramelogError) return error.code;
    throw error;
  }
  throw new Error('expected a FramelogError');
}

describe('planRanges', () => {
  it('covers the video with ranges of segmentSeconds, the last one ending at the video end', () => {
    expect(spans(planRanges(15, 4))).toEqual([[0, 4], [4, 8], [8, 12], [12, 15]]);
    expect(planRanges(15, 4).map((range) => range.index)).toEqual([0, 1, 2, 3]);
  });

  it('merges a last range shorter than one GOP into the one before', () => {
    expect(spans(planRanges(13, 4))).toEqual([[0, 4], [4, 8], [8, 13]]);
    expect(spans(planRanges(121.96, 30))).toEqual([[0, 30], [30, 60], [60, 90], [90, 121.96]]);
  });

  it('keeps a last range of exactly one GOP, and makes one range of a video shorter than a segment', () => {
    expect(spans(planRanges(10, 4))).toEqual([[0, 4], [4, 8], [8, 10]]);
    expect(spans(planRanges(3, 30))).toEqual([[0, 3]]);
    expect(spans(planRanges(31, 30))).toEqual([[0, 31]]);
  });

  it('refuses a segment length that is not a positive multiple of the GOP, and a duration that is not positive', () => {
    for (const seconds of [0, -4, 3, 5, 2.5, Number.NaN]) expect(codeOf(() => planRanges(60, seconds))).toBe(ErrorCode.CONFIG_INVALID);
    for (const duration of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) expect(codeOf(() => planRanges(duration, 4))).toBe(ErrorCode.BAD_USER_INPUT);
  });
});

describe('frameGridOf and isSplittable', () => {
  it('reads an exact constant rate and the first frame time after the file start', () => {
    expect(frameGridOf({ r_frame_rate: '30000/1001', avg_frame_rate: '30000/1001', start_time: '0.021000' }, '0.000000')).toEqual(grid(30000, 1001, 0.021));
    expect(frameGridOf({ r_frame_rate: '25/1', avg_frame_rate: '25/1', start_time: '1.400000' }, '1.400000')).toEqual(grid(25));
  });

  it('calls a stream whose average rate is off its timestamp rate variable, and an unknown rate unknown', () => {
    expect(frameGridOf({ r_frame_rate: '60/1', avg_frame_rate: '2997/100' }, undefined)).toBeNull();
    expect(frameGridOf({ r_frame_rate: '0/0', avg_frame_rate: '0/0' }, undefined)).toBeNull();
    expect(frameGridOf({ r_frame_rate: '30/1', avg_frame_rate: '29983/1000' }, undefined)).toEqual(grid(30));
  });

  it('splits constant-rate MP4/MOV and Matroska/WebM only', () => {
    expect(isSplittable({ frameGrid: grid(25), formatName: MP4 })).toBe(true);
    expect(isSplittable({ frameGrid: grid(25), formatName: 'matroska,webm' })).toBe(true);
    expect(isSplittable({ frameGrid: null, formatName: MP4 })).toBe(false);
    for (const formatName of ['mpegts', 'avi', 'flv', 'mpeg', undefined]) expect(isSplittable({ frameGrid: grid(25), formatName })).toBe(false);
  });
});

describe('rangeCut', () => {
  it('cuts halfway between the last frame before a range start and the first frame at or after it', () => {
    const cut = rangeCut(grid(25), { index: 1, startSeconds: 4, endSeconds: 8 }, 15);
    expect(cut).toEqual({ seekSeconds: 3.98, endAfterSeekSeconds: 4, firstFrame: 100, frames: 100 });
    expect(rangeFilters(cut)).toEqual(['trim=end=4.000000', 'setpts=PTS-STARTPTS']);
  });

  it('starts the first range at the file start and runs the last to its end', () => {
    expect(rangeCut(grid(25), { index: 0, startSeconds: 0, endSeconds: 4 }, 15)).toEqual({ seekSeconds: null, endAfterSeekSeconds: 3.98, firstFrame: 0, frames: 100 });
    const last = rangeCut(grid(25), { index: 3, startSeconds: 12, endSeconds: 15 }, 15);
    expect(last).toMatchObject({ firstFrame: 300, frames: null, endAfterSeekSeconds: null });
    expect(rangeFilters(last)).toEqual(['setpts=PTS-STARTPTS']);
  });

  it('puts every frame in exactly one range, each cut half a frame from the nearest frame', () => {
    const cases = [grid(25), grid(30000, 1001), grid(24000, 1001, 0.0417), grid(60), grid(50, 1, 0.02), grid(30000, 1001, 0.021)];
    for (const frameGrid of cases) {
      for (const [duration, segment] of [[61.7, 4], [600.3, 30], [14.2, 2]] as const) {
        const cuts = planRanges(duration, segment).map((range) => rangeCut(frameGrid, range, duration));
        cuts.forEach((cut, index) => {
          const next = cuts[index + 1];
          if (next !== undefined) expect(next.firstFrame).toBe(cut.firstFrame + (cut.frames ?? Number.NaN));
          if (cut.seekSeconds === null) return;
          const frame = (cut.seekSeconds - frameGrid.firstFrameSeconds) / framesSeconds(frameGrid, 1);
          expect(Math.abs(frame - Math.round(frame))).toBeCloseTo(0.5, 6);
          expect(cut.seekSeconds).toBeCloseTo(cutBefore(frameGrid, cut.firstFrame), 9);
        });
        expect(cuts[0]?.firstFrame).toBe(0);
        expect(cuts.at(-1)?.frames).toBeNull();
      }
    }
  });

  it('counts a frame exactly at a range start as that range’s first, even through float error', () => {
    expect(frameIndexAt(grid(30000, 1001), 1001 / 30000 * 120)).toBe(120);
    expect(frameIndexAt(grid(30000, 1001), 4)).toBe(120); // frame 120 is at 4.004 s
    expect(frameIndexAt(grid(25, 1, 0.5), 0.2)).toBe(0);
  });

  it('refuses a range outside the video', () => {
    expect(codeOf(() => rangeCut(grid(25), { index: 9, startSeconds: 16, endSeconds: 20 }, 15))).toBe(ErrorCode.BAD_USER_INPUT);
    expect(codeOf(() => rangeCut(grid(25), { index: 0, startSeconds: 4, endSeconds: 4 }, 15))).toBe(ErrorCode.BAD_USER_INPUT);
  });
});

describe('range encodes and the stitch', () => {
  it('trims before the source filters and the split of the single encode', () => {
    const graph = ladderFilterGraph(0, planLadder({ width: 640, height: 480 }), { hdr: null, interlaced: true, maxFrameRate: 25 }, ['trim=end=4.000000', 'setpts=PTS-STARTPTS']);
    expect(graph).toMatch(/^\[0:0\]trim=end=4\.000000,setpts=PTS-STARTPTS,bwdif=[^;]*,split=2\[s0\]\[s1\];/);
  });

  it('keeps range sets out of the public renditions/ prefix', () => {
    expect(rangeSetKey('abc', 3)).toBe('ranges/abc/3');
    expect(rangesPrefix('abc')).toBe('ranges/abc');
    expect(isPublicOutputKey('ranges/abc/3/v1-000000000000/480p.mp4')).toBe(false);
    for (const index of [-1, 1.5, 100_000]) expect(codeOf(() => rangeSetKey('abc', index))).toBe(ErrorCode.BAD_USER_INPUT);
  });

  it('reads its own concat lists with the concat and mov demuxers only, in safe mode', () => {
    expect(OWN_CONCAT_INPUT_OPTIONS).toEqual(['-f', 'concat', '-safe', '1', '-format_whitelist', 'concat,mov']);
  });
});
