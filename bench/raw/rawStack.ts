import { randomBytes } from 'node:crypto';
import { removeNamespace } from '../../test/helpers/amqp.js';
import { AMQP_URL } from '../../test/helpers/env.js';
import { startEntry, type ServiceProcess } from '../../test/helpers/processes.js';
import { createBenchDatabase, type BenchDatabase } from '../lib/database.js';
import { createRawProducer, createRawSchema, type RawProducer } from './rawLoop.js';

/** The raw baseline deployed like the pipeline: its own database and namespace, worker processes. */
export class RawStack {
  readonly workers: ServiceProcess[] = [];
  producer!: RawProducer;

  private constructor(readonly database: BenchDatabase, readonly namespace: string) {}

  static async start(workers: number): Promise<RawStack> {
    const stack = new RawStack(await createBenchDatabase({ migrate: false }), `bench-raw-${randomBytes(5).toString('hex')}`);
    try {
      await createRawSchema(stack.database.pool);
      stack.producer = await createRawProducer(stack.database.pool, AMQP_URL, stack.namespace);
      const env = { DATABASE_URL: stack.database.url, AMQP_URL, AMQP_NAMESPACE: stack.namespace };
      for (let i = 1; i <= workers; i += 1) {
        const worker = startEntry(`raw-worker-${i}`, 'bench/raw/rawWorker.ts', env);
        stack.workers.push(worker);
        await worker.waitForLog((l) => l.msg === 'worker ready');
      }
    } catch (error) {
      await stack.close();
      throw error;
    }
    return stack;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((p) => p.stop('SIGKILL')));
    await this.producer?.close().catch(() => undefined);
    await removeNamespace(this.namespace);
    await this.database.drop();
  }
}
