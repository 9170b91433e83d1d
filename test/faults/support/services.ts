import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import { ADMIN_URL } from '../../helpers/env.js';
import { waitFor } from '../../helpers/processes.js';

const run = promisify(execFile);

/**
 * Stops and starts the machine's RabbitMQ and PostgreSQL (we are root on the test machine). Every
 * fault file that calls a stop must call `restoreServices()` in a finally/afterAll, so the services run
 * again when the test ends, pass or fail.
 */
export const PG_CLUSTER = ['15', 'main'] as const;

export async function stopRabbit(): Promise<void> {
  await run('rabbitmqctl', ['stop_app']);
}

export async function startRabbit(): Promise<void> {
  await run('rabbitmqctl', ['start_app']);
  await run('rabbitmqctl', ['await_startup']);
}

export async function stopPostgres(): Promise<void> {
  await run('pg_ctlcluster', [...PG_CLUSTER, 'stop', '-m', 'fast']);
}

export async function startPostgres(): Promise<void> {
  await run('pg_ctlcluster', [...PG_CLUSTER, 'start']).catch(async (error: unknown) => {
    // Already running is fine; anything else is not.
    if (!(await postgresAnswers())) throw error;
  });
  await waitFor(postgresAnswers, { timeoutMs: 60_000, message: 'PostgreSQL to accept connections' });
}

async function postgresAnswers(): Promise<boolean> {
  const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 2_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Starts whatever a fault left stopped; safe to call when both run. */
export async function restoreServices(): Promise<void> {
  const results = await Promise.allSettled([startRabbit(), startPostgres()]);
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed.length > 0) throw new AggregateError(failed.map((f) => f.reason as unknown), 'Could not restore RabbitMQ/PostgreSQL');
}
