import { ErrorCode, FramelogError } from '../domain/errors.js';
import type { MediaInfo, MediaWarning, Poster, Rendition, Streaming } from '../domain/events.js';
import { outputSetKey } from './keys.js';
import { planLadder, posterSize, type RenditionPlan } from './ladder.js';
import { extractPoster, type PosterOptions } from './poster.js';
import { probeMedia, type ProbedMedia, type ProbeLimits } from './probe.js';
import type { MediaStorage, OutputSet } from './storage.js';
import { transcodeRenditions } from './transcode.js';

export interface MediaProcessorOptions {
  storage: MediaStorage;
  limits: ProbeLimits;
  /** Upper bound for one whole job (JOB_TIMEOUT_SECONDS × 1000); default 20 minutes. See jobBudgetMs. */
  timeoutMs?: number;
  /** FFMPEG_THREADS: threads of ffmpeg's decoder, filters and each encoder; 0 lets ffmpeg choose. */
  threads: number;
  /** How the job budget scales with the video's duration (see jobBudgetMs); the defaults suit production. */
  budget?: JobBudgetScale;
}

export interface JobBudgetScale {
  /** Budget of a clip however short it is. */
  minMs: number;
  /** Budget per second of video. */
  perMediaSecondMs: number;
}

export interface ProcessInput {
  videoId: string;
  sourceKey: string;
  /** Worker shutdown: kills ffmpeg and rejects with an error named 'AbortError'. */
  signal?: AbortSignal;
  /** 0-100, increasing; transcoding maps to 0-95, the poster finishes it. */
  onProgress?: (percent: number) => void;
  /**
   * The source's probe when the caller already made one with the same limits (the transcode task's split
   * decision, planSplit): the source is then not probed again (a packet scan reads the whole file).
   */
  media?: ProbedMedia;
}

export interface ProcessResult {
  media: MediaInfo;
  renditions: Rendition[];
  poster: Poster | null;
  /** What the renditions lack and why (e.g. undecodable audio); absent when nothing. */
  warnings?: MediaWarning[];
  /** Absent only for processors that make no media (PROCESSOR=noop). */
  streaming?: Streaming;
}

