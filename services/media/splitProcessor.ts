import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ErrorCode, FramelogError } from '../domain/errors.js';
import { framesSeconds } from './frameGrid.js';
import { outputSetKey, rangeSetKey, rangesPrefix, renditionName } from './keys.js';
import { planLadder } from './ladder.js';
import { mp4DurationSeconds, mp4SampleCount } from './mp4Duration.js';
import {
  configuredTimeoutMs,
  jobBudgetMs,
  probeSource,
  producePoster,
  toMediaInfo,
  withSource,
  type MediaProcessorOptions,
  type ProcessResult,
} from './processVideo.js';
import type { ProbedMedia } from './probe.js';
import { isSplittable, rangeCut, type TimeRange } from './rangePlan.js';
import { joinRanges } from './stitch.js';
import type { MediaStorage } from './storage.js';
import { packageLadder } from './stream.js';
import { encodeRangeLadder } from './transcode.js';

/** What encodeRange made: the range's frames (of the first, largest rung), seconds and bytes (all rungs). */
export interface RangeResult {
  index: number;
  frames: number;
  durationSeconds: number;
  sizeBytes: number;
}

export interface SplitMediaProcessor {
  /** Probe only (the transcode task's decision whether to split). Errors: probeMedia's, SOURCE_MISSING, UPLOAD_EMPTY. */
  probe(input: { videoId: string; sourceKey: string; signal?: AbortSignal }): Promise<ProbedMedia>;
  /**
   * Encodes one range into its committed range output set (keys.rangeSetKey; a rerun replaces it).
   * onProgress 0-100 of this range. Its time limit is the whole video's job budget (jobBudgetMs). Errors:
   * as MediaProcessor.process, and BAD_USER_INPUT for a range outside the video, INTERNAL for a source
   * that isSplittable refuses.
   */
  encodeRange(input: {
    videoId: string;
    sourceKey: string;
    range: TimeRange;
    signal?: AbortSignal;
    onProgress?: (percent: number) => void;
  }): Promise<RangeResult>;
  /**
   * Concats all ranges, encodes audio, packages, poster, commits the video's output set: the same
   * ProcessResult as MediaProcessor.process. `ranges` are all of the plan's, in order. Errors: as
   * process, and stitch.joinRanges' (a missing range is TRANSCODE_FAILED, not retryable).
   */
  stitch(input: {
    videoId: string;
    sourceKey: string;
    ranges: readonly TimeRange[];
    signal?: AbortSignal;
    onProgress?: (percent: number) => void;
  }): Promise<ProcessResult>;
  /** Removes the video's range sets and unfinished staging (once the video is terminal). */
  removeTemps(videoId: string): Promise<void>;
}

/**
 * The media side of split and stitch (DESIGN §11, issue 19), built like createMediaProcessor and sharing
 * its source handling, probe, job budget, ladder, encoder settings (transcode.ts), packaging (stream.ts),
 * poster and output sets. Each range is encoded by encodeRangeLadder into its own output set; the stitch
 * joins them (stitch.ts) and packages them into the video's output set exactly as the single encode does.
 */
