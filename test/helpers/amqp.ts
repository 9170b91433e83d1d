import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import amqplib from 'amqplib';
import type { Channel, GetMessage, Options } from 'amqplib';
import type { Logger } from '../../services/messaging/broker.js';
import { buildBrokerConfig, qualify, vhostFromUrl, type BrokerSettings } from '../../services/messaging/topology.js';
import { AMQP_URL } from './env.js';

const run = promisify(execFile);

/** A fresh Rascal namespace: call once per test file, so files never see each other's queues. */
export function testNamespace(): string {
  return `test-${randomBytes(5).toString('hex')}`;
}

/** Settings for tests: short delays so retries come back within a test's patience. */
export function brokerSettingsForTest(namespace: string, overrides: Partial<BrokerSettings> = {}): BrokerSettings {
  return {
    amqpUrl: AMQP_URL,
    namespace,
    deliveryLimit: 3,
    retryDelaysMs: [300, 1_000],
    requeueDelayMs: 100,
    confirmPoolMax: 64,
    publishTimeoutMs: 5_000,
    heartbeatSeconds: 10,
    closeTimeoutMs: 10_000,
    // Lets a test find (and close) its own connection among everyone else's.
    connectionName: namespace,
    ...overrides,
  };
}

/** Runs `fn` on a channel of a connection of its own (amqplib, independent of Rascal), then closes it. */
export async function withChannel<T>(fn: (channel: Channel) => Promise<T>): Promise<T> {
  const connection = await amqplib.connect(AMQP_URL);
  // A failed passive declare closes the channel with an error event; the rejection carries it.
  connection.on('error', () => undefined);
  try {
    const channel = await connection.createChannel();
    channel.on('error', () => undefined);
    return await fn(channel);
  } finally {
    await connection.close().catch(() => undefined);
  }
}

/** Ready messages in a queue of the namespace (unacknowledged ones are not counted). */
export async function queueDepth(namespace: string, queue: string): Promise<number> {
  return withChannel(async (channel) => (await channel.checkQueue(qualify(namespace, queue))).messageCount);
}

/** Takes (and acknowledges) the next ready message of a queue, or null when there is none. */
export async function getMessage(namespace: string, queue: string): Promise<GetMessage | null> {
  return withChannel(async (channel) => (await channel.get(qualify(namespace, queue), { noAck: true })) || null);
}

/** Takes every ready message of a queue. */
export async function drainQueue(namespace: string, queue: string): Promise<GetMessage[]> {
  return withChannel(async (channel) => {
    const messages: GetMessage[] = [];
    for (;;) {
      const message = await channel.get(qualify(namespace, queue), { noAck: true });
      if (!message) return messages;
      messages.push(message);
    }
  });
}

/** Publishes bytes as any producer could (not through framelog's publisher), with a confirm. */
export async function publishRaw(namespace: string, exchange: string, routingKey: string, content: Buffer, options: Options.Publish = {}): Promise<void> {
  const connection = await amqplib.connect(AMQP_URL);
  try {
    const channel = await connection.createConfirmChannel();
    channel.publish(qualify(namespace, exchange), routingKey, content, options);
    await channel.waitForConfirms();
  } finally {
    await connection.close();
  }
}

async function rabbitmqctl<T>(args: string[]): Promise<T[]> {
  const { stdout } = await run('rabbitmqctl', ['-q', '--formatter', 'json', ...args, '-p', vhostFromUrl(AMQP_URL)]);
  return JSON.parse(stdout) as T[];
}

export interface QueueInfo {
  name: string;
  type: string;
  durable: boolean;
  arguments: Record<string, unknown>;
}

/**
 * Queues of the namespace as the broker reports them (rabbitmqctl: no management plugin needed).
 * The table output is used because the JSON formatter of RabbitMQ 3.10 prints argument types
 * instead of their values.
 */
export async function listQueues(namespace: string): Promise<QueueInfo[]> {
  const { stdout } = await run('rabbitmqctl', ['-q', '--no-table-headers', 'list_queues', 'name', 'type', 'durable', 'arguments', '-p', vhostFromUrl(AMQP_URL)]);
  return stdout
    .split('\n')
    .filter((line) => line.startsWith(qualify(namespace, '')))
    .map((line) => {
      const [name = '', type = '', durable = '', args = '[]'] = line.split('\t');
      return { name, type, durable: durable === 'true', arguments: parseArguments(args) };
    });
}

/** `[{"x-queue-type","quorum"},{"x-delivery-limit",7}]` → { 'x-queue-type': 'quorum', 'x-delivery-limit': 7 } */
function parseArguments(printed: string): Record<string, unknown> {
  const pairs = JSON.parse(printed.replaceAll('{', '[').replaceAll('}', ']')) as [string, unknown][];
  return Object.fromEntries(pairs);
}

