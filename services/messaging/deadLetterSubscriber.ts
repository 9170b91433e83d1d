import type { ConsumeMessage } from 'amqplib';
import type { AckOrNack } from 'rascal';
import type { Broker, Logger } from './broker.js';
import { HeaderNames, taskHeadersProblem } from './taskMessage.js';
import { Names } from './topology.js';

/** A copy of a dead-lettered message, as the dead-letter watcher sees it. */
export interface DeadLetter {
  /** The parsed JSON body, or null when the body is not JSON (nothing to record for it). */
  body: unknown;
  messageId: string | null;
  /** Why it was dead-lettered: framelog's reason header, else the broker's x-first-death-reason. */
  reason: string | null;
  /** True when the broker dead-lettered it on its own (delivery limit, reject), not a framelog worker. */
  byBroker: boolean;
  /** Why its properties or headers are no task message's (taskHeadersProblem), or null. */
  invalidHeaders: string | null;
}

/** Records what a dead letter means; throws when it cannot yet (database down), to be retried. */
export type DeadLetterHandler = (letter: DeadLetter) => Promise<void>;

export interface DeadLetterSubscription {
  cancel(): Promise<void>;
}

/**
 * Consumes the dead-letter watch queue, which receives a copy of every dead letter (the DLQ keeps the
 * other copy for operators). Acks once the handler succeeded; a handler that throws is nacked with
 * requeue after `retryDelayMs`: the watch queue has no delivery limit, so a copy waits out a database
 * outage instead of being lost. Nothing is ever forwarded from here, so no dead letter can loop.
 */
export async function subscribeDeadLetters(broker: Broker, handler: DeadLetterHandler, logger: Logger, retryDelayMs = 1_000): Promise<DeadLetterSubscription> {
  const inFlight = new Set<Promise<void>>();
  const session = await broker.subscribe(Names.deadLetterWatchSubscription);

  async function onMessage(message: ConsumeMessage, ackOrNack: AckOrNack): Promise<void> {
    try {
      await handler(toDeadLetter(message));
    } catch (error) {
      logger.warn({ err: error, messageId: String(message.properties.messageId) }, 'Could not record a dead letter yet; retrying after a delay');
      await new Promise<void>((resolve) => {
        ackOrNack(error instanceof Error ? error : new Error(String(error)), { strategy: 'nack', requeue: true, defer: retryDelayMs }, () => resolve());
      });
      return;
    }
    await new Promise<void>((resolve) => {
      ackOrNack(undefined, undefined, () => resolve());
    });
  }

  session.on('error', (error) => logger.error({ err: error }, 'Dead-letter subscription error; Rascal resubscribes'));
  session.on('message', (message, _content, ackOrNack) => {
    const work = onMessage(message, ackOrNack)
      .catch((error: unknown) => logger.error({ err: error }, 'Settling a dead letter failed'))
      .finally(() => inFlight.delete(work));
    inFlight.add(work);
  });

  return {
    async cancel() {
      await session.cancel();
      await Promise.allSettled([...inFlight]);
    },
  };
}

function toDeadLetter(message: ConsumeMessage): DeadLetter {
  const headers = message.properties.headers ?? {};
  let body: unknown = null;
  try {
    body = JSON.parse(message.content.toString('utf8')) as unknown;
  } catch {
    body = null;
  }
  const framelogReason = stringOrNull(headers[HeaderNames.deadLetterReason]);
  const brokerReason = stringOrNull(headers[HeaderNames.firstDeathReason]);
  return {
    body,
    messageId: stringOrNull(message.properties.messageId),
    reason: framelogReason ?? brokerReason,
    byBroker: framelogReason === null && brokerReason !== null,
    invalidHeaders: taskHeadersProblem(message.properties),
  };
}

const stringOrNull = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);
