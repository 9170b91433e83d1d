import pg from 'pg';
import { consumeRawTasks } from './rawLoop.js';

// A raw baseline worker process: consume with prefetch 1, append the outcome, ack.
const { DATABASE_URL, AMQP_URL, AMQP_NAMESPACE } = process.env;
if (!DATABASE_URL || !AMQP_URL || AMQP_NAMESPACE === undefined) throw new Error('rawWorker needs DATABASE_URL, AMQP_URL and AMQP_NAMESPACE');

const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 2, application_name: 'raw-worker' });
const connection = await consumeRawTasks(AMQP_URL, AMQP_NAMESPACE, async (body) => {
  const { streamId } = body as { streamId: string };
  await pool.query(`insert into raw_events (stream_id, type, data) values ($1, 'Processed', '{}')`, [streamId]);
});

process.on('SIGTERM', () => {
  void connection.close().finally(() => pool.end().finally(() => process.exit(0)));
});