export interface ExchangeInfo {
  name: string;
  type: string;
  durable: boolean;
}

export async function listExchanges(namespace: string): Promise<ExchangeInfo[]> {
  const exchanges = await rabbitmqctl<ExchangeInfo>(['list_exchanges', 'name', 'type', 'durable']);
  return exchanges.filter((exchange) => exchange.name.startsWith(qualify(namespace, '')));
}

export interface BindingInfo {
  source_name: string;
  destination_name: string;
  routing_key: string;
}

export async function listBindings(namespace: string): Promise<BindingInfo[]> {
  const bindings = await rabbitmqctl<BindingInfo>(['list_bindings', 'source_name', 'destination_name', 'routing_key']);
  return bindings.filter((binding) => binding.source_name.startsWith(qualify(namespace, '')));
}

export interface ConsumerInfo {
  queue_name: string;
  prefetch_count: number;
  ack_required: boolean;
}

export async function listConsumers(namespace: string): Promise<ConsumerInfo[]> {
  const consumers = await rabbitmqctl<ConsumerInfo>(['list_consumers', 'queue_name', 'prefetch_count', 'ack_required']);
  return consumers.filter((consumer) => consumer.queue_name.startsWith(qualify(namespace, '')));
}

/**
 * Closes, from the broker's side, every connection whose client named itself `connectionName`
 * (brokerSettingsForTest names them after the namespace): a network failure as the client sees it.
 * Returns how many were closed.
 */
export async function closeConnections(connectionName: string): Promise<number> {
  const { stdout } = await run('rabbitmqctl', ['-q', '--no-table-headers', 'list_connections', 'pid', 'client_properties']);
  const pids = stdout
    .split('\n')
    .filter((line) => line.includes(`{"connection_name","${connectionName}"}`))
    .map((line) => line.split('\t')[0] ?? '');
  for (const pid of pids) await run('rabbitmqctl', ['-q', 'close_connection', pid, 'closed by a test']);
  return pids.length;
}

/**
 * Deletes every queue and exchange of the namespace: those the broker lists under its prefix (which
 * includes anything a process of the test declared) and, should listing fail, those the settings
 * declare. Close the brokers using the namespace first: deleting a consumed queue cancels consumers.
 */
export async function removeNamespace(namespace: string, settings?: BrokerSettings): Promise<void> {
  if (!namespace) throw new Error('removeNamespace needs a namespace; refusing to delete unprefixed queues.');
  const queues = new Set<string>();
  const exchanges = new Set<string>();
  if (settings) {
    for (const vhost of Object.values(buildBrokerConfig(settings).vhosts)) {
      for (const name of Object.keys(vhost.queues)) queues.add(qualify(namespace, name));
      for (const name of Object.keys(vhost.exchanges)) exchanges.add(qualify(namespace, name));
    }
  }
  const [listedQueues, listedExchanges] = await Promise.all([listQueues(namespace), listExchanges(namespace)]).catch(
    (error: unknown) => {
      if (settings) return [[], []];
      throw error;
    },
  );
  for (const queue of listedQueues) queues.add(queue.name);
  for (const exchange of listedExchanges) exchanges.add(exchange.name);

  await withChannel(async (channel) => {
    // Deleting what does not exist is not an error for RabbitMQ, so the union is safe.
    for (const queue of queues) await channel.deleteQueue(queue);
    for (const exchange of exchanges) await channel.deleteExchange(exchange);
  });
}

export interface LogEntry {
  level: 'info' | 'warn' | 'error';
  fields: object;
  message: string;
}

export interface RecordingLogger extends Logger {
  readonly entries: LogEntry[];
  /** Resolves with the first entry (logged already or later) that matches; rejects after the timeout. */
  waitFor(predicate: (entry: LogEntry) => boolean, timeoutMs?: number): Promise<LogEntry>;
}

/** A Logger for the messaging modules that keeps what they log, so tests can wait for and assert it. */
export function recordingLogger(): RecordingLogger {
  const entries: LogEntry[] = [];
  const waiters = new Set<(entry: LogEntry) => void>();
  const record = (level: LogEntry['level']) => (fields: object, message = '') => {
    const entry = { level, fields, message };
    entries.push(entry);
    for (const waiter of [...waiters]) waiter(entry);
  };
  return {
    entries,
    info: record('info'),
    warn: record('warn'),
    error: record('error'),
    waitFor(predicate, timeoutMs = 10_000) {
      const found = entries.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`No matching log entry within ${timeoutMs} ms; got: ${JSON.stringify(entries.map((e) => e.message))}`));
        }, timeoutMs);
        const check = (entry: LogEntry) => {
          if (!predicate(entry)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(entry);
        };
        waiters.add(check);
      });
    },
  };
}
