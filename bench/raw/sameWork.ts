import { randomUUID } from 'node:crypto';
import amqplib from 'amqplib';
import type { ConfirmChannel } from 'amqplib';
import type pg from 'pg';
import { sourceKey } from '../../services/media/keys.js';
import { declareRawQueue, rawQueueName, type RawProducer } from './rawLoop.js';

/**
 * The same-work baseline: framelog's durable work per task, done by plain pg and amqplib with no
 * framework around it, on a migrated framelog database. Per task:
 * - producer: VideoUploaded with its projection row and outbox row in one `framelog_append` call
 *   (hash-chain trigger, projection upsert, notify triggers), then the message published persistent to
 *   a quorum queue with a publisher confirm, then the outbox row deleted, as the relay does;
 * - worker (sameWorkWorker.ts), prefetch 1: the decision read of the `videos` row, ProcessingStarted and
 *   VideoProcessed each through `framelog_append`, then the ack.
 * What it leaves out is framelog's own code: Rascal, kysely, zod, pino, evolve(), the relay's batching
 * and the API process.
 */

/** One call of the real append function (migrations/0006, the one framelog calls); returns nothing the caller needs. */
export async function callAppend(
  pool: pg.Pool,
  streamId: string,
  expectedVersion: number,
  events: readonly Record<string, unknown>[],
  video: Record<string, unknown>,
  outbox: Record<string, unknown> | null,
): Promise<void> {
  await pool.query('select position from framelog_append($1::uuid, $2::text, $3::integer, $4::jsonb, $5::jsonb, $6::jsonb)', [
    streamId,
    'video',
    expectedVersion,
    JSON.stringify(events),
    JSON.stringify({ table: 'videos', row: video }),
    JSON.stringify(outbox === null ? [] : [outbox]),
  ]);
}

/** The `videos` row of a fresh upload, as framelog's projection encodes it (projection.ts). */
function uploadedRow(videoId: string, taskId: string, storageKey: string): Record<string, unknown> {
  const now = new Date().toISOString();
  return {
    id: videoId, status: 'QUEUED', title: null, original_filename: 'bench.mp4', content_type: 'video/mp4', size_bytes: '1',
    sha256: '0'.repeat(64), storage_key: storageKey, current_task_id: taskId, attempts: 0, unfinished_starts: 0, last_error: null,
    media: null, renditions: [], poster: null, uploaded_at: now, updated_at: now, version: 1, created_position: '0', last_position: '0',
  };
}

function publishConfirmed(channel: ConfirmChannel, queue: string, body: unknown, messageId: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    channel.sendToQueue(queue, Buffer.from(JSON.stringify(body)), { persistent: true, contentType: 'application/json', messageId }, (error) =>
      error ? reject(error instanceof Error ? error : new Error(String(error))) : resolve(),
    );
  });
}

export async function createSameWorkProducer(pool: pg.Pool, amqpUrl: string, namespace: string): Promise<RawProducer> {
  const connection = await amqplib.connect(amqpUrl);
  const channel = await connection.createConfirmChannel();
  await declareRawQueue(channel, namespace);
  const queue = rawQueueName(namespace);
  return {
    async submit(videoId = randomUUID()) {
      const taskId = randomUUID();
      const eventId = randomUUID();
      const correlationId = randomUUID();
      const storageKey = sourceKey(videoId);
      const data = { taskId, title: null, originalFilename: 'bench.mp4', contentType: 'video/mp4', sizeBytes: 1, sha256: '0'.repeat(64), storageKey };
      const payload = { schema: 2, kind: 'transcode', videoId, taskId };
      await callAppend(
        pool,
        videoId,
        0,
        [{ event_id: eventId, type: 'VideoUploaded', data, metadata: { correlationId, causationId: null, taskId, actor: 'bench' } }],
        uploadedRow(videoId, taskId, storageKey),
        { id: eventId, routing_key: 'video.process', payload, headers: { correlationId } },
      );
      await publishConfirmed(channel, queue, { ...payload, correlationId }, eventId);
      await pool.query('delete from outbox where id = $1', [eventId]);
      return videoId;
    },
    async close() {
      await connection.close();
    },
  };
}
