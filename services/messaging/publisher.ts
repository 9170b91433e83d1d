import type { Broker } from './broker.js';
import { awaitConfirm } from './confirm.js';
import { HeaderNames, type TaskMessageBody } from './taskMessage.js';
import { Names } from './topology.js';

export interface PublishProperties {
  /** The AMQP message id: the outbox row's id, i.e. the id of the event that created the task. */
  messageId: string;
  correlationId: string;
  /** W3C trace context of the request that caused the task. */
  traceparent?: string;
  headers?: Record<string, unknown>;
}

export interface TaskPublisher {
  /** Publishes a task; resolves once the broker confirmed it. Rejects with BROKER_UNAVAILABLE (retryable). */
  publishTask(body: TaskMessageBody, properties: PublishProperties): Promise<void>;
  /**
   * Publishes a payload as stored (the outbox relay), with the routing key it was stored with, on
   * the task exchange. Same guarantees as publishTask.
   */
  publishMessage(routingKey: string, payload: unknown, properties: PublishProperties): Promise<void>;
}

export function createTaskPublisher(broker: Broker): TaskPublisher {
  async function publish(payload: unknown, properties: PublishProperties, routingKey?: string): Promise<void> {
    const { messageId, correlationId, traceparent } = properties;
    const headers: Record<string, unknown> = {
      ...properties.headers,
      [HeaderNames.correlationId]: correlationId,
      ...(traceparent === undefined ? {} : { [HeaderNames.traceparent]: traceparent }),
    };
    // Encoded here rather than by Rascal, which would send a string payload as text, not as JSON.
    const content = Buffer.from(JSON.stringify(payload) ?? 'null');
    // persistent, mandatory and the confirm channel come from the publication (topology.ts).
    const session = await broker.publish(Names.taskPublication, content, {
      ...(routingKey === undefined ? {} : { routingKey }),
      options: { messageId, correlationId, contentType: 'application/json', headers },
    });
    await awaitConfirm(session, messageId);
  }

  return {
    publishTask: (body, properties) => publish(body, properties),
    publishMessage: (routingKey, payload, properties) => publish(payload, properties, routingKey),
  };
}
