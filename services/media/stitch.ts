import { symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCode, FramelogError } from '../domain/errors.js';
import { runFfmpeg, threadInputOptions } from './ffmpeg.js';
import { framesSeconds, type FrameGrid } from './frameGrid.js';
import { rangeSetKey, renditionName } from './keys.js';
import type { RenditionPlan } from './ladder.js';
import { mp4DurationSeconds } from './mp4Duration.js';
import type { ProbedMedia } from './probe.js';
import { rangeCut, type TimeRange } from './rangePlan.js';
import type { LocalFile, MediaStorage } from './storage.js';
import type { EncodedLadder } from './stream.js';
import { assertCoversSource, audioOutputOptions } from './transcode.js';

/**
 * The stitch of a split video (DESIGN §11): the ranges' intermediate MP4s joined into one video MP4 per
 * rung without re-encoding, and the audio encoded once from the whole source: an EncodedLadder, the same
 * thing the single encode hands to packageLadder (stream.ts), which then makes the CMAF segments, playlists
 * and downloads in one pass (one init segment per rung, continuous timestamps by construction).
 */

export interface StitchInput {
  storage: MediaStorage;
  videoId: string;
  sourcePath: string;
  media: ProbedMedia;
  plan: readonly RenditionPlan[];
  /** Every range of the plan, in order. */
  ranges: readonly TimeRange[];
  /** An empty private directory for the joined files; the caller removes it. */
  workDir: string;
}

export interface StitchOptions {
  timeoutMs: number;
  threads: number;
  signal?: AbortSignal;
}

/**
 * Fetches every range's MP4s, joins each rung's with the concat demuxer, encodes the audio, and checks that
 * the joined video covers the source. Errors: BAD_USER_INPUT for ranges that do not tile the video,
 * TRANSCODE_FAILED (not retryable) when a range's output set is missing or lacks a rung, MEDIA_CORRUPT for
 * a joined video shorter than the source, and runFfmpeg's.
 */
export async function joinRanges(input: StitchInput, options: StitchOptions): Promise<EncodedLadder> {
  const grid = assertTiles(input);
  const deadline = Date.now() + options.timeoutMs;
  const remainingMs = (): number => Math.max(1, deadline - Date.now());
  const fetched = await fetchRanges(input);
  try {
    const videos = await Promise.all(
      input.plan.map(async (rung, rungIndex) => {
        const joined = path.join(input.workDir, `video-${rungIndex}.mp4`);
        const list = await writeConcatList(input, grid, rungIndex);
        await runFfmpeg({
          input: list,
          concatList: true,
          outputs: [{ path: joined, options: ['-map', '0:v:0', '-c', 'copy', '-map_metadata', '-1', '-f', 'mp4'] }],
          timeoutMs: remainingMs(),
          signal: options.signal,
        });
        return { rung, path: joined };
      }),
    );
    const first = videos[0];
    if (first !== undefined) assertCoversSource(await mp4DurationSeconds(first.path), input.media.durationSeconds);
    const audioPath = await encodeAudio(input, { ...options, timeoutMs: remainingMs() });
    return { workDir: input.workDir, videos, audioPath };
  } finally {
    await Promise.all(fetched.map((file) => file.release()));
  }
}

/** The source's grid, once the ranges are checked to be the plan's: indexes 0…n-1, each starting where the one before ends, from 0 to the end. */
function assertTiles({ media, ranges }: Pick<StitchInput, 'media' | 'ranges'>): FrameGrid {
  const tiles =
    ranges.length > 0 &&
    ranges.every((range, index) => range.index === index && range.startSeconds === (index === 0 ? 0 : ranges[index - 1]?.endSeconds)) &&
    Math.abs((ranges.at(-1)?.endSeconds ?? 0) - media.durationSeconds) < 1e-6;
  if (!tiles || media.frameGrid === null) {
    throw new FramelogError(ErrorCode.BAD_USER_INPUT, `The ranges do not tile the ${media.durationSeconds} s video, or it has no constant frame rate.`, {
      details: { ranges: ranges.slice(0, 100), durationSeconds: media.durationSeconds },
    });
  }
  return media.frameGrid;
}

