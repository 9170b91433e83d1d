import { randomUUID } from 'node:crypto';
import { appendToStream } from '../../services/eventstore/append.js';
import type { Db } from '../../services/eventstore/db.js';
import { sourceKey } from '../../services/media/keys.js';
import { taskOutboxMessage } from '../../services/messaging/taskOutbox.js';

/**
 * What `uploadVideo` commits once the file is stored — VideoUploaded and its task's outbox row in one
 * append — without the file: the task benchmarks start at the upload event (the no-op processor never
 * reads the source). Returns the video id.
 */
export async function appendUploadEvent(db: Db): Promise<string> {
  const videoId = randomUUID();
  const taskId = randomUUID();
  const eventId = randomUUID();
  const correlationId = randomUUID();
  const key = sourceKey(videoId);
  await appendToStream(db, {
    streamId: videoId,
    expectedVersion: 0,
    state: null,
    events: [
      {
        eventId,
        event: {
          type: 'VideoUploaded',
          data: { taskId, title: null, originalFilename: 'bench.mp4', contentType: 'video/mp4', sizeBytes: 1, sha256: '0'.repeat(64), storageKey: key },
        },
        metadata: { correlationId, causationId: null, taskId, actor: 'bench' },
      },
    ],
    outbox: taskOutboxMessage({ eventId, videoId, taskId, storageKey: key, correlationId }),
  });
  return videoId;
}
