import { randomUUID } from 'node:crypto';
import amqplib from 'amqplib';
import type { ConfirmChannel } from 'amqplib';
import type pg from 'pg';
import { qualify } from '../../services/messaging/topology.js';

/**
 * The raw baseline: amqplib and pg doing only what the pipeline must do for one task — append an
 * event, publish a persistent message with a publisher confirm, consume it with prefetch 1, append the
 * outcome, ack. Same durability as framelog (a durable quorum queue, persistent messages, confirms,
 * committed inserts), none of its bookkeeping (hash chain, projection, outbox, retries).
 */

/** Qualified like Rascal's names, so removeNamespace finds it. */
export const rawQueueName = (namespace: string): string => qualify(namespace, 'raw_tasks');

/** The baseline's table: an append-only log, as plain as it gets. */
export async function createRawSchema(pool: pg.Pool): Promise<void> {
  await pool.query(`
    create table raw_events (
      position    bigint generated always as identity primary key,
      stream_id   uuid not null,
      type        text not null,
      data        jsonb not null,
      recorded_at timestamptz not null default now()
    )`);
}

export async function declareRawQueue(channel: amqplib.Channel, namespace: string): Promise<void> {
  await channel.assertQueue(rawQueueName(namespace), { durable: true, arguments: { 'x-queue-type': 'quorum' } });
}

/**
 * A baseline worker's consumer: prefetch 1 on the baseline's queue; `handle` does the task's work and
 * the message is acked once it resolves (requeued if it throws). Logs `worker ready` once consuming.
 * Returns the connection, for closing on SIGTERM.
 */
export async function consumeRawTasks(amqpUrl: string, namespace: string, handle: (body: unknown, message: amqplib.ConsumeMessage) => Promise<void>): Promise<amqplib.ChannelModel> {
  const connection = await amqplib.connect(amqpUrl);
  const channel = await connection.createChannel();
  await declareRawQueue(channel, namespace);
  await channel.prefetch(1);
  await channel.consume(rawQueueName(namespace), (message) => {
    if (message === null) return;
    Promise.resolve()
      .then(() => handle(JSON.parse(message.content.toString()) as unknown, message))
      .then(
        () => channel.ack(message),
        (error: unknown) => {
          console.error(JSON.stringify({ msg: 'raw task failed', error: String(error) }));
          channel.nack(message, false, true);
        },
      );
  });
  console.log(JSON.stringify({ msg: 'worker ready' }));
  return connection;
}

export interface RawProducer {
  /** Appends the upload event, then publishes the task with a confirm; resolves once both are durable. */
  submit(streamId?: string): Promise<string>;
  close(): Promise<void>;
}

export async function createRawProducer(pool: pg.Pool, amqpUrl: string, namespace: string): Promise<RawProducer> {
  const connection = await amqplib.connect(amqpUrl);
  const channel: ConfirmChannel = await connection.createConfirmChannel();
  await declareRawQueue(channel, namespace);
  const queue = rawQueueName(namespace);
  return {
    async submit(streamId = randomUUID()) {
      await pool.query(`insert into raw_events (stream_id, type, data) values ($1, 'Uploaded', $2)`, [streamId, JSON.stringify({ taskId: randomUUID() })]);
      await new Promise<void>((resolve, reject) => {
        channel.sendToQueue(queue, Buffer.from(JSON.stringify({ streamId })), { persistent: true, contentType: 'application/json' }, (error) =>
          error ? reject(error instanceof Error ? error : new Error(String(error))) : resolve(),
        );
      });
      return streamId;
    },
    async close() {
      await connection.close();
    },
  };
}