/** Name of range `index`'s MP4 of rung `rungIndex` in the work directory (what the concat list names). */
const rangeFileName = (index: number, rungIndex: number): string => `range-${index}-${rungIndex}.mp4`;

/**
 * Every range's MP4 of every rung as a local file (storage.readLocal: the stored file itself on local
 * disk, a download on S3), linked into the work directory under rangeFileName, so the concat lists name
 * them by relative names (`-safe 1`). The caller releases them.
 */
async function fetchRanges({ storage, videoId, plan, ranges, workDir }: StitchInput): Promise<LocalFile[]> {
  const fetched: LocalFile[] = [];
  try {
    for (const range of ranges) {
      const files = await fetchRange(storage, rangeSetKey(videoId, range.index), plan);
      if (files === null) throw rangeMissing(range, rangeSetKey(videoId, range.index));
      fetched.push(...files);
      await Promise.all(files.map((file, rungIndex) => symlink(file.path, path.join(workDir, rangeFileName(range.index, rungIndex)))));
    }
    return fetched;
  } catch (error) {
    await Promise.all(fetched.map((file) => file.release()));
    throw error;
  }
}

/**
 * The rungs' MP4s of one range set as local files, in plan order; null when the set was never committed
 * or lacks a rung. Read twice at most: a duplicate delivery of the segment may commit a new version of
 * the set (removing the one just read) between reading the manifest and the files.
 */
async function fetchRange(storage: MediaStorage, setKey: string, plan: readonly RenditionPlan[]): Promise<LocalFile[] | null> {
  for (let attempt = 0; attempt < 2; attempt += 1) {
    const manifest = await storage.readManifest(setKey);
    const keys = plan.map((rung) => manifest?.files.find((file) => file.name === renditionName(rung.label))?.key);
    if (manifest === null || keys.some((key) => key === undefined)) return null;
    const files = await Promise.all(keys.map((key) => storage.readLocal(key ?? '')));
    const complete = files.filter((file): file is LocalFile => file !== null);
    if (complete.length === files.length) return complete;
    await Promise.all(complete.map((file) => file.release()));
  }
  return null;
}

const rangeMissing = (range: TimeRange, setKey: string): FramelogError =>
  new FramelogError(ErrorCode.TRANSCODE_FAILED, `Range ${range.index} (${range.startSeconds}-${range.endSeconds} s) has no complete output to stitch.`, {
    retryable: false,
    details: { ...range, setKey },
  });

/**
 * The ffconcat list of one rung's ranges. Each file but the last gets a `duration`: its frame count over
 * the frame rate (rangePlan.rangeCut), exact, so the next range's first frame lands exactly one frame
 * after this range's last (the demuxer otherwise takes the file's header duration, rounded to the movie
 * time scale). Each range starts at 0 (encodeRangeLadder), so the joined timestamps are continuous.
 */
async function writeConcatList({ media, ranges, workDir }: StitchInput, grid: FrameGrid, rungIndex: number): Promise<string> {
  const lines = ['ffconcat version 1.0'];
  for (const range of ranges) {
    lines.push(`file '${rangeFileName(range.index, rungIndex)}'`);
    const frames = rangeCut(grid, range, media.durationSeconds).frames;
    if (frames !== null) lines.push(`duration ${framesSeconds(grid, frames).toFixed(6)}`);
  }
  const list = path.join(workDir, `concat-${rungIndex}.txt`);
  await writeFile(list, `${lines.join('\n')}\n`);
  return list;
}

/** The one audio encode of a split video, from the whole source (transcode.audioOutputOptions); null without audio. */
async function encodeAudio({ sourcePath, media, workDir }: StitchInput, options: StitchOptions): Promise<string | null> {
  if (media.audioStreamIndex === null) return null;
  const audioPath = path.join(workDir, 'audio.mp4');
  await runFfmpeg({
    input: sourcePath,
    inputOptions: threadInputOptions(options.threads),
    outputs: [{ path: audioPath, options: audioOutputOptions(media.audioStreamIndex, options.threads) }],
    timeoutMs: options.timeoutMs,
    signal: options.signal,
  });
  return audioPath;
}
