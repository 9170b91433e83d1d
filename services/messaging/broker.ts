import { setTimeout as delay } from 'node:timers/promises';
import rascal from 'rascal';
import type { Broker as RascalBroker } from 'rascal';
import { ErrorCode, FramelogError, messageOf } from '../domain/errors.js';
import type { BrokerConfig } from './topology.js';

export type Broker = RascalBroker;

/** The part of a pino logger messaging uses. */
export interface Logger {
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
}

export interface CreateBrokerOptions {
  logger: Logger;
  /**
   * Keep trying to connect, with backoff, until connected or this signal aborts (a process that
   * starts before RabbitMQ). Without it the first failure is thrown.
   */
  retryUntil?: AbortSignal;
}

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 15_000;

/**
 * Connects to RabbitMQ and declares the topology. Once connected, Rascal reconnects and resubscribes
 * on its own; these hooks only report it. Rascal re-emits connection errors, which would crash the
 * process without the `error` listener.
 */
export async function createBroker(config: BrokerConfig, options: CreateBrokerOptions): Promise<Broker> {
  const { logger, retryUntil } = options;
  for (let attempt = 1; ; attempt += 1) {
    try {
      const broker = await connectOnce(config);
      attachLogging(broker, logger);
      return broker;
    } catch (error) {
      if (!retryUntil || retryUntil.aborted) throw error;
      const wait = Math.min(RETRY_MIN_MS * 2 ** (attempt - 1), RETRY_MAX_MS);
      logger.warn({ err: error, attempt, retryInMs: wait }, 'RabbitMQ is not reachable yet; retrying');
      await delay(wait, undefined, { signal: retryUntil }).catch(() => undefined);
      if (retryUntil.aborted) throw error;
    }
  }
}

async function connectOnce(config: BrokerConfig): Promise<Broker> {
  try {
    return await rascal.BrokerAsPromised.create(config);
  } catch (error) {
    // A broker that failed to initialise still holds a keep-alive timer (and maybe connections).
    await partialBroker(error)?.shutdown().catch(() => undefined);
    throw new FramelogError(ErrorCode.BROKER_UNAVAILABLE, `Could not connect to RabbitMQ: ${messageOf(error)}`, {
      retryable: true,
      cause: error,
    });
  }
}

/** Rascal attaches the half-made broker to its creation error under a symbol it names in `err.broker`. */
function partialBroker(error: unknown): Broker | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const key = (error as { broker?: unknown }).broker;
  if (typeof key !== 'symbol') return undefined;
  return (error as Record<symbol, Broker | undefined>)[key];
}

function attachLogging(broker: Broker, logger: Logger): void {
  broker.on('error', (error, details) => logger.error({ err: error, ...details }, 'RabbitMQ connection error; Rascal reconnects'));
  broker.on('disconnect', () => logger.warn({}, 'RabbitMQ disconnected; publishing is paused until it reconnects'));
  broker.on('vhost_initialised', (details) => logger.info(details, 'RabbitMQ reconnected'));
  broker.on('blocked', (reason, details) => logger.warn({ reason, ...details }, 'RabbitMQ blocked publishing (resource alarm)'));
  broker.on('unblocked', (details) => logger.info(details, 'RabbitMQ unblocked publishing'));
}

/** Stops consuming (waiting for messages in hand to be settled), then closes channels and connections. */
export async function closeBroker(broker: Broker): Promise<void> {
  await broker.unsubscribeAll();
  await broker.shutdown();
}