export interface MediaProcessor {
  process(input: ProcessInput): Promise<ProcessResult>;
  /**
   * Removes what unfinished runs of `videoId` left (a killed worker cannot clean up after itself). Only
   * once the video is terminal: a run never removes files but its own (its output set's staging), since
   * another run of the same video may still be writing them.
   */
  removeTemps(videoId: string): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 20 * 60_000;
const PROBE_TIMEOUT_MS = 30_000;
const DEFAULT_BUDGET: JobBudgetScale = { minMs: 60_000, perMediaSecondMs: 10_000 };

/**
 * Wall-clock budget of a job for a video of `durationSeconds`: min(configured, max(60 s, 10 × duration)).
 * The configured timeout stays the hard cap (it must stay below the broker's consumer_timeout, DESIGN §4);
 * scaling with duration stops a short clip — or a file whose header lies about a short duration — from
 * holding a worker for the whole configured time. 10x real time is far slower than a veryfast ladder runs.
 */
export function jobBudgetMs(configuredMs: number, durationSeconds: number, scale: JobBudgetScale = DEFAULT_BUDGET): number {
  return Math.min(configuredMs, Math.max(scale.minMs, scale.perMediaSecondMs * durationSeconds));
}

/**
 * Probe → plan → transcode → poster for one upload, all written into one output set of the video
 * (outputSetKey) that is committed only when every output succeeded: a failed run publishes nothing and
 * leaves nothing behind, and running a video again replaces its set instead of adding to it. Errors are
 * FramelogErrors whose `retryable` says whether another attempt may succeed, or an AbortError when
 * `signal` fired.
 */
export function createMediaProcessor(options: MediaProcessorOptions): MediaProcessor {
  const { storage, limits, threads } = options;
  const configuredMs = configuredTimeoutMs(options);

  return {
    async process({ videoId, sourceKey, signal, onProgress, media: probed }) {
      const startedAt = Date.now();
      return withSource(storage, { videoId, sourceKey }, async (sourcePath) => {
        // Opened before probing, so a failed probe leaves nothing behind either (abort below).
        const outputs = await storage.openOutputSet(outputSetKey(videoId));
        try {
          const media = probed ?? (await probeSource(sourcePath, limits, configuredMs, signal));
          const deadline = startedAt + jobBudgetMs(configuredMs, media.durationSeconds, options.budget);
          const produced = await produceOutputs(outputs, sourcePath, media, { deadline, threads, signal, onProgress });
          await outputs.commit();
          onProgress?.(100);
          return { media: toMediaInfo(media), ...produced, ...(media.warnings.length > 0 ? { warnings: media.warnings } : {}) };
        } catch (error) {
          await outputs.abort().catch(() => undefined);
          throw error;
        }
      });
    },
    removeTemps: (videoId) => storage.removeUnfinished(outputSetKey(videoId)),
  };
}

/** The configured job timeout (JOB_TIMEOUT_SECONDS × 1000) or the default of 20 minutes. */
export const configuredTimeoutMs = (options: Pick<MediaProcessorOptions, 'timeoutMs'>): number => options.timeoutMs ?? DEFAULT_TIMEOUT_MS;

/**
 * Runs `use` on a local file of the video's upload and releases that file however `use` ends. Errors
 * (not retryable): SOURCE_MISSING when the key holds nothing, UPLOAD_EMPTY when it holds no byte.
 */
export async function withSource<T>(
  storage: MediaStorage,
  { videoId, sourceKey }: { videoId: string; sourceKey: string },
  use: (sourcePath: string) => Promise<T>,
): Promise<T> {
  const source = await storage.readLocal(sourceKey);
  if (source === null) {
    throw new FramelogError(ErrorCode.SOURCE_MISSING, `The uploaded file ${sourceKey} is not in storage.`, {
      retryable: false,
      details: { videoId, sourceKey },
    });
  }
  try {
    if (source.sizeBytes === 0) {
      // The API refuses empty uploads; a source emptied in storage since then gets the same code.
      throw new FramelogError(ErrorCode.UPLOAD_EMPTY, 'The uploaded file is empty; upload the video again.', {
        retryable: false,
        details: { videoId, sourceKey },
      });
    }
    return await use(source.path);
  } finally {
    await source.release();
  }
}

/** probeMedia with the job's limits: 30 s for the description, the whole job time for a packet scan. */
export function probeSource(sourcePath: string, limits: ProbeLimits, configuredMs: number, signal?: AbortSignal): Promise<ProbedMedia> {
  return probeMedia(sourcePath, limits, {
    timeoutMs: Math.min(PROBE_TIMEOUT_MS, configuredMs),
    // The scan's time counts against the job's deadline (it is measured from the job's start).
    scanTimeoutMs: configuredMs,
    signal,
  });
}

interface ProduceOptions {
  /** Epoch ms by which everything must be done (the job budget). */
  deadline: number;
  threads: number;
  signal?: AbortSignal;
  onProgress?: (percent: number) => void;
}

/** Renditions and their HLS/DASH packaging, then the poster, into the uncommitted output set. */
async function produceOutputs(
  outputs: OutputSet,
  sourcePath: string,
  media: ProbedMedia,
  { deadline, threads, signal, onProgress }: ProduceOptions,
): Promise<Pick<ProcessResult, 'renditions' | 'poster' | 'streaming'>> {
  const remainingMs = (): number => Math.max(1, deadline - Date.now());
  const plan = planLadder(media);
  const { renditions, streaming } = await transcodeRenditions(
    { outputs, sourcePath, media, plan },
    { timeoutMs: remainingMs(), threads, signal, onProgress: (percent) => onProgress?.(percent * 0.95) },
  );
  const poster = await producePoster(outputs, sourcePath, media, plan, { timeoutMs: remainingMs(), threads, signal });
  return { renditions, poster, streaming };
}

/** The poster at the size the ladder gives it (ladder.posterSize) into the uncommitted set; null without one. */
export async function producePoster(
  outputs: OutputSet,
  sourcePath: string,
  media: ProbedMedia,
  plan: readonly RenditionPlan[],
  options: PosterOptions,
): Promise<Poster | null> {
  const size = posterSize(plan);
  return size === undefined ? null : extractPoster({ outputs, sourcePath, media, size }, options);
}

/** Exactly the event's MediaInfo: the transcoding details of ProbedMedia stay out of the log. */
export function toMediaInfo(media: ProbedMedia): MediaInfo {
  return {
    durationSeconds: media.durationSeconds,
    width: media.width,
    height: media.height,
    videoCodec: media.videoCodec,
    audioCodec: media.audioCodec,
    frameRate: media.frameRate,
    rotation: media.rotation,
    ...(media.formatName === undefined ? {} : { formatName: media.formatName }),
  };
}