export function createSplitMediaProcessor(options: MediaProcessorOptions): SplitMediaProcessor {
  const { storage, limits, threads } = options;
  const configuredMs = configuredTimeoutMs(options);
  const budget = (startedAt: number, seconds: number): number => startedAt + jobBudgetMs(configuredMs, seconds, options.budget);

  return {
    probe: ({ videoId, sourceKey, signal }) => withSource(storage, { videoId, sourceKey }, (sourcePath) => probeSource(sourcePath, limits, configuredMs, signal)),

    async encodeRange({ videoId, sourceKey, range, signal, onProgress }) {
      const startedAt = Date.now();
      return withSource(storage, { videoId, sourceKey }, async (sourcePath) => {
        const media = await probeSource(sourcePath, limits, configuredMs, signal);
        // The whole video's budget, not the range's: a range encodes no faster per second than the whole
        // (FFMPEG_THREADS=1 at 1080p runs at ~8x real time, near the 10x budget rule), and the single task
        // would have had this budget for all of it.
        const deadline = budget(startedAt, media.durationSeconds);
        const result = await encodeRangeInto(storage, { videoId, sourcePath, media, range }, { deadline, threads, signal, onProgress });
        onProgress?.(100);
        return result;
      });
    },

    async stitch({ videoId, sourceKey, ranges, signal, onProgress }) {
      const startedAt = Date.now();
      return withSource(storage, { videoId, sourceKey }, async (sourcePath) => {
        const outputs = await storage.openOutputSet(outputSetKey(videoId));
        const workDir = await mkdtemp(path.join(tmpdir(), 'framelog-stitch-'));
        try {
          const media = await probeSource(sourcePath, limits, configuredMs, signal);
          const remainingMs = ((deadline) => (): number => Math.max(1, deadline - Date.now()))(budget(startedAt, media.durationSeconds));
          const plan = planLadder(media);
          const encoded = await joinRanges({ storage, videoId, sourcePath, media, plan, ranges, workDir }, { timeoutMs: remainingMs(), threads, signal });
          onProgress?.(40);
          const { renditions, streaming } = await packageLadder(encoded, outputs, { timeoutMs: remainingMs(), signal });
          onProgress?.(90);
          const poster = await producePoster(outputs, sourcePath, media, plan, { timeoutMs: remainingMs(), threads, signal });
          await outputs.commit();
          onProgress?.(100);
          return { media: toMediaInfo(media), renditions, poster, streaming, ...(media.warnings.length > 0 ? { warnings: media.warnings } : {}) };
        } catch (error) {
          await outputs.abort().catch(() => undefined);
          throw error;
        } finally {
          await rm(workDir, { recursive: true, force: true });
        }
      });
    },

    async removeTemps(videoId) {
      await storage.removePrefix(rangesPrefix(videoId));
      await storage.removeUnfinished(outputSetKey(videoId));
    },
  };
}

interface RangeJob {
  videoId: string;
  sourcePath: string;
  media: ProbedMedia;
  range: TimeRange;
}

interface RangeJobOptions {
  /** Epoch ms by which the range must be done (its job budget). */
  deadline: number;
  threads: number;
  signal?: AbortSignal;
  onProgress?: (percent: number) => void;
}

/** Encodes the range's rungs into a new version of its output set and commits it; nothing stays on failure. */
async function encodeRangeInto(storage: MediaStorage, { videoId, sourcePath, media, range }: RangeJob, options: RangeJobOptions): Promise<RangeResult> {
  const grid = media.frameGrid;
  if (grid === null || !isSplittable(media)) {
    throw new FramelogError(ErrorCode.INTERNAL, `Video ${videoId} cannot be split (variable frame rate or unindexed container); it must be transcoded whole.`, {
      retryable: false,
      details: { videoId, formatName: media.formatName ?? null },
    });
  }
  const cut = rangeCut(grid, range, media.durationSeconds);
  const plan = planLadder(media);
  const outputs = await storage.openOutputSet(rangeSetKey(videoId, range.index));
  try {
    const videoPaths = await Promise.all(plan.map((rung) => outputs.localPath(renditionName(rung.label))));
    await encodeRangeLadder(
      {
        sourcePath, media, plan, cut, videoPaths,
        durationSeconds: cut.frames === null ? media.durationSeconds - (cut.seekSeconds ?? 0) : framesSeconds(grid, cut.frames),
      },
      { timeoutMs: Math.max(1, options.deadline - Date.now()), threads: options.threads, signal: options.signal, onProgress: options.onProgress },
    );
    const first = videoPaths[0] ?? '';
    const sizes = await Promise.all(videoPaths.map(async (file) => (await stat(file)).size));
    const result = {
      index: range.index,
      frames: (await mp4SampleCount(first)) ?? 0,
      durationSeconds: (await mp4DurationSeconds(first)) ?? 0,
      sizeBytes: sizes.reduce((sum, size) => sum + size, 0),
    };
    await outputs.commit();
    return result;
  } catch (error) {
    await outputs.abort().catch(() => undefined);
    throw error;
  }
}
