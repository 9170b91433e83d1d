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
  return new LiveVideoUpdates(options);
}

/**
 * A subscriber and the iterator its client reads: up to `bufferSize` states wait for a slow reader (the
 * oldest are dropped, the newest state wins); `onEnd` runs once it ends, by either side.
 */
function subscriberIterator(id: string | null, bufferSize: number, onEnd: (subscriber: Subscriber) => void): { subscriber: Subscriber; iterator: AsyncIterableIterator<VideoState> } {
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
      onEnd(subscriber);
      queue.length = 0;
      wake?.({ value: undefined, done: true });
      wake = undefined;
    },
  };
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
  return { subscriber, iterator };
}

/** The newest position of each video stream written at or above a feed horizon (readAll.ts). */
async function videosWrittenSince(db: Db, horizon: string): Promise<Map<string, bigint>> {
  const { rows } = await sql<{ stream_id: string; position: string }>`
    select stream_id, max(position) as position from events where transaction_id >= ${horizon}::xid8 and stream_type = 'video' group by stream_id`.execute(db);
  return new Map(rows.map((row) => [row.stream_id, BigInt(row.position)]));
}

/** The projection's last position of each of these videos (those it has). */
async function lastPositionsOf(db: Db, ids: readonly string[]): Promise<Map<string, bigint>> {
  if (ids.length === 0) return new Map();
  const rows = await db.selectFrom('videos').select(['id', 'last_position']).where('id', 'in', ids).execute();
  return new Map(rows.map((row) => [row.id, BigInt(row.last_position)]));
}

class LiveVideoUpdates implements VideoUpdates {
  private readonly db: Db;
  private readonly log: Logger;
  private readonly bufferSize: number;
  private readonly subscribers = new Set<Subscriber>();
  private readonly progress = new Map<string, VideoProgress>();
  // Loads of one video run one after another, so its subscribers never see an older state last.
  private readonly pending = new Map<string, Promise<void>>();
  // The newest position pushed per video. A notice names the row's position after one append, which
  // may have added several events, and the catch-up after a reconnection names only the newest:
  // folding from here to the notice's position pushes each state in between, once.
  private readonly pushed = new LRUCache<string, bigint>({ max: REMEMBERED_VIDEOS });
  // The feed's horizon at the last catch-up (readAll.ts): every event written below it was read then
  // (or is older than the first connection). Where the catch-up of "every video" subscriptions starts;
  // an append in flight at a disconnection is at or above it, whenever it commits.
  private horizon: string | undefined;
  private readonly listener: NotificationListener;

  constructor(options: VideoUpdatesOptions) {
    this.db = options.db;
    this.log = options.log;
    this.bufferSize = options.bufferSize ?? 100;
    this.listener = createNotificationListener({
      connectionString: options.connectionString,
      channels: [VIDEO_UPDATED_CHANNEL, PROGRESS_CHANNEL],
      applicationName: 'framelog-api-listen',
      logger: options.log,
      onNotification: (channel, payload) => this.onNotification(channel, payload),
      // Notifications sent while the connection was down are lost: look for what changed meanwhile.
      onConnected: () => void this.catchUp().catch((error: unknown) => this.log.warn({ err: error }, 'could not catch up on changed videos')),
    });
  }

  start(): Promise<void> {
    return this.listener.start();
  }

  async stop(): Promise<void> {
    for (const subscriber of [...this.subscribers]) subscriber.end();
    await this.listener.stop();
    await Promise.allSettled([...this.pending.values()]);
  }

  progressOf(videoId: string): number | null {
    return this.progress.get(videoId)?.percent ?? null;
  }

  subscribe(id: string | null): AsyncIterableIterator<VideoState> {
    const { subscriber, iterator } = subscriberIterator(id, this.bufferSize, (ended) => this.subscribers.delete(ended));
    this.subscribers.add(subscriber);
    if (id !== null) this.pushCurrent(id, subscriber);
    return iterator;
  }

