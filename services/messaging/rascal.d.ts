// Rascal ships no types and @types/rascal (10.x) describes an API eleven majors old, so this declares
// only the part of Rascal 21 that framelog uses. Rascal's index is a CommonJS object built at run
// time, so Node cannot expose named ESM exports for it: import the default export.
declare module 'rascal' {
  import type { ConsumeMessage, Options } from 'amqplib';

  namespace rascal {
    /** The listener methods framelog uses (Rascal's sessions and brokers are EventEmitters). */
    interface Emitter {
      once(event: string, listener: (...args: never[]) => void): this;
      off(event: string, listener: (...args: never[]) => void): this;
      removeAllListeners(event?: string): this;
    }

    /** The whole Rascal configuration; framelog builds it in topology.ts. */
    type BrokerConfig = object;

    interface ConnectionDetails {
      vhost: string;
      connectionUrl: string;
    }

    interface PublishOverrides {
      routingKey?: string;
      options?: Options.Publish;
      restoreRoutingHeaders?: boolean;
    }

    /** One publish or forward in progress; emits `success`, `error`, `return`, `paused`, `close`. */
    interface PublicationSession extends Emitter {
      /** Drops the message if it is still waiting for a channel (e.g. while disconnected). */
      abort(): void;
      isAborted(): boolean;
      on(event: 'success', listener: (messageId: string) => void): this;
      on(event: 'error', listener: (error: Error, messageId: string) => void): this;
      on(event: 'return', listener: (message: ConsumeMessage) => void): this;
      on(event: 'paused' | 'close', listener: (messageId: string) => void): this;
    }

    interface Recovery {
      strategy: 'ack' | 'nack' | 'republish' | 'forward';
      defer?: number;
      requeue?: boolean;
      attempts?: number;
      publication?: string;
      options?: PublishOverrides;
      immediateNack?: boolean;
      xDeathFix?: boolean;
      all?: boolean;
    }

    type AckOrNack = (
      error?: Error,
      recovery?: Recovery | Recovery[],
      callback?: (error?: Error | null) => void,
    ) => void;

    interface SubscriberSession extends Emitter {
      readonly name: string;
      /** Cancels the consumer, waits for unacknowledged messages, then closes its channel. */
      cancel(): Promise<void>;
      on(event: 'message', listener: (message: ConsumeMessage, content: unknown, ackOrNack: AckOrNack) => void): this;
      on(
        event: 'invalid_content' | 'redeliveries_exceeded' | 'redeliveries_error',
        listener: (error: Error, message: ConsumeMessage, ackOrNack: AckOrNack) => void,
      ): this;
      on(event: 'error' | 'cancelled', listener: (error: Error) => void): this;
      on(event: 'subscribed' | 'close', listener: () => void): this;
    }

    interface SubscribeOverrides {
      prefetch?: number;
      retry?: boolean | Record<string, unknown>;
      options?: Options.Consume;
    }

    /** A connected BrokerAsPromised (named apart from the factory property of the same name). */
    interface Broker extends Emitter {
      readonly config: BrokerConfig;
      publish(name: string, message: unknown, overrides?: PublishOverrides | string): Promise<PublicationSession>;
      forward(name: string, message: ConsumeMessage, overrides?: PublishOverrides | string): Promise<PublicationSession>;
      subscribe(name: string, overrides?: SubscribeOverrides): Promise<SubscriberSession>;
      unsubscribeAll(): Promise<void>;
      /** Unsubscribes, drains the publication channel pools and closes the connections. */
      shutdown(): Promise<void>;
      /** Unsubscribes, then deletes every queue and exchange of the configuration (tests). */
      nuke(): Promise<void>;
      purge(): Promise<void>;
      getConnections(): ConnectionDetails[];
      getFullyQualifiedName(vhost: string, name: string): string;
      on(event: 'error', listener: (error: Error, details: ConnectionDetails) => void): this;
      on(event: 'vhost_initialised' | 'close', listener: (details: ConnectionDetails) => void): this;
      on(event: 'blocked', listener: (reason: string, details: ConnectionDetails) => void): this;
      on(event: 'unblocked', listener: (details: ConnectionDetails) => void): this;
      on(event: 'disconnect' | 'connect', listener: () => void): this;
      on(event: 'paused' | 'resumed', listener: (details: { vhost: string }) => void): this;
      on(event: 'busy' | 'ready', listener: (details: Record<string, unknown>) => void): this;
    }
  }

  interface BrokerAsPromisedFactory {
    create(config: rascal.BrokerConfig, components?: Record<string, unknown>): Promise<rascal.Broker>;
  }
  const rascal: {
    BrokerAsPromised: BrokerAsPromisedFactory;
  };
  export = rascal;
}
