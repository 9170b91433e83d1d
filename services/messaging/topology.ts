import { ErrorCode, FramelogError } from '../domain/errors.js';
import { TaskRoutingKeys } from './taskMessage.js';

/**
 * The RabbitMQ topology (DESIGN §4) as one Rascal configuration, built by a pure function from typed
 * settings. Names here are as declared; Rascal prefixes every exchange and queue with the namespace.
 */
export const Names = {
  exchange: 'video',
  deadLetterExchange: 'video.dead-letter',
  workQueue: 'video_processing',
  deadLetterQueue: 'video_processing.dead',
  /**
   * Gets a copy of every dead letter (bound to the dead-letter exchange like the DLQ), so workers can
   * record VideoFailed for a task the broker dead-lettered on its own; the DLQ keeps its copy.
   */
  deadLetterWatchQueue: 'video_processing.dead.watch',
  /** Routing key of task messages; the outbox rows carry it. */
  taskRoutingKey: TaskRoutingKeys.transcode,
  deadLetterRoutingKey: 'video_processing.dead',
  taskPublication: 'task',
  deadLetterPublication: 'dead_letter',
  /** To the delay queue of `requeueDelayMs`. */
  requeuePublication: 'requeue',
  subscription: 'video_processing',
  deadLetterWatchSubscription: 'video_processing.dead.watch',
} as const;

const DELAY_QUEUE_PREFIX = `${Names.workQueue}.delay.`;
export const delayQueueName = (delayMs: number): string => `${DELAY_QUEUE_PREFIX}${delayMs}`;
export const delayPublicationName = (delayMs: number): string => `delay.${delayMs}`;

export interface BrokerSettings {
  /** amqp(s)://user:password@host:port/vhost; the vhost path is honoured (`/` when absent). */
  amqpUrl: string;
  /** Prefix of every exchange and queue name (Rascal namespace); '' for none. Tests use one per file. */
  namespace: string;
  /**
   * `x-delivery-limit` of the work queue: deliveries that may fail (worker crash, nack with requeue)
   * before the broker dead-letters the message. Retries and requeues publish a new message and so do
   * not count against it. A backstop above the log's DELIVERY_LIMIT (see brokerDeliveryLimit).
   */
  deliveryLimit: number;
  /**
   * How long a cancelled subscription keeps its channel open for the message in hand to be settled.
   * Must outlast the worker's shutdown grace plus the settle, or the requeue after the grace period
   * would find the channel closed (and the broker would count a failed delivery).
   */
  closeTimeoutMs: number;
  /** Backoff steps; each gets a delay queue whose TTL sends messages back to the work queue. */
  retryDelaysMs: readonly number[];
  /** How long a `requeue` outcome (shutdown, database down) waits before the task is delivered again. */
  requeueDelayMs: number;
  /** Confirm channels held at once; each is borrowed until its confirm, so this caps publish concurrency. */
  confirmPoolMax: number;
  /** How long a publish waits for the broker's confirm before it fails. */
  publishTimeoutMs: number;
  heartbeatSeconds: number;
  /** Shown by RabbitMQ for the connection (rabbitmqctl list_connections client_properties). */
  connectionName?: string;
}

export const DEFAULT_BROKER_SETTINGS = {
  requeueDelayMs: 1_000,
  // Rascal's default of 5 capped confirmed publishing near 1.6k msg/s; 64 gave 4.6k (DESIGN §7).
  confirmPoolMax: 64,
  publishTimeoutMs: 10_000,
  heartbeatSeconds: 10,
} as const satisfies Partial<BrokerSettings>;

/**
 * The broker's delivery limit sits this far above the log's DELIVERY_LIMIT. The log gives up first and
 * records VideoFailed (REDELIVERY_LIMIT) on delivery DELIVERY_LIMIT + 1; the broker only stops a message
 * whose give-up delivery crashed too, or one that never reaches the log (a handler that throws early).
 * Such a message is then recorded by the dead-letter watcher (services/worker/recordDeadLetter.ts).
 */
export const BROKER_DELIVERY_LIMIT_MARGIN = 1;

/** Time a cancelled subscription allows, past the shutdown grace, for the last attempt to unwind and settle. */
const SETTLE_MARGIN_MS = 15_000;

