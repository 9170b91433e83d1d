import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../services/config.js';
import { ErrorCode, FramelogError } from '../../services/domain/errors.js';
import {
  BROKER_DELIVERY_LIMIT_MARGIN,
  Names,
  buildBrokerConfig,
  delayPlanOf,
  delayStepFor,
  delaySteps,
  qualify,
  vhostFromUrl,
  type BrokerConfig,
  type BrokerSettings,
  type VhostDefinition,
} from '../../services/messaging/topology.js';
import { brokerSettingsFromConfig } from '../../services/main/settings.js';

// Rascal's own configuration pass (defaults, namespacing) and validation: pure, no connection.
type Callback = (error: Error | null, config: Record<string, unknown>) => void;
const require = createRequire(import.meta.url);
const configure = require('rascal/lib/config/configure') as (config: unknown, next: Callback) => void;
const validate = require('rascal/lib/config/validate') as (config: unknown, next: Callback) => void;

function rascalProcessed(config: BrokerConfig): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    configure(structuredClone(config), (error, configured) => {
      if (error) return reject(error);
      validate(configured, (invalid, validated) => (invalid ? reject(invalid) : resolve(validated)));
    });
  });
}

const settings = (overrides: Partial<BrokerSettings> = {}): BrokerSettings =>
  brokerSettingsFromConfig(loadConfig({}), overrides);

function onlyVhost(config: BrokerConfig): [string, VhostDefinition] {
  const entries = Object.entries(config.vhosts);
  expect(entries).toHaveLength(1);
  return entries[0]!;
}

describe('vhostFromUrl', () => {
  it.each([
    ['amqp://guest:guest@127.0.0.1:5672', '/'],
    ['amqp://guest:guest@127.0.0.1:5672/', '/'],
    ['amqp://guest:guest@127.0.0.1:5672/%2F', '/'],
    ['amqp://guest:guest@127.0.0.1:5672/framelog', 'framelog'],
    ['amqps://u:p@broker.example.com/team%2Fvideo?heartbeat=5', 'team/video'],
  ])('%s → %s', (url, vhost) => {
    expect(vhostFromUrl(url)).toBe(vhost);
  });
});

describe('buildBrokerConfig', () => {
  it('puts everything in the vhost of the URL, connecting with the URL', () => {
    const [vhost, definition] = onlyVhost(buildBrokerConfig(settings({ amqpUrl: 'amqp://u:p@rabbit:5672/framelog' })));
    expect(vhost).toBe('framelog');
    expect(definition.connection.url).toBe('amqp://u:p@rabbit:5672/framelog');
    expect(definition.connection.retry.strategy).toBe('exponential');
  });

  it('namespaces only when a namespace is set', () => {
    expect(onlyVhost(buildBrokerConfig(settings()))[1]).not.toHaveProperty('namespace');
    expect(onlyVhost(buildBrokerConfig(settings({ namespace: 'run-1' })))[1].namespace).toBe('run-1');
  });

  it('declares the work queue as a durable quorum queue with a delivery limit and at-least-once dead-lettering', () => {
    const [, vhost] = onlyVhost(buildBrokerConfig(settings({ deliveryLimit: 4 })));
    expect(vhost.queues[Names.workQueue]).toEqual({
      options: {
        durable: true,
        arguments: {
          'x-queue-type': 'quorum',
          'x-delivery-limit': 4,
          'x-dead-letter-exchange': 'video.dead-letter',
          'x-dead-letter-routing-key': 'video_processing.dead',
          'x-dead-letter-strategy': 'at-least-once',
          'x-overflow': 'reject-publish',
        },
      },
    });
    expect(vhost.queues[Names.deadLetterQueue]?.options.durable).toBe(true);
    expect(vhost.exchanges).toEqual({
      video: { type: 'direct', options: { durable: true } },
      'video.dead-letter': { type: 'direct', options: { durable: true } },
    });
    expect(Object.values(vhost.bindings)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ source: 'video', destination: 'video_processing', bindingKey: 'video.process' }),
        expect.objectContaining({ source: 'video.dead-letter', destination: 'video_processing.dead', bindingKey: 'video_processing.dead' }),
      ]),
    );
  });

  it('has one delay queue per distinct delay, dead-lettering back to the work routing key', () => {
    const [, vhost] = onlyVhost(buildBrokerConfig(settings({ retryDelaysMs: [5_000, 30_000, 5_000], requeueDelayMs: 1_000 })));
    const delayQueues = Object.keys(vhost.queues).filter((name) => name.includes('.delay.'));
    expect(delayQueues.sort()).toEqual(['video_processing.delay.1000', 'video_processing.delay.30000', 'video_processing.delay.5000']);
    expect(vhost.queues['video_processing.delay.30000']?.options.arguments).toEqual({
      'x-message-ttl': 30_000,
      'x-dead-letter-exchange': 'video',
      'x-dead-letter-routing-key': 'video.process',
    });
    expect(vhost.publications['delay.30000']).toMatchObject({ queue: 'video_processing.delay.30000', confirm: true });
    expect(vhost.publications.requeue).toMatchObject({ queue: 'video_processing.delay.1000' });
  });

  it('publishes tasks persistent, mandatory and confirmed, with a sized confirm pool', () => {
    const [, vhost] = onlyVhost(buildBrokerConfig(settings({ publishTimeoutMs: 7_000 })));
    expect(vhost.publications.task).toEqual({
      exchange: 'video',
      routingKey: 'video.process',
      confirm: true,
      timeout: 7_000,
      options: { persistent: true, mandatory: true, contentType: 'application/json' },
    });
    expect(vhost.publications.dead_letter).toMatchObject({ exchange: 'video.dead-letter', routingKey: 'video_processing.dead', confirm: true });
    expect(vhost.publicationChannelPools.confirmPool.max).toBe(64);
    // The connection must allow every pooled channel.
    expect(vhost.connection.options.channelMax).toBeGreaterThan(64);
  });

  it('consumes one message at a time with manual ack, as JSON', () => {
    const [, vhost] = onlyVhost(buildBrokerConfig(settings()));
    expect(vhost.subscriptions.video_processing).toMatchObject({
      queue: 'video_processing',
      prefetch: 1,
      contentType: 'application/json',
      options: { noAck: false },
    });
  });

  it('is accepted by Rascal, which qualifies names and the dead-letter exchange with the namespace', async () => {
    type Named = { name: string; fullyQualifiedName: string };
    const processed = (await rascalProcessed(buildBrokerConfig(settings({ namespace: 'ns1' })))) as {
      vhosts: Record<string, {
        exchanges: Record<string, Named>;
        queues: Record<string, Named & { options: { arguments: Record<string, unknown> } }>;
      }>;
    };
    const vhost = processed.vhosts['/']!;
    // Each definition is its own object: Rascal writes names into them (a shared one would be renamed).
    for (const [key, exchange] of Object.entries(vhost.exchanges)) expect(exchange.name).toBe(key);
    for (const [key, queue] of Object.entries(vhost.queues)) expect(queue.fullyQualifiedName).toBe(qualify('ns1', key));
    expect(vhost.exchanges[Names.deadLetterExchange]?.fullyQualifiedName).toBe('ns1:video.dead-letter');
    const work = vhost.queues[Names.workQueue]!;
    expect(work.fullyQualifiedName).toBe(qualify('ns1', Names.workQueue));
    expect(work.fullyQualifiedName).toBe('ns1:video_processing');
    expect(work.options.arguments['x-dead-letter-exchange']).toBe('ns1:video.dead-letter');
    // Routing keys are not qualified: they only have to match the (unqualified) binding keys.
    expect(work.options.arguments['x-dead-letter-routing-key']).toBe('video_processing.dead');
  });

  it('refuses settings that cannot work', () => {
    expect(() => buildBrokerConfig(settings({ requeueDelayMs: 0 }))).toThrow(FramelogError);
    expect(() => buildBrokerConfig(settings({ deliveryLimit: 0 }))).toThrow(/deliveryLimit must be at least 1/);
    expect(() => buildBrokerConfig(settings({ deliveryLimit: 0 }))).toThrow(expect.objectContaining({ code: ErrorCode.CONFIG_INVALID }));
  });

  it('is pure: the same settings give the same configuration', () => {
    expect(buildBrokerConfig(settings({ namespace: 'x' }))).toEqual(buildBrokerConfig(settings({ namespace: 'x' })));
  });
});

