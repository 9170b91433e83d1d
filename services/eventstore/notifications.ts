import pg from 'pg';
import { sql } from 'kysely';
import type { Logger } from '../logger.js';
import type { Db } from './db.js';

/** Channel of the `videos` trigger (migrations/0002): payload "<video id> <last position>", sent at commit. */
export const VIDEO_UPDATED_CHANNEL = 'framelog_video_updated';
/** Transcoding progress from workers: payload = JSON `{ videoId, percent }`. Never stored. */
export const PROGRESS_CHANNEL = 'framelog_progress';

const CHANNEL_NAME = /^[a-z_][a-z0-9_]*$/;
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 30_000;

/** The part of a logger the listener uses (pino's, or the messaging one). */
export interface ListenerLogger {
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
}

export interface NotificationListenerOptions {
  connectionString: string;
  channels: readonly string[];
  onNotification(channel: string, payload: string): void;
  /**
   * Called after every (re)connection, once LISTEN is in place: notifications sent while the
   * connection was down are lost, so this is where a consumer refreshes what it may have missed.
   */
  onConnected?(): void;
  logger: ListenerLogger;
  applicationName?: string;
}

export interface NotificationListener {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * One dedicated connection that LISTENs on some channels (a pooled connection would be handed back
 * and lose its LISTEN). When it drops, it is replaced with exponential backoff.
 */
export function createNotificationListener(options: NotificationListenerOptions): NotificationListener {
  const { connectionString, channels, logger } = options;
  for (const channel of channels) {
    if (!CHANNEL_NAME.test(channel)) throw new Error(`Invalid LISTEN channel name: ${channel}`);
  }
  let client: pg.Client | undefined;
  let active = false;
  let attempt = 0;
  let reconnectTimer: NodeJS.Timeout | undefined;

  function scheduleReconnect(from: pg.Client, error?: unknown): void {
    // Only the current client may trigger a reconnect, once; stale clients' late events are ignored.
    if (!active || client !== from) return;
    client = undefined;
    from.removeAllListeners('notification');
    from.on('error', () => undefined);
    void from.end().catch(() => undefined);
    attempt += 1;
    const retryInMs = Math.min(RETRY_MIN_MS * 2 ** (attempt - 1), RETRY_MAX_MS);
    logger.warn({ err: error, channels, retryInMs }, 'LISTEN connection lost; reconnecting');
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined;
      void connect();
    }, retryInMs);
  }

  async function connect(): Promise<void> {
    if (!active) return;
    const next = new pg.Client({ connectionString, application_name: options.applicationName ?? 'framelog-listen', keepAlive: true });
    client = next;
    next.on('notification', (message) => options.onNotification(message.channel, message.payload ?? ''));
    next.on('error', (error) => scheduleReconnect(next, error));
    next.on('end', () => scheduleReconnect(next));
    try {
      await next.connect();
      for (const channel of channels) await next.query(`LISTEN ${channel}`);
      if (attempt > 0) logger.info({ channels }, 'LISTEN connection restored');
      attempt = 0;
      options.onConnected?.();
    } catch (error) {
      scheduleReconnect(next, error);
    }
  }

  return {
    async start() {
      active = true;
      await connect();
    },
    async stop() {
      active = false;
      clearTimeout(reconnectTimer);
      const current = client;
      client = undefined;
      if (current) {
        current.removeAllListeners('notification');
        await current.end().catch(() => undefined);
      }
    },
  };
}

export interface VideoUpdatedNotice {
  videoId: string;
  /** The log position the video's row reached in the notifying transaction. */
  position: bigint;
}

/** Parses a `framelog_video_updated` payload; null when malformed. */
export function parseVideoUpdatedNotice(payload: string): VideoUpdatedNotice | null {
  const match = /^([0-9a-f-]{36}) (\d{1,19})$/.exec(payload);
  return match ? { videoId: match[1] as string, position: BigInt(match[2] as string) } : null;
}

export interface ProgressNotice {
  videoId: string;
  /** 0–100: of the video, or of `part` when there is one. */
  percent: number;
  /**
   * The task reports one part of its video (a segment or the stitch of a split video, DESIGN §11): its
   * `key` and `weight`, the share (0–1) of the video's progress it makes. The API sums the parts.
   */
  part?: { key: string; weight: number };
}

/** Announces transcoding progress to every API process. No event, no row: progress is ephemeral. */
export async function notifyProgress(db: Db, notice: ProgressNotice): Promise<void> {
  await sql`select pg_notify(${PROGRESS_CHANNEL}, ${JSON.stringify(notice)})`.execute(db);
}

/** Parses a progress payload; anything malformed is ignored by the caller (null). */
export function parseProgressNotice(payload: string): ProgressNotice | null {
  try {
    const value = JSON.parse(payload) as Partial<ProgressNotice>;
    if (typeof value.videoId !== 'string' || typeof value.percent !== 'number' || !Number.isFinite(value.percent)) return null;
    const notice = { videoId: value.videoId, percent: Math.min(100, Math.max(0, value.percent)) };
    const part = value.part;
    if (part === undefined) return notice;
    if (typeof part?.key !== 'string' || typeof part.weight !== 'number' || !(part.weight >= 0 && part.weight <= 1)) return null;
    return { ...notice, part: { key: part.key, weight: part.weight } };
  } catch {
    return null;
  }
}

export interface ProgressThrottleOptions {
  /** Minimum time between two reports of one video. */
  minIntervalMs: number;
  /** A jump of at least this many percent is reported even sooner. */
  minStepPercent: number;
  now?: () => number;
}

/**
 * Wraps a progress sink so that ffmpeg's many ticks become a few notifications: one when at least
 * `minIntervalMs` passed or the percent moved by `minStepPercent` since the last one, and always 100.
 */
export function throttleProgress(send: (percent: number) => void, options: ProgressThrottleOptions): (percent: number) => void {
  const now = options.now ?? Date.now;
  let lastAt = Number.NEGATIVE_INFINITY;
  let lastPercent = Number.NEGATIVE_INFINITY;
  return (percent) => {
    const at = now();
    const due = at - lastAt >= options.minIntervalMs || percent - lastPercent >= options.minStepPercent || (percent >= 100 && lastPercent < 100);
    if (!due || percent === lastPercent) return;
    lastAt = at;
    lastPercent = percent;
    send(percent);
  };
}

export interface ProgressReporterOptions extends ProgressThrottleOptions {
  logger: Logger;
}

/**
 * `reportProgress(videoId, percent)` for a worker: throttled per video, sent with `notifyProgress`
 * without waiting. A lost notification only delays the next one, so failures are logged, not thrown.
 */
export function createProgressReporter(db: Db, options: ProgressReporterOptions): (videoId: string, percent: number, part?: ProgressNotice['part']) => void {
  let current: { key: string; report: (percent: number) => void } | undefined;
  return (videoId, percent, part) => {
    // Throttled per task: a worker runs one at a time, a segment of a video after another.
    const key = `${videoId}/${part?.key ?? ''}`;
    if (current?.key !== key) {
      const send = (value: number) => {
        notifyProgress(db, { videoId, percent: Math.round(value * 10) / 10, ...(part ? { part } : {}) }).catch((error: unknown) =>
          options.logger.debug({ err: error, videoId }, 'could not send a progress notification'),
        );
      };
      current = { key, report: throttleProgress(send, options) };
    }
    current.report(percent);
  };
}
