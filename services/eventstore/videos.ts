import type { VideoState, VideoStatus } from '../domain/video.js';
import type { Db } from './db.js';
import { videoRowToState } from './projection.js';

/** The projected state of one video, or null. */
export async function loadVideo(db: Db, id: string): Promise<VideoState | null> {
  const row = await db.selectFrom('videos').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? videoRowToState(row) : null;
}

export interface ListVideosOptions {
  status?: VideoStatus;
  /** Exclusive: videos uploaded before this log position (the cursor). */
  beforePosition?: bigint;
  limit: number;
}

/** Newest first, keyed by the upload's log position: stable while uploads continue. */
export async function listVideos(db: Db, options: ListVideosOptions): Promise<VideoState[]> {
  let query = db.selectFrom('videos').selectAll();
  if (options.status !== undefined) query = query.where('status', '=', options.status);
  if (options.beforePosition !== undefined) query = query.where('created_position', '<', options.beforePosition.toString());
  const rows = await query.orderBy('created_position', 'desc').limit(options.limit).execute();
  return rows.map(videoRowToState);
}
