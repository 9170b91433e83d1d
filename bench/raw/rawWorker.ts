import amqplib from 'amqplib';
import pg from 'pg';
import { declareRawQueue, rawQueueName } from './rawLoop.js';

// A raw baseline worker process: consume with prefetch 1, append the outcome, ack.
const { DATABASE_URL, AMQP_URL, AMQP_NAMESPACE } = process.env;
if (!DATABASE_URL || !AMQP_URL || AMQP_NAMESPACE === undefined) throw new Error('rawWorker needs DATABASE_URL, AMQP_URL and AMQP_NAMESPACE');

const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 2, application_name: 'raw-worker' });
const connection = await amqplib.connect(AMQP_URL);
const channel = await connection.createChannel();
await declareRawQueue(channel, AMQP_NAMESPACE);
await channel.prefetch(1);
await channel.consume(rawQueueName(AMQP_NAMESPACE), (message) => {
  if (message === null) return;
  void (async () => {
    const { streamId } = JSON.parse(message.content.toString()) as { streamId: string };
    await pool.query(`insert into raw_events (stream_id, type, data) values ($1, 'Processed', '{}')`, [streamId]);
    channel.ack(message);
  })().catch((error: unknown) => {
    console.error(JSON.stringify({ msg: 'raw task failed', error: String(error) }));
    channel.nack(message, false, true);
  });
});
console.log(JSON.stringify({ msg: 'worker ready' }));

process.on('SIGTERM', () => {
  void connection.close().finally(() => pool.end().finally(() => process.exit(0)));
});