/** What the broker settings follow from, in plain units (services/main maps the settings onto it). */
export interface BrokerOptions {
  amqpUrl: string;
  namespace: string;
  /** The log's delivery limit (DELIVERY_LIMIT); the broker's sits BROKER_DELIVERY_LIMIT_MARGIN above it. */
  deliveryLimit: number;
  retryDelaysMs: readonly number[];
  /** How long a stopping worker lets its current task finish (SHUTDOWN_GRACE_SECONDS, in ms). */
  shutdownGraceMs: number;
}

export function brokerSettings(options: BrokerOptions, overrides: Partial<BrokerSettings> = {}): BrokerSettings {
  return {
    ...DEFAULT_BROKER_SETTINGS,
    amqpUrl: options.amqpUrl,
    namespace: options.namespace,
    deliveryLimit: options.deliveryLimit + BROKER_DELIVERY_LIMIT_MARGIN,
    retryDelaysMs: options.retryDelaysMs,
    closeTimeoutMs: options.shutdownGraceMs + SETTLE_MARGIN_MS,
    ...overrides,
  };
}

/** The vhost named by the URL's path (`amqp://host/framelog` → `framelog`); `/` when there is none. */
export function vhostFromUrl(amqpUrl: string): string {
  const path = new URL(amqpUrl).pathname.replace(/^\//, '');
  return path === '' ? '/' : decodeURIComponent(path);
}

/** The name Rascal gives an exchange or queue under a namespace (mirrors its `fqn.qualify`). */
export const qualify = (namespace: string, name: string): string => (namespace ? `${namespace}:${name}` : name);

/** Every delay that has a delay queue: the retry steps plus the requeue delay, ascending. */
export function delaySteps(settings: Pick<BrokerSettings, 'retryDelaysMs' | 'requeueDelayMs'>): number[] {
  const steps = new Set([...settings.retryDelaysMs, settings.requeueDelayMs].filter((ms) => ms > 0));
  return [...steps].sort((a, b) => a - b);
}

/**
 * The delay queue for a wanted delay: the shortest step at least as long, so a retry never comes back
 * sooner than asked; past the longest step, the longest (a delay queue per distinct delay keeps every
 * queue FIFO in expiry order, which per-message TTLs would not).
 */
export function delayStepFor(delayMs: number, steps: readonly number[]): number {
  const step = steps.find((ms) => ms >= delayMs) ?? steps.at(-1);
  if (step === undefined) throw new RangeError('No delay queue is configured.');
  return step;
}

/** Which delay queues exist and which one takes requeued messages. */
export interface DelayPlan {
  stepsMs: number[];
  requeueDelayMs: number;
}

const DELAY_PUBLICATION = /^delay\.(\d+)$/;

/**
 * Reads the delay plan back from a configuration made by buildBrokerConfig, before or after Rascal
 * processed it (`broker.config` lifts publications out of the vhost), so that a subscriber needs only
 * the broker it was given.
 */
export function delayPlanOf(config: object): DelayPlan {
  const publications = new Map<string, unknown>();
  const collect = (record: unknown) => {
    if (typeof record !== 'object' || record === null) return;
    for (const [name, definition] of Object.entries(record)) publications.set(name, definition);
  };
  const { vhosts, publications: topLevel } = config as { vhosts?: Record<string, { publications?: unknown }>; publications?: unknown };
  for (const vhost of Object.values(vhosts ?? {})) collect(vhost.publications);
  collect(topLevel);

  const stepsMs = [...publications.keys()]
    .map((name) => DELAY_PUBLICATION.exec(name)?.[1])
    .filter((ms): ms is string => ms !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
  const requeueQueue = (publications.get(Names.requeuePublication) as { queue?: unknown } | undefined)?.queue;
  const requeueDelayMs =
    typeof requeueQueue === 'string' && requeueQueue.startsWith(DELAY_QUEUE_PREFIX)
      ? Number(requeueQueue.slice(DELAY_QUEUE_PREFIX.length))
      : Number.NaN;
  if (stepsMs.length === 0 || !stepsMs.includes(requeueDelayMs)) {
    throw new FramelogError(ErrorCode.CONFIG_INVALID, 'The broker configuration has no delay queues; build it with buildBrokerConfig().');
  }
  return { stepsMs, requeueDelayMs };
}

function assertSettings(settings: BrokerSettings): void {
  const problems = [
    Number.isInteger(settings.requeueDelayMs) && settings.requeueDelayMs >= 1
      ? null
      : 'requeueDelayMs must be a whole number of milliseconds, at least 1 (a requeue waits in a delay queue)',
    settings.deliveryLimit >= 1 ? null : 'deliveryLimit must be at least 1',
    settings.confirmPoolMax >= 1 ? null : 'confirmPoolMax must be at least 1',
    settings.retryDelaysMs.every((ms) => Number.isInteger(ms) && ms >= 0) ? null : 'retryDelaysMs must be whole milliseconds',
  ].filter((problem) => problem !== null);
  if (problems.length > 0) {
    throw new FramelogError(ErrorCode.CONFIG_INVALID, `Invalid broker settings — ${problems.join('; ')}`, { details: { problems } });
  }
}

export interface ExchangeDefinition {
  type: 'direct';
  options: { durable: boolean };
}
export interface QueueDefinition {
  options: { durable: boolean; arguments: Record<string, string | number> };
}
export interface BindingDefinition {
  source: string;
  destination: string;
  destinationType: 'queue';
  bindingKey: string;
}
export interface PublicationDefinition {
  exchange?: string;
  queue?: string;
  routingKey?: string;
  confirm: true;
  timeout: number;
  options: { persistent: true; mandatory: true; contentType?: string };
}
export interface SubscriptionDefinition {
  queue: string;
  prefetch: number;
  contentType: string;
  options: { noAck: false };
  closeTimeout: number;
  retry: { min: number; max: number; factor: number; strategy: 'exponential' };
}
export interface VhostDefinition {
  namespace?: string;
  connection: {
    url: string;
    options: Record<string, number>;
    socketOptions: { timeout: number; clientProperties?: { connection_name: string } };
    retry: { min: number; max: number; factor: number; strategy: 'exponential' };
  };
  publicationChannelPools: { confirmPool: { max: number; min: number }; regularPool: { max: number; min: number } };
  exchanges: Record<string, ExchangeDefinition>;
  queues: Record<string, QueueDefinition>;
  bindings: Record<string, BindingDefinition>;
  publications: Record<string, PublicationDefinition>;
  subscriptions: Record<string, SubscriptionDefinition>;
}
export interface BrokerConfig {
  vhosts: Record<string, VhostDefinition>;
}

// Factories rather than shared constants: Rascal fills in defaults (names included) by mutating the
// objects of the configuration, so one object used in two places would take the first one's name.
const durableDirect = (): ExchangeDefinition => ({ type: 'direct', options: { durable: true } });
const reconnect = () => ({ min: 1_000, max: 30_000, factor: 2, strategy: 'exponential' }) as const;
const persistent = () => ({ persistent: true, mandatory: true }) as const;

/** The whole Rascal configuration for framelog's topology. Pure: no I/O. */
export function buildBrokerConfig(settings: BrokerSettings): BrokerConfig {
  assertSettings(settings);
  const steps = delaySteps(settings);
  const vhost: VhostDefinition = {
    ...(settings.namespace ? { namespace: settings.namespace } : {}),
    connection: connectionOf(settings),
    publicationChannelPools: {
      confirmPool: { max: settings.confirmPoolMax, min: 1 },
      regularPool: { max: 5, min: 1 },
    },
    exchanges: { [Names.exchange]: durableDirect(), [Names.deadLetterExchange]: durableDirect() },
    queues: queuesOf(settings, steps),
    bindings: bindingsOf(),
    publications: publicationsOf(settings, steps),
    subscriptions: subscriptionsOf(settings),
  };
  return { vhosts: { [vhostFromUrl(settings.amqpUrl)]: vhost } };
}

function connectionOf(settings: BrokerSettings): VhostDefinition['connection'] {
  return {
    url: settings.amqpUrl,
    // Query parameters of the URL take precedence over these.
    options: {
      heartbeat: settings.heartbeatSeconds,
      connection_timeout: 10_000,
      // The confirm pool, the regular pool, the subscription and Rascal's own channels.
      channelMax: settings.confirmPoolMax + 32,
    },
    socketOptions: {
      timeout: 10_000,
      ...(settings.connectionName ? { clientProperties: { connection_name: settings.connectionName } } : {}),
    },
    retry: reconnect(),
  };
}

/** The work queue (quorum, with the delivery limit and at-least-once dead-lettering), the dead-letter queues and one delay queue per step. */
function queuesOf(settings: BrokerSettings, steps: readonly number[]): Record<string, QueueDefinition> {
  const queues: Record<string, QueueDefinition> = {
    [Names.workQueue]: {
      options: {
        durable: true,
        arguments: {
          'x-queue-type': 'quorum',
          'x-delivery-limit': settings.deliveryLimit,
          // Rascal qualifies x-dead-letter-exchange with the namespace; routing keys stay as written.
          'x-dead-letter-exchange': Names.deadLetterExchange,
          'x-dead-letter-routing-key': Names.deadLetterRoutingKey,
          // At-least-once dead-lettering (RabbitMQ ≥ 3.10, feature flag stream_queue) keeps a message
          // until the dead-letter queue confirmed it; it only applies with overflow reject-publish.
          'x-dead-letter-strategy': 'at-least-once',
          'x-overflow': 'reject-publish',
        },
      },
    },
    [Names.deadLetterQueue]: { options: { durable: true, arguments: {} } },
    [Names.deadLetterWatchQueue]: { options: { durable: true, arguments: {} } },
  };
  for (const ms of steps) {
    // Messages wait here for their TTL, then the broker dead-letters them back to the work queue.
    queues[delayQueueName(ms)] = {
      options: {
        durable: true,
        arguments: {
          'x-message-ttl': ms,
          'x-dead-letter-exchange': Names.exchange,
          'x-dead-letter-routing-key': Names.taskRoutingKey,
        },
      },
    };
  }
  return queues;
}

/** Every publication confirmed: tasks, dead letters, one per delay step, and the requeue one. */
function publicationsOf(settings: BrokerSettings, steps: readonly number[]): Record<string, PublicationDefinition> {
  const confirmed = { confirm: true, timeout: settings.publishTimeoutMs } as const;
  const publications: Record<string, PublicationDefinition> = {
    [Names.taskPublication]: {
      exchange: Names.exchange,
      routingKey: Names.taskRoutingKey,
      ...confirmed,
      options: { ...persistent(), contentType: 'application/json' },
    },
    [Names.deadLetterPublication]: {
      exchange: Names.deadLetterExchange,
      routingKey: Names.deadLetterRoutingKey,
      ...confirmed,
      options: persistent(),
    },
  };
  for (const ms of steps) publications[delayPublicationName(ms)] = { queue: delayQueueName(ms), ...confirmed, options: persistent() };
  publications[Names.requeuePublication] = {
    queue: delayQueueName(settings.requeueDelayMs),
    ...confirmed,
    options: persistent(),
  };
  return publications;
}

function bindingsOf(): Record<string, BindingDefinition> {
  return {
    work: {
      source: Names.exchange,
      destination: Names.workQueue,
      destinationType: 'queue',
      bindingKey: Names.taskRoutingKey,
    },
    deadLetter: {
      source: Names.deadLetterExchange,
      destination: Names.deadLetterQueue,
      destinationType: 'queue',
      bindingKey: Names.deadLetterRoutingKey,
    },
    deadLetterWatch: {
      source: Names.deadLetterExchange,
      destination: Names.deadLetterWatchQueue,
      destinationType: 'queue',
      bindingKey: Names.deadLetterRoutingKey,
    },
  };
}

function subscriptionsOf(settings: BrokerSettings): Record<string, SubscriptionDefinition> {
  return {
    [Names.subscription]: {
      queue: Names.workQueue,
      // One task at a time per worker, acked by hand (DESIGN guarantee 6).
      prefetch: 1,
      // Only JSON belongs on the work queue: anything else surfaces as invalid_content.
      contentType: 'application/json',
      options: { noAck: false },
      closeTimeout: settings.closeTimeoutMs,
      retry: reconnect(),
    },
    [Names.deadLetterWatchSubscription]: {
      queue: Names.deadLetterWatchQueue,
      prefetch: 1,
      // Anything may be dead-lettered, JSON or not; the watcher parses what it can.
      contentType: 'application/octet-stream',
      options: { noAck: false },
      closeTimeout: settings.closeTimeoutMs,
      retry: reconnect(),
    },
  };
}