  private onNotification(channel: string, payload: string): void {
    if (channel === PROGRESS_CHANNEL) {
      const notice = parseProgressNotice(payload);
      if (notice === null) return;
      this.progress.set(notice.videoId, nextProgress(this.progress.get(notice.videoId), notice));
      if (this.watched(notice.videoId)) this.pushProgress(notice.videoId);
    } else if (channel === VIDEO_UPDATED_CHANNEL) {
      const notice = parseVideoUpdatedNotice(payload);
      if (notice === null) return;
      // A video with progress is loaded even unwatched, so its progress is dropped once it moves on.
      if (this.watched(notice.videoId) || this.progress.has(notice.videoId)) this.publish(notice.videoId, notice.position);
    }
  }

  private watched(videoId: string): boolean {
    return [...this.subscribers].some((s) => s.id === null || s.id === videoId);
  }

  /** Runs `work` after the loads of this video already queued. */
  private enqueue(videoId: string, work: () => Promise<void>): void {
    const previous = this.pending.get(videoId) ?? Promise.resolve();
    const next = previous.then(work).catch((error: unknown) => this.log.warn({ err: error, videoId }, 'could not load an updated video'));
    this.pending.set(videoId, next);
    void next.finally(() => {
      if (this.pending.get(videoId) === next) this.pending.delete(videoId);
    });
  }

  /** The current state first, to a new subscriber of one video: later states follow from notices and catch-ups. */
  private pushCurrent(id: string, subscriber: Subscriber): void {
    this.enqueue(id, async () => {
      const video = await loadVideo(this.db, id);
      if (video === null || video.lastPosition <= subscriber.position) return;
      subscriber.position = video.lastPosition;
      subscriber.push(video);
      // Not raised when already set: other subscribers may still wait for the states in between.
      if (!this.pushed.has(id)) this.pushed.set(id, video.lastPosition);
    });
  }

  /** Pushes every state of the video after the last one pushed, up to `position`. */
  private publish(videoId: string, position: bigint): void {
    this.enqueue(videoId, async () => {
      const since = this.pushed.get(videoId);
      if (since !== undefined && position <= since) return;
      const events = await readStream(this.db, videoId, { toPosition: position });
      let video: VideoState | null = null;
      const states: VideoState[] = [];
      for (const event of events) {
        video = evolve(video, event);
        if (since !== undefined && event.position > since) states.push(video);
      }
      // Nothing pushed yet for this video: its subscribers want where it is, not its whole history.
      if (since === undefined && video !== null) states.push(video);
      for (const state of states) this.deliver(state);
      const newest = states.at(-1);
      if (newest !== undefined) this.pushed.set(videoId, newest.lastPosition);
    });
  }

  /** Pushes the video again, as it is now, when only its progress changed. */
  private pushProgress(videoId: string): void {
    this.enqueue(videoId, async () => {
      const video = await loadVideo(this.db, videoId);
      if (video === null) return;
      const since = this.pushed.get(videoId);
      // The video moved on and its notice is still on the way: push the states in between first.
      if (since !== undefined && video.lastPosition > since) return this.publish(videoId, video.lastPosition);
      if (since === undefined) this.pushed.set(videoId, video.lastPosition);
      this.deliver(video, { again: true });
    });
  }

  private deliver(video: VideoState, options: { again?: boolean } = {}): void {
    // Progress only means something while PROCESSING; forget it once the video moves on.
    if (!hasProgress(video.status)) this.progress.delete(video.id);
    for (const subscriber of this.subscribers) {
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
  private async catchUp(): Promise<void> {
    const since = this.horizon;
    // Taken before the read: whatever lies below it had ended by then, so the read below sees it.
    const next = await feedHorizon(this.db);
    const everyVideo = [...this.subscribers].some((s) => s.id === null);
    const changed = since !== undefined && everyVideo ? await videosWrittenSince(this.db, since) : new Map<string, bigint>();
    const ids = [...new Set([...this.subscribers].flatMap((s) => (s.id === null ? [] : [s.id])).concat([...this.progress.keys()]))];
    for (const [id, position] of await lastPositionsOf(this.db, ids)) changed.set(id, position);
    this.horizon = next;
    for (const [videoId, position] of changed) {
      const last = this.pushed.get(videoId);
      if (last === undefined || position > last) this.publish(videoId, position);
    }
  }
}
