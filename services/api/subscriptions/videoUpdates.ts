import type { VideoState } from '../../domain/video.js';
import { VideoStatus, fold } from '../../domain/video.js';
import type { Db } from '../../eventstore/db.js';
import {
  PROGRESS_CHANNEL,
  VIDEO_UPDATED_CHANNEL,
  createNotificationListener,
  parseProgressNotice,
  parseVideoUpdatedNotice,
  type NotificationListener,
} from '../../eventstore/notifications.js';
import { readStream } from '../../eventstore/readStream.js';
import { loadVideo } from '../../eventstore/videos.js';
import type { Logger } from '../../logger.js';

/** Live video changes of this API process, fed by PostgreSQL notifications from every process. */
export interface VideoUpdates {
  start(): Promise<void>;
  /** Ends every subscription and closes the LISTEN connection. */
  stop(): Promise<void>;
  /**
   * Each change of one video (`id`) or of every video (null), as loaded from the projection after
   * the change committed. With an id, the current state comes first, so nothing between a client's
   * query and its subscription is missed.
   */
  subscribe(id: string | null): AsyncIterableIterator<VideoState>;
  /** The latest transcoding progress a worker reported for a video, in percent, if any. */
  progressOf(videoId: string): number | null;
}

export interface VideoUpdatesOptions {
  db: Db;
  /** For the dedicated LISTEN connection. */
  connectionString: string;
  log: Logger;
  /** Updates buffered for a slow subscriber before the oldest are dropped (the newest state wins). */
  bufferSize?: number;
}

interface Subscriber {
  id: string | null;
  push(video: VideoState): void;
  end(): void;
}

export function createVideoUpdates(options: VideoUpdatesOptions): VideoUpdates {
  const { db, log } = options;
  const bufferSize = options.bufferSize ?? 100;
  const subscribers = new Set<Subscriber>();
  const progress = new Map<string, number>();
  // Loads of one video run one after another, so its subscribers never see an older state last.
  const pending = new Map<string, Promise<void>>();
  let connectedOnce = false;

  const listener: NotificationListener = createNotificationListener({
    connectionString: options.connectionString,
    channels: [VIDEO_UPDATED_CHANNEL, PROGRESS_CHANNEL],
    applicationName: 'framelog-api-listen',
    logger: log,
    onNotification(channel, payload) {
      if (channel === PROGRESS_CHANNEL) {
        const notice = parseProgressNotice(payload);
        if (notice === null) return;
        progress.set(notice.videoId, notice.percent);
        if (watched(notice.videoId)) publish(notice.videoId);
      } else if (channel === VIDEO_UPDATED_CHANNEL) {
        const notice = parseVideoUpdatedNotice(payload);
        if (notice === null) return;
        // A video with progress is loaded even unwatched, so its progress is dropped once it moves on.
        if (watched(notice.videoId) || progress.has(notice.videoId)) publish(notice.videoId, notice.position);
      }
    },
    onConnected() {
      // Notifications sent while the connection was down are lost: resend what watched videos are now.
      if (connectedOnce) for (const id of new Set([...subscribers].map((s) => s.id))) if (id !== null) publish(id);
      connectedOnce = true;
    },
  });

  const watched = (videoId: string) => [...subscribers].some((s) => s.id === null || s.id === videoId);

  /** Pushes the video as of `position` (folded from the log: no state is skipped), or as it is now. */
  function publish(videoId: string, position?: bigint): void {
    const previous = pending.get(videoId) ?? Promise.resolve();
    const next = previous.then(() => deliver(videoId, position)).catch((error: unknown) => log.warn({ err: error, videoId }, 'could not load an updated video'));
    pending.set(videoId, next);
    void next.finally(() => {
      if (pending.get(videoId) === next) pending.delete(videoId);
    });
  }

  async function deliver(videoId: string, position?: bigint): Promise<void> {
    const video = position === undefined ? await loadVideo(db, videoId) : fold(await readStream(db, videoId, { toPosition: position }));
    if (video === null) return;
    // Progress only means something while PROCESSING; forget it once the video moves on.
    if (video.status !== VideoStatus.PROCESSING) progress.delete(videoId);
    for (const subscriber of subscribers) if (subscriber.id === null || subscriber.id === videoId) subscriber.push(video);
  }

  function subscribe(id: string | null): AsyncIterableIterator<VideoState> {
    const queue: VideoState[] = [];
    let wake: ((result: IteratorResult<VideoState>) => void) | undefined;
    let done = false;
    const subscriber: Subscriber = {
      id,
      push(video) {
        if (done) return;
        if (wake) {
          const resolve = wake;
          wake = undefined;
          resolve({ value: video, done: false });
          return;
        }
        queue.push(video);
        if (queue.length > bufferSize) queue.shift();
      },
      end() {
        done = true;
        subscribers.delete(subscriber);
        queue.length = 0;
        wake?.({ value: undefined, done: true });
        wake = undefined;
      },
    };
    subscribers.add(subscriber);
    if (id !== null) publish(id);
    const iterator: AsyncIterableIterator<VideoState> = {
      next() {
        const value = queue.shift();
        if (value !== undefined) return Promise.resolve({ value, done: false });
        if (done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => {
          wake = resolve;
        });
      },
      return() {
        subscriber.end();
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }

  return {
    start: () => listener.start(),
    async stop() {
      for (const subscriber of [...subscribers]) subscriber.end();
      await listener.stop();
      await Promise.allSettled([...pending.values()]);
    },
    subscribe,
    progressOf: (videoId) => progress.get(videoId) ?? null,
  };
}
