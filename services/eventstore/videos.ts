import { CompiledQuery } from 'kysely';
import type { VideoState, VideoStatus } from '../domain/video.js';
import type { Db } from './db.js';
import { videoRowToState } from './projection.js';
import type { VideoRow } from './schema.js';

/** Compiled once: `video(id)` runs it on every request, where Kysely's builder cost ~2 % of the API's CPU. */
const LOAD_VIDEO_SQL = 'select * from videos where id = $1';

/** The projected state of one video, or null. */
export async function loadVideo(db: Db, id: string): Promise<VideoState | null> {
  const { rows } = await db.executeQuery<VideoRow>(CompiledQuery.raw(LOAD_VIDEO_SQL, [id]));
  return rows[0] ? videoRowToState(rows[0]) : null;
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
