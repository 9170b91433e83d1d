import { sql } from 'kysely';
import { UploadStartedData } from '../domain/events.js';
import type { z } from 'zod';
import type { Db } from './db.js';

export type UploadStart = z.infer<typeof UploadStartedData>;

/** The UploadStarted that opened a video's resumable upload (its owner, size, expiry), or null for any other stream. */
export async function loadUploadStart(db: Db, videoId: string): Promise<UploadStart | null> {
  const row = await db
    .selectFrom('events')
    .select('data')
    .where('stream_id', '=', videoId)
    .where('version', '=', 1)
    .where('type', '=', 'UploadStarted')
    .executeTakeFirst();
  return row ? UploadStartedData.parse(row.data) : null;
}

export interface PendingUpload {
  videoId: string;
  sizeBytes: number;
  expiresAt: Date;
}

/** Every video still UPLOADING, with when its upload expires (oldest first). */
export async function listPendingUploads(db: Db, limit: number): Promise<PendingUpload[]> {
  const rows = await db
    .selectFrom('videos as v')
    .innerJoin('events as e', (join) => join.onRef('e.stream_id', '=', 'v.id').on('e.version', '=', 1))
    .select(['v.id', 'v.size_bytes', sql<string>`e.data->>'expiresAt'`.as('expires_at')])
    .where('v.status', '=', 'UPLOADING')
    .orderBy('v.created_position')
    .limit(limit)
    .execute();
  return rows.map((row) => ({ videoId: row.id, sizeBytes: Number(row.size_bytes), expiresAt: new Date(row.expires_at) }));
}
