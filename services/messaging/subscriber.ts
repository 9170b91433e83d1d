import type { ConsumeMessage } from 'amqplib';
import type { AckOrNack } from 'rascal';
import type { Broker, Logger } from './broker.js';
import { awaitConfirm } from './confirm.js';
import type { TaskSettle } from '../domain/decide.js';
import { HeaderNames, freshCopy, toDelivery, type TaskDelivery } from './taskMessage.js';
import { Names, delayPlanOf, delayPublicationName, delayStepFor, type DelayPlan } from './topology.js';

export type { TaskDelivery } from './taskMessage.js';
/** How the message of a delivery is settled: decided by the domain (TaskSettle). */
export type TaskOutcome = TaskSettle;

export type TaskHandler = (delivery: TaskDelivery) => Promise<TaskOutcome>;

export interface TaskSubscription {
  /**
   * Stops new deliveries, then resolves once the message in hand (at most one: prefetch 1) has been
   * settled. Bound the wait by making the handler return, e.g. `requeue` when a grace period ends.
   */
  cancel(): Promise<void>;
}

/**
 * Consumes the work queue, one message at a time with manual ack, and maps each TaskOutcome onto the
 * broker:
 * - ack → basic.ack.
 * - retry → forward (confirmed) to the delay queue of the shortest step ≥ delayMs, then ack. The TTL
 *   dead-letters it back to the work queue, so it cannot come back sooner than asked.
 * - requeue → the same through the delay queue of `requeueDelayMs` (publication `requeue`). The copy
 *   is a new message without x-delivery-count, so shutdowns and database outages never use up the
 *   delivery limit, and the delay keeps an outage from becoming a tight loop. (basic.nack with
 *   requeue would count a failed delivery.)
 * - dead-letter → forward (confirmed) to the dead-letter queue with the reason in a header, then ack.
 * Forwarding is done with broker.forward rather than Rascal's `forward` recovery strategy because the
 * strategy nacks without requeue when the publish fails, which would dead-letter a retryable task.
 * Here a failed forward falls back to nack with requeue after the requeue delay (counted: the broker
 * is in trouble), or, for dead-letter, to a plain nack that the queue's DLX routes to the same place.
 * Content that is not JSON is dead-lettered. A handler that throws is treated like a crash: nack with
 * requeue after the requeue delay, counted, so the delivery limit stops a message that always throws.
 */
export async function subscribeTasks(
  broker: Broker,
  handler: TaskHandler,
  logger: Logger,
  /** Defaults to the plan of the configuration the broker was created with. */
  delays: DelayPlan = delayPlanOf(broker.config),
): Promise<TaskSubscription> {
  const settler = new Settler(broker, logger, delays);
  const inFlight = new Set<Promise<void>>();
  let cancelling = false;

  const session = await broker.subscribe(Names.subscription);

  function track(work: Promise<void>): void {
    const settled = work
      .catch((error: unknown) => logger.error({ err: error }, 'Settling a task message failed'))
      .finally(() => inFlight.delete(settled));
    inFlight.add(settled);
  }

  async function onMessage(message: ConsumeMessage, content: unknown, ackOrNack: AckOrNack): Promise<void> {
    // Delivered while cancel() was on its way to the broker: hand it back for another worker.
    if (cancelling) return settler.settle(message, ackOrNack, { kind: 'requeue' });
    let outcome: TaskOutcome;
    try {
      outcome = await handler(toDelivery(message, content));
    } catch (error) {
      logger.error({ err: error, ...ids(message) }, 'Task handler threw; the message will be redelivered after a delay');
      return settler.nack(ackOrNack, message, error, true);
    }
    return settler.settle(message, ackOrNack, outcome);
  }

  session.on('error', (error) => logger.error({ err: error }, 'Task subscription error; Rascal resubscribes'));
  session.on('cancelled', (error) => logger.warn({ err: error }, 'The broker cancelled the task subscription; Rascal resubscribes'));
  session.on('invalid_content', (error, message, ackOrNack) => {
    logger.warn({ err: error, ...ids(message) }, 'Task message is not JSON; dead-lettering it');
    const reason = `invalid content: ${error.message}`;
    track(settler.settle(message, ackOrNack, { kind: 'dead-letter', reason }));
  });

  // Adding the `message` listener is what starts the consumer; wait until the broker confirmed it.
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    session.once('error', onError);
    session.once('subscribed', () => {
      session.off('error', onError);
      resolve();
    });
    session.on('message', (message, content, ackOrNack) => track(onMessage(message, content, ackOrNack)));
  }).catch(async (error: unknown) => {
    await session.cancel().catch(() => undefined);
    throw error;
  });

  return {
    async cancel() {
      cancelling = true;
      await session.cancel();
      await Promise.allSettled([...inFlight]);
    },
  };
}

