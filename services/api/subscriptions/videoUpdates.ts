import { sql } from 'kysely';
import { LRUCache } from 'lru-cache';
import { evolve, hasProgress, type VideoState } from '../../domain/video.js';
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
import { feedHorizon } from '../../eventstore/readAll.js';
import { loadVideo } from '../../eventstore/videos.js';
import { nextProgress, type VideoProgress } from './videoProgress.js';
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
  /** The newest log position this subscriber was given (id subscriptions only): it never goes back. */
  position: bigint;
  push(video: VideoState): void;
  end(): void;
}

/** Videos whose last pushed position is remembered: enough for every video live at once. */
const REMEMBERED_VIDEOS = 10_000;

export function createVideoUpdates(options: VideoUpdatesOptions): VideoUpdates {
  const { db, log } = options;
  const bufferSize = options.bufferSize ?? 100;
  const subscribers = new Set<Subscriber>();
  const progress = new Map<string, VideoProgress>();
  // Loads of one video run one after another, so its subscribers never see an older state last.
  const pending = new Map<string, Promise<void>>();
  // The newest position pushed per video. A notice names the row's position after one append, which
  // may have added several events, and the catch-up after a reconnection names only the newest:
  // folding from here to the notice's position pushes each state in between, once.
  const pushed = new LRUCache<string, bigint>({ max: REMEMBERED_VIDEOS });
  // The feed's horizon at the last catch-up (readAll.ts): every event written below it was read then
  // (or is older than the first connection). Where the catch-up of "every video" subscriptions starts;
  // an append in flight at a disconnection is at or above it, whenever it commits.
  let horizon: string | undefined;

  const listener: NotificationListener = createNotificationListener({
    connectionString: options.connectionString,
    channels: [VIDEO_UPDATED_CHANNEL, PROGRESS_CHANNEL],
    applicationName: 'framelog-api-listen',
    logger: log,
    onNotification(channel, payload) {
      if (channel === PROGRESS_CHANNEL) {
        const notice = parseProgressNotice(payload);
        if (notice === null) return;
        progress.set(notice.videoId, nextProgress(progress.get(notice.videoId), notice));
        if (watched(notice.videoId)) pushProgress(notice.videoId);
      } else if (channel === VIDEO_UPDATED_CHANNEL) {
        const notice = parseVideoUpdatedNotice(payload);
        if (notice === null) return;
        // A video with progress is loaded even unwatched, so its progress is dropped once it moves on.
        if (watched(notice.videoId) || progress.has(notice.videoId)) publish(notice.videoId, notice.position);
      }
    },
    // Notifications sent while the connection was down are lost: look for what changed meanwhile.
    onConnected: () => void catchUp().catch((error: unknown) => log.warn({ err: error }, 'could not catch up on changed videos')),
  });

  const watched = (videoId: string) => [...subscribers].some((s) => s.id === null || s.id === videoId);

  /** Runs `work` after the loads of this video already queued. */
  function enqueue(videoId: string, work: () => Promise<void>): void {
    const previous = pending.get(videoId) ?? Promise.resolve();
    const next = previous.then(work).catch((error: unknown) => log.warn({ err: error, videoId }, 'could not load an updated video'));
    pending.set(videoId, next);
    void next.finally(() => {
      if (pending.get(videoId) === next) pending.delete(videoId);
    });
  }

  /** Pushes every state of the video after the last one pushed, up to `position`. */
  function publish(videoId: string, position: bigint): void {
    enqueue(videoId, async () => {
      const since = pushed.get(videoId);
      if (since !== undefined && position <= since) return;
      const events = await readStream(db, videoId, { toPosition: position });
      let video: VideoState | null = null;
      const states: VideoState[] = [];
      for (const event of events) {
        video = evolve(video, event);
        if (since !== undefined && event.position > since) states.push(video);
      }
      // Nothing pushed yet for this video: its subscribers want where it is, not its whole history.
      if (since === undefined && video !== null) states.push(video);
      for (const state of states) deliver(state);
      const newest = states.at(-1);
      if (newest !== undefined) pushed.set(videoId, newest.lastPosition);
    });
  }

  /** Pushes the video again, as it is now, when only its progress changed. */
  function pushProgress(videoId: string): void {
    enqueue(videoId, async () => {
      const video = await loadVideo(db, videoId);
      if (video === null) return;
      const since = pushed.get(videoId);
      // The video moved on and its notice is still on the way: push the states in between first.
      if (since !== undefined && video.lastPosition > since) return publish(videoId, video.lastPosition);
      if (since === undefined) pushed.set(videoId, video.lastPosition);
      deliver(video, { again: true });
    });
  }

  function deliver(video: VideoState, options: { again?: boolean } = {}): void {
    // Progress only means something while PROCESSING; forget it once the video moves on.
    if (!hasProgress(video.status)) progress.delete(video.id);
    for (const subscriber of subscribers) {
      if (subscriber.id === null) subscriber.push(video);
      else if (subscriber.id === video.id && (video.lastPosition > subscriber.position || (options.again === true && video.lastPosition === subscriber.position))) {
        subscriber.position = video.lastPosition;
        subscriber.push(video);
      }
    }
  }

  /**
   * Finds what changed while the LISTEN connection was down (notices sent then are lost) and pushes it:
   * the rows of the videos watched by id, and, for "every video" subscriptions, the streams the log
   * shows written at or above the feed's horizon of the previous catch-up (the same horizon as the
   * gap-free feed, readAll.ts). On the first connection there is no gap for those: it learns the horizon.
   */
  async function catchUp(): Promise<void> {
    const since = horizon;
    // Taken before the read: whatever lies below it had ended by then, so the read below sees it.
    const next = await feedHorizon(db);
    const changed = new Map<string, bigint>();
    if (since !== undefined && [...subscribers].some((s) => s.id === null)) {
      const { rows } = await sql<{ stream_id: string; position: string }>`
        select stream_id, max(position) as position from events where transaction_id >= ${since}::xid8 and stream_type = 'video' group by stream_id`.execute(db);
      for (const row of rows) changed.set(row.stream_id, BigInt(row.position));
    }
    const ids = [...new Set([...subscribers].flatMap((s) => (s.id === null ? [] : [s.id])).concat([...progress.keys()]))];
    if (ids.length > 0) {
      const rows = await db.selectFrom('videos').select(['id', 'last_position']).where('id', 'in', ids).execute();
      for (const row of rows) changed.set(row.id, BigInt(row.last_position));
    }
    horizon = next;
    for (const [videoId, position] of changed) {
      const last = pushed.get(videoId);
      if (last === undefined || position > last) publish(videoId, position);
    }
  }

  function subscribe(id: string | null): AsyncIterableIterator<VideoState> {
    const queue: VideoState[] = [];
    let wake: ((result: IteratorResult<VideoState>) => void) | undefined;
    let done = false;
    const subscriber: Subscriber = {
      id,
      position: -1n,
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
    if (id !== null) {
      // The current state first, to this subscriber: later states follow from notices and catch-ups.
      enqueue(id, async () => {
        const video = await loadVideo(db, id);
        if (video === null || video.lastPosition <= subscriber.position) return;
        subscriber.position = video.lastPosition;
        subscriber.push(video);
        // Not raised when already set: other subscribers may still wait for the states in between.
        if (!pushed.has(id)) pushed.set(id, video.lastPosition);
      });
    }
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
    progressOf: (videoId) => progress.get(videoId)?.percent ?? null,
  };
}
