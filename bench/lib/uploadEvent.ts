import { randomUUID } from 'node:crypto';
import { recordUpload } from '../../services/api/commands/uploadVideo.js';
import type { Db } from '../../services/eventstore/db.js';

/**
 * What `uploadVideo` commits once the file is stored — VideoUploaded and its task's outbox row in one
 * append — without the file: the task benchmarks start at the upload event (the no-op processor never
 * reads the source). Returns the video id.
 */
export async function appendUploadEvent(db: Db): Promise<string> {
  const videoId = randomUUID();
  await recordUpload(db, {
    videoId,
    title: null,
    originalFilename: 'bench.mp4',
    contentType: 'video/mp4',
    sizeBytes: 1,
    sha256: '0'.repeat(64),
    actor: 'bench',
    correlationId: randomUUID(),
  });
  return videoId;
}
