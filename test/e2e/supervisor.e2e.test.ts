import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { removeNamespace, testNamespace } from '../helpers/amqp.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { AMQP_URL } from '../helpers/env.js';
import { startEntry, startService, waitFor, type LogLine, type ServiceProcess } from '../helpers/processes.js';

// The running-it cases of ../shared/cases/README.md (o01-o03): `npm start` (services/main/start.ts, the
// supervisor) and `npm run worker` beside it, as an operator runs them.

let database: TestDatabase;
let mediaRoot: string;
const namespace = testNamespace();
const started: ServiceProcess[] = [];
const blockers: net.Server[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  mediaRoot = await mkdtemp(path.join(tmpdir(), 'framelog-supervisor-'));
});

afterEach(async () => {
  // SIGTERM: the supervisor passes it on to its children, so none is left behind.
  await Promise.all(started.splice(0).map((p) => p.stop('SIGTERM')));
  await Promise.all(blockers.splice(0).map((b) => new Promise((resolve) => b.close(resolve))));
});

afterAll(async () => {
  await removeNamespace(namespace);
  await database?.drop();
  await rm(mediaRoot, { recursive: true, force: true });
});

const env = (extra: Record<string, string>) => ({ DATABASE_URL: database.url, AMQP_URL, AMQP_NAMESPACE: namespace, MEDIA_ROOT: mediaRoot, PORT: '0', RELAY_IN_API: 'false', ...extra });

/** `npm start` with these settings. */
function npmStart(extra: Record<string, string>): ServiceProcess {
  const supervisor = startEntry('npm start', 'services/main/start.ts', env(extra));
  started.push(supervisor);
  return supervisor;
}

/** Holds a port, as another process would; `port` 0 takes any free one. Resolves with the port held. */
async function holdPort(port = 0): Promise<number> {
  const blocker = net.createServer();
  blockers.push(blocker);
  return new Promise((resolve, reject) => {
    blocker.once('error', reject);
    blocker.listen(port, '127.0.0.1', () => resolve((blocker.address() as net.AddressInfo).port));
  });
}

/** A port free right now (held and let go). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Lines of a start-up refusal: `CODE: message`, the one line a refusing process prints. */
const refusals = (p: ServiceProcess) => p.raw.filter((line) => /^[A-Z_]+: /.test(line));
const noStackTrace = (p: ServiceProcess) => expect(p.raw.join('\n')).not.toMatch(/\s{2}at /);

describe('o01: npm run worker next to npm start', () => {
  it('runs: a worker whose METRICS_PORT is taken serves /metrics on the next free port and logs it', async () => {
    const metricsPort = await freePort();
    const supervisor = npmStart({ WORKERS: '1', METRICS_PORT: String(metricsPort) });
    await supervisor.waitForLog((l) => l.msg === 'metrics listening' && l.port === metricsPort);

    const worker = startService('npm run worker', 'worker', env({ METRICS_PORT: String(metricsPort) }));
    started.push(worker);
    await worker.waitForLog((l) => l.msg === 'worker ready');
    const listening = await worker.waitForLog((l) => l.msg === 'metrics listening');
    expect(listening.port).toBeGreaterThan(metricsPort);
    expect(worker.lines.some((l) => l.level === 40 && String(l.msg).startsWith(`METRICS_PORT ${metricsPort} is in use; serving /metrics on ${String(listening.port)}`))).toBe(true);
    expect((await fetch(String(listening.url))).status).toBe(200);
    expect(worker.running).toBe(true);
  });

  it('stops with one line naming METRICS_PORT and exit code 2 when no port is free', async () => {
    // The last port: there is no next one to try.
    await holdPort(65_535).catch(() => undefined); // in use already is just as good
    const worker = startService('npm run worker', 'worker', env({ METRICS_PORT: '65535' }));
    started.push(worker);
    expect((await worker.exited).code).toBe(2);
    expect(refusals(worker)).toEqual([expect.stringMatching(/^CONFIG_INVALID: METRICS_PORT: 127\.0\.0\.1:65535 is in use; set METRICS_PORT to a free port/)]);
    noStackTrace(worker);
  });
});

describe('o02: start-up refusals under npm start', () => {
  it('production without an API token: one line saying what to do, npm start exits 2, nothing is restarted', async () => {
    const supervisor = npmStart({ NODE_ENV: 'production', WORKERS: '1' });
    expect((await supervisor.exited).code).toBe(2);
    expect(refusals(supervisor)).toEqual(['CONFIG_INVALID: NODE_ENV=production needs at least one active API token; create one with: npm run token -- create --name NAME --role admin']);
    expect(supervisor.lines.some((l) => l.msg === 'process exited; restarting')).toBe(false);
    noStackTrace(supervisor);
  });

  it('the API port in use: one line naming PORT, npm start exits 2', async () => {
    const port = await holdPort();
    const supervisor = npmStart({ PORT: String(port), WORKERS: '0' });
    expect((await supervisor.exited).code).toBe(2);
    expect(refusals(supervisor)).toEqual([`CONFIG_INVALID: PORT: 127.0.0.1:${port} is in use; set PORT to a free port (0 picks any) or stop what uses it.`]);
    expect(supervisor.lines.some((l) => l.msg === 'process exited; restarting')).toBe(false);
    noStackTrace(supervisor);
  });

  it('PostgreSQL out of reach: one line naming DATABASE_URL, exit 2', async () => {
    const port = await freePort();
    const supervisor = npmStart({ DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/framelog` });
    expect((await supervisor.exited).code).toBe(2);
    expect(refusals(supervisor)).toEqual([expect.stringMatching(new RegExp(`^DATABASE_UNAVAILABLE: DATABASE_URL: PostgreSQL at 127\\.0\\.0\\.1:${port} cannot be reached .*; start it \\(ops/bootstrap\\.sh\\) or fix DATABASE_URL\\.$`))]);
    noStackTrace(supervisor);
  });

  it('a bad setting: one line naming it, exit 2', async () => {
    const supervisor = npmStart({ WORKERS: 'two' });
    expect((await supervisor.exited).code).toBe(2);
    expect(refusals(supervisor)).toEqual([expect.stringMatching(/^CONFIG_INVALID: Invalid settings — WORKERS: /)]);
    noStackTrace(supervisor);
  });
});

describe('o03: a worker killed again and again under npm start', () => {
  it('is restarted after the first delay each time it had reached ready', async () => {
    const supervisor = npmStart({ WORKERS: '1', METRICS_PORT: '0' });
    // Killed only once the supervisor has counted the run as ready: the worker logs `worker ready` a moment
    // before its IPC message reaches the supervisor, and a kill in between is a failed start (a longer delay).
    const readyPids = () => supervisor.lines.filter((l) => l.msg === 'process ready' && l.name === 'worker-1').map((l) => Number(l.childPid));
    const restarts = () => supervisor.lines.filter((l): l is LogLine & { restartInMs: number } => l.msg === 'process exited; restarting');
    for (let kill = 1; kill <= 4; kill += 1) {
      const pid = await waitFor(() => readyPids()[kill - 1], { message: `worker run ${kill} ready` });
      process.kill(pid, 'SIGKILL');
      await waitFor(() => restarts().length === kill, { message: `restart ${kill}` });
    }
    expect(restarts().map((l) => [l.name, l.signal, l.restartInMs])).toEqual(Array(4).fill(['worker-1', 'SIGKILL', 1_000]));
    await waitFor(() => readyPids().length === 5, { message: 'the fifth run ready' });
  });
});
