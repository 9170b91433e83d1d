import amqplib, { type ChannelModel } from 'amqplib';
import { qualify } from './topology.js';

export interface QueueDepthProbe {
  /** Ready messages in the queue (unacknowledged deliveries are not counted). */
  depth(): Promise<number>;
  close(): Promise<void>;
}

/**
 * Reads a queue's depth for /metrics over a connection of its own: passive checkQueue on Rascal's
 * channels would close them when the queue is missing, and Rascal does not lend its channels out.
 * Connects lazily and again after any failure, so a broker restart heals on the next scrape.
 */
export function createQueueDepthProbe(amqpUrl: string, namespace: string, queue: string): QueueDepthProbe {
  const name = qualify(namespace, queue);
  let connection: Promise<ChannelModel> | undefined;
  const drop = () => {
    const current = connection;
    connection = undefined;
    void current?.then((c) => c.close()).catch(() => undefined);
  };
  return {
    async depth() {
      if (!connection) {
        const opening: Promise<ChannelModel> = amqplib.connect(amqpUrl).then((c) => {
          // An error event without a listener would crash the process; the next scrape reconnects.
          c.on('error', () => undefined);
          c.on('close', () => {
            if (connection === opening) connection = undefined;
          });
          return c;
        });
        connection = opening;
      }
      try {
        const channel = await (await connection).createChannel();
        try {
          return (await channel.checkQueue(name)).messageCount;
        } finally {
          await channel.close().catch(() => undefined);
        }
      } catch (error) {
        drop();
        throw error;
      }
    },
    async close() {
      const current = connection;
      connection = undefined;
      await current?.then((c) => c.close()).catch(() => undefined);
    },
  };
}
