import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../../services/api/auth/tokenStore.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { closeBroker, createBroker } from '../../services/messaging/broker.js';
import { buildBrokerConfig } from '../../services/messaging/topology.js';
import { brokerSettingsForTest, recordingLogger, removeNamespace, testNamespace } from '../helpers/amqp.js';
import { AMQP_URL } from '../helpers/env.js';
import { gql } from '../helpers/graphql.js';
import { s3Env } from '../helpers/s3.js';
import { startService, waitFor, type ServiceProcess } from '../helpers/processes.js';

// What an operator sees at start: bad settings, production without tokens, readiness with the broker
// away. The broker "outage" is a proxy in front of the shared RabbitMQ, closed and opened by the test.

let database: TestDatabase;
const namespace = testNamespace();
const started: ServiceProcess[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  // The readiness check looks at the work queue, so the namespace gets its topology, as workers would declare it.
  await closeBroker(await createBroker(buildBrokerConfig(brokerSettingsForTest(namespace)), { logger: recordingLogger() }));
});

afterAll(async () => {
  await Promise.all(started.map((p) => p.stop('SIGKILL')));
  await removeNamespace(namespace);
  await database?.drop();
});

function api(env: Record<string, string>): ServiceProcess {
  const service = startService('api', 'api', { DATABASE_URL: database.url, AMQP_NAMESPACE: namespace, PORT: '0', RELAY_IN_API: 'false', ...env });
  started.push(service);
  return service;
}

describe('start-up', () => {
  it('a bad setting stops the API with a message naming it', async () => {
    const service = api({ PORT: 'eighty' });
    const { code } = await service.exited;
    expect(code).toBe(2);
    expect(service.raw.join('\n')).toMatch(/^CONFIG_INVALID: Invalid settings — PORT:/m);
    // One line, not an uncaught exception's stack trace.
    expect(service.raw.join('\n')).not.toMatch(/\s{2}at /);
  });

  it.each(['api', 'worker'] as const)('STORAGE=s3 with a bucket that does not exist stops the %s with a message naming S3_BUCKET', async (kind) => {
    const service = startService(kind, kind, {
      DATABASE_URL: database.url,
      AMQP_NAMESPACE: namespace,
      PORT: '0',
      RELAY_IN_API: 'false',
      ...s3Env('framelog-no-such-bucket'),
    });
    started.push(service);
    const { code } = await service.exited;
    expect(code).toBe(2);
    const output = service.raw.join('\n');
    expect(output).toMatch(/^CONFIG_INVALID: Invalid settings — S3: bucket framelog-no-such-bucket does not exist .*S3_BUCKET/m);
    expect(output).not.toMatch(/\s{2}at /);
  });

  it('NODE_ENV=production refuses to start without an API token: one line saying what to do, exit code 2', async () => {
    const service = api({ NODE_ENV: 'production' });
    const { code } = await service.exited;
    expect(code).toBe(2);
    expect(service.raw).toEqual(['CONFIG_INVALID: NODE_ENV=production needs at least one active API token; create one with: npm run token -- create --name NAME --role admin']);
  });
});

describe('production API', () => {
  let proxy: net.Server | undefined;
  const sockets = new Set<net.Socket>();
  let proxyPort = 0;
  let service: ServiceProcess;
  let url: string;
  let token: string;

  /** Forwards to the real RabbitMQ while open; closed, the port refuses connections like a dead broker. */
  function openProxy(port: number): Promise<number> {
    const upstream = new URL(AMQP_URL);
    proxy = net.createServer((client) => {
      const server = net.connect(Number(upstream.port || 5672), upstream.hostname);
      for (const s of [client, server]) {
        sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => sockets.delete(s));
      }
      client.pipe(server).pipe(client);
    });
    return new Promise((resolve) => proxy!.listen(port, '127.0.0.1', () => resolve((proxy!.address() as net.AddressInfo).port)));
  }
  async function closeProxy(): Promise<void> {
    const current = proxy;
    proxy = undefined;
    if (!current) return;
    // close() only stops accepting; cutting the open connections is what makes the broker "go away".
    const closed = new Promise<void>((resolve) => current.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    await closed;
  }

  beforeAll(async () => {
    token = (await createToken(database.db, { name: 'prod-admin', role: 'admin' })).token;
    proxyPort = await openProxy(0);
    await closeProxy(); // the port stays known but refuses: RabbitMQ is "down" from the start
    const amqp = new URL(AMQP_URL);
    amqp.host = `127.0.0.1:${proxyPort}`;
    service = api({ NODE_ENV: 'production', AMQP_URL: amqp.toString() });
    url = String((await service.waitForLog((l) => l.msg === 'listening')).url);
  });

  afterAll(async () => {
    await closeProxy();
  });

  it('has introspection off and needs a token', async () => {
    const introspection = await gql(url, '{ __schema { queryType { name } } }', {}, { authorization: `Bearer ${token}` });
    expect(introspection.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(introspection.errors?.[0]?.message).toMatch(/introspection/i);
    expect((await gql(url, '{ videos { edges { cursor } } }')).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it('/readyz fails while the broker is unreachable and recovers when it is back', async () => {
    const down = await fetch(`${url}/readyz`);
    expect(down.status).toBe(503);
    const body = (await down.json()) as { checks: Record<string, string> };
    expect(body.checks.postgres).toBe('ok');
    expect(body.checks.rabbitmq).not.toBe('ok');

    await openProxy(proxyPort);
    await waitFor(async () => (await fetch(`${url}/readyz`)).status === 200, { timeoutMs: 30_000, message: '/readyz to recover' });
  });
});
