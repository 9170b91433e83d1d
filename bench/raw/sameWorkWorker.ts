import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { consumeRawTasks } from './rawLoop.js';
import { callAppend } from './sameWork.js';

// A same-work baseline worker process (sameWork.ts): consume with prefetch 1; read the video's row
// (the decision read); append ProcessingStarted, then VideoProcessed with the no-op processor's
// result, each through framelog_append with the projection row evolved by hand; ack.
const { DATABASE_URL, AMQP_URL, AMQP_NAMESPACE } = process.env;
if (!DATABASE_URL || !AMQP_URL || AMQP_NAMESPACE === undefined) throw new Error('sameWorkWorker needs DATABASE_URL, AMQP_URL and AMQP_NAMESPACE');

const workerId = `same-work-${process.pid}`;
/** What PROCESSOR=noop answers (services/worker/noopProcessor.ts). */
const NOOP_RESULT = {
  media: { durationSeconds: 0, width: 1, height: 1, videoCodec: 'none', audioCodec: null, frameRate: null, rotation: 0 },
  renditions: [],
  poster: null,
};

const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 2, application_name: 'raw-worker' });

interface Task {
  videoId: string;
  taskId: string;
  correlationId: string;
}

async function runTask({ videoId, taskId, correlationId }: Task, messageId: string): Promise<void> {
  const { rows } = await pool.query<{ video: Record<string, unknown> & { attempts: number; unfinished_starts: number; version: number } }>(
    'select to_jsonb(v) as video from videos v where id = $1',
    [videoId],
  );
  const video = rows[0]?.video;
  if (!video) throw new Error(`no video ${videoId}`);
  const attempt = video.attempts + 1;
  const meta = (causationId: string) => ({ correlationId, causationId, taskId, actor: `worker:${workerId}`, workerId, attempt });
  const startedId = randomUUID();
  const started = { ...video, status: 'PROCESSING', attempts: attempt, unfinished_starts: video.unfinished_starts + 1, version: video.version + 1 };
  const startedAt = Date.now();
  await callAppend(pool, videoId, video.version, [{ event_id: startedId, type: 'ProcessingStarted', data: { taskId, attempt, workerId }, metadata: meta(messageId) }], started, null);
  const processed = { ...started, status: 'PROCESSED', unfinished_starts: 0, last_error: null, ...NOOP_RESULT, version: started.version + 1 };
  const data = { taskId, attempt, ...NOOP_RESULT, elapsedMs: Date.now() - startedAt };
  await callAppend(pool, videoId, started.version, [{ event_id: randomUUID(), type: 'VideoProcessed', data, metadata: meta(startedId) }], processed, null);
}

const connection = await consumeRawTasks(AMQP_URL, AMQP_NAMESPACE, (body, message) => runTask(body as Task, String(message.properties.messageId)));

process.on('SIGTERM', () => {
  void connection.close().finally(() => pool.end().finally(() => process.exit(0)));
});