describe('delays', () => {
  const steps = delaySteps({ retryDelaysMs: [5_000, 30_000, 120_000], requeueDelayMs: 1_000 });

  it('lists each distinct positive delay once, ascending', () => {
    expect(steps).toEqual([1_000, 5_000, 30_000, 120_000]);
    expect(delaySteps({ retryDelaysMs: [0, 200, 200], requeueDelayMs: 200 })).toEqual([200]);
  });

  it('picks the shortest step at least as long as the wanted delay, never a shorter one', () => {
    expect(delayStepFor(5_000, steps)).toBe(5_000);
    expect(delayStepFor(5_001, steps)).toBe(30_000);
    expect(delayStepFor(0, steps)).toBe(1_000);
    // Past the longest step there is nothing longer: the longest.
    expect(delayStepFor(600_000, steps)).toBe(120_000);
  });

  it('reads the plan back from the configuration, raw or as Rascal processed it', async () => {
    const config = buildBrokerConfig(settings({ retryDelaysMs: [300, 1_000], requeueDelayMs: 100 }));
    const expected = { stepsMs: [100, 300, 1_000], requeueDelayMs: 100 };
    expect(delayPlanOf(config)).toEqual(expected);
    expect(delayPlanOf(await rascalProcessed(config))).toEqual(expected);
  });

  it('refuses a configuration without delay queues', () => {
    expect(() => delayPlanOf({ vhosts: {} })).toThrow(/buildBrokerConfig/);
  });
});

describe('brokerSettingsFromConfig', () => {
  it("puts the broker's delivery limit above the log's, as a backstop", () => {
    const config = loadConfig({ DELIVERY_LIMIT: '3' });
    expect(BROKER_DELIVERY_LIMIT_MARGIN).toBeGreaterThanOrEqual(1);
    expect(brokerSettingsFromConfig(config).deliveryLimit).toBe(3 + BROKER_DELIVERY_LIMIT_MARGIN);
  });

  it('keeps a cancelled subscription open past the shutdown grace, so the last job can still be settled', () => {
    const settings = brokerSettingsFromConfig(loadConfig({ SHUTDOWN_GRACE_SECONDS: '45' }));
    expect(settings.closeTimeoutMs).toBeGreaterThan(45_000);
    const [, vhost] = onlyVhost(buildBrokerConfig(settings));
    expect(vhost.subscriptions[Names.subscription]?.closeTimeout).toBe(settings.closeTimeoutMs);
  });
});
