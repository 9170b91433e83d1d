import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { STARTUP_REFUSED_EXIT_CODE, exitRefusingToStart, loadConfigOrExit } from './startup.js';
import { ErrorCode, FramelogError, messageOf } from '../domain/errors.js';
import { ensureDatabase, migrateToLatest } from '../eventstore/migrate.js';
import { isConnectionError } from '../eventstore/pgErrors.js';
import { createLogger } from '../logger.js';
import { NODE_FLAGS } from './nodeFlags.js';
import { nextRestartDelay } from './restartPolicy.js';

/**
 * `npm start`: migrates, then runs the API (with the outbox relay) and WORKERS worker processes,
 * restarting any that dies, until SIGINT/SIGTERM, which is passed on for a graceful stop.
 */
const config = loadConfigOrExit();
const log = createLogger('framelog', config.LOG_LEVEL);

await prepareDatabase();

/**
 * Creates the database if missing and migrates it. PostgreSQL out of reach is a refusal (one line
 * saying what to do), not a stack trace: nothing here would retry it.
 */
async function prepareDatabase(): Promise<void> {
  try {
    await ensureDatabase(config.DATABASE_URL);
    for (const result of (await migrateToLatest(config.DATABASE_URL)).results) {
      log.info({ migration: result.migrationName, status: result.status }, 'migration');
    }
  } catch (error) {
    if (!isConnectionError(error) && (error as NodeJS.ErrnoException | null)?.code !== 'ENOTFOUND') throw error;
    const url = new URL(config.DATABASE_URL);
    const where = `${url.hostname}:${url.port || 5432}`;
    exitRefusingToStart(new FramelogError(ErrorCode.DATABASE_UNAVAILABLE, `DATABASE_URL: PostgreSQL at ${where} cannot be reached (${messageOf(error)}); start it (ops/bootstrap.sh) or fix DATABASE_URL.`));
  }
}

// The API and worker entry points sit beside this file (services/main/), as .ts under tsx and .js once built.
const entry = (service: string) => fileURLToPath(new URL(`./${service}${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url));
const children = new Set<ChildProcess>();
let stopping = false;

/**
 * Runs one process and keeps it running: it is restarted when it dies, after nextRestartDelay (reset
 * by a run that reached ready). A process that refuses its configuration (exit 2) is not restarted:
 * everything stops and `npm start` exits 2, under the refusal's own line.
 */
function run(name: string, service: string, env: Record<string, string> = {}, previousDelayMs?: number): void {
  // This process's execArgv first, so a tsx-run parent gives tsx-run children.
  const child = fork(entry(service), [], { execArgv: [...process.execArgv, ...NODE_FLAGS], env: { ...process.env, FRAMELOG_PROCESS_NAME: name, ...env } });
  children.add(child);
  let ready = false;
  child.on('message', (message: unknown) => {
    const m = message as { type?: string; url?: string };
    if ((m.type === 'listening' || m.type === 'ready') && !ready) {
      ready = true;
      // The supervisor's own record of readiness (which resets the restart delay), for operators and tests.
      log.info({ name, childPid: child.pid }, 'process ready');
    }
    if (m.type === 'listening') {
      console.log(`\nframelog is running — open ${m.url}/ in a browser; GraphQL at ${m.url}/graphql (workers: ${config.WORKERS})\n`);
    }
  });
  child.on('exit', (code, signal) => {
    children.delete(child);
    if (stopping) return;
    if (code === STARTUP_REFUSED_EXIT_CODE) {
      log.error({ name, code }, `${name} refused to start with this configuration (its line above says what to do); stopping`);
      stop('SIGTERM', STARTUP_REFUSED_EXIT_CODE);
      return;
    }
    const delayMs = nextRestartDelay(previousDelayMs, ready);
    log.error({ name, code, signal, restartInMs: delayMs }, 'process exited; restarting');
    setTimeout(() => run(name, service, env, delayMs), delayMs).unref();
  });
}

run('api', 'api');
// Workers on one machine cannot share a metrics port: worker i gets METRICS_PORT + i - 1 (0 stays 0).
const metricsPort = (i: number) => String(config.METRICS_PORT === 0 ? 0 : config.METRICS_PORT + i - 1);
for (let i = 1; i <= config.WORKERS; i += 1) run(`worker-${i}`, 'worker', { METRICS_PORT: metricsPort(i) });

function stop(signal: NodeJS.Signals, exitCode = 0) {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'stopping');
  for (const child of children) child.kill(signal);
  const wait = setInterval(() => {
    if (children.size === 0) {
      clearInterval(wait);
      process.exit(exitCode);
    }
  }, 100);
}
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