/** Maps each TaskOutcome of a delivered message onto the broker (see subscribeTasks). */
class Settler {
  constructor(
    private readonly broker: Broker,
    private readonly logger: Logger,
    private readonly delays: DelayPlan,
  ) {}

  async settle(message: ConsumeMessage, ackOrNack: AckOrNack, outcome: TaskOutcome): Promise<void> {
    switch (outcome.kind) {
      case 'ack':
        return this.ack(ackOrNack, message);
      case 'retry': {
        const step = delayStepFor(outcome.delayMs, this.delays.stepsMs);
        if (step < outcome.delayMs) {
          this.logger.warn({ wantedMs: outcome.delayMs, stepMs: step, ...ids(message) }, 'Retry delay longer than any delay queue; using the longest');
        }
        return this.forward(message, ackOrNack, delayPublicationName(step), {}, 'requeue');
      }
      case 'requeue': {
        const headers = outcome.interruptedAttempt === undefined ? {} : { [HeaderNames.interruptedAttempt]: outcome.interruptedAttempt };
        return this.forward(message, ackOrNack, Names.requeuePublication, headers, 'requeue');
      }
      case 'dead-letter':
        return this.forward(message, ackOrNack, Names.deadLetterPublication, { [HeaderNames.deadLetterReason]: outcome.reason }, 'dead-letter');
      default: {
        // Not a TaskOutcome (a handler bug at run time): never leave the message unsettled.
        const unknown: never = outcome;
        this.logger.error({ outcome: unknown, ...ids(message) }, 'Task handler returned no valid outcome');
        return this.nack(ackOrNack, message, new Error('invalid task outcome'), true);
      }
    }
  }

  ack(ackOrNack: AckOrNack, message: ConsumeMessage): Promise<void> {
    return new Promise((resolve) => {
      ackOrNack(undefined, undefined, (error) => {
        // The channel is gone: the broker will redeliver the message, nothing else to do.
        if (error) this.logger.warn({ err: error, ...ids(message) }, 'Could not ack a task message');
        resolve();
      });
    });
  }

  nack(ackOrNack: AckOrNack, message: ConsumeMessage, cause: unknown, requeue: boolean): Promise<void> {
    const error = cause instanceof Error ? cause : new Error(String(cause));
    // The deferred requeue holds the prefetch slot for the delay: no tight loop, no other work meanwhile.
    const recovery = requeue ? { strategy: 'nack' as const, requeue: true, defer: this.delays.requeueDelayMs } : { strategy: 'nack' as const };
    return new Promise((resolve) => {
      ackOrNack(error, recovery, (nackError) => {
        if (nackError) this.logger.warn({ err: nackError, ...ids(message) }, 'Could not nack a task message');
        resolve();
      });
    });
  }

  /** Publishes a copy to `publication`, waits for the confirm, then acks the original. */
  private async forward(
    message: ConsumeMessage,
    ackOrNack: AckOrNack,
    publication: string,
    headers: Record<string, unknown>,
    onFailure: 'requeue' | 'dead-letter',
  ): Promise<void> {
    try {
      const copy = await this.broker.forward(publication, freshCopy(message), { options: { headers } });
      await awaitConfirm(copy, String(message.properties.messageId));
    } catch (error) {
      this.logger.warn({ err: error, publication, ...ids(message) }, 'Could not forward a task message; nacking it');
      await this.nack(ackOrNack, message, error, onFailure === 'requeue');
      return;
    }
    await this.ack(ackOrNack, message);
  }
}

function ids(message: ConsumeMessage): { messageId: unknown; deliveryTag: number } {
  return { messageId: message.properties.messageId, deliveryTag: message.fields.deliveryTag };
}
