import { randomBytes } from 'node:crypto';
import { removeNamespace } from '../../test/helpers/amqp.js';
import { AMQP_URL } from '../../test/helpers/env.js';
import { startEntry, type ServiceProcess } from '../../test/helpers/processes.js';
import { createBenchDatabase, type BenchDatabase } from '../lib/database.js';
import { createRawProducer, createRawSchema, type RawProducer } from './rawLoop.js';
import { createSameWorkProducer } from './sameWork.js';

/**
 * Which baseline: `minimal` is the raw loop (rawLoop.ts: one plain insert per event, the floor);
 * `same-work` does framelog's durable work per task through its SQL (sameWork.ts).
 */
export type RawKind = 'minimal' | 'same-work';

/** The raw baseline deployed like the pipeline: its own database and namespace, worker processes. */
export class RawStack {
  readonly workers: ServiceProcess[] = [];
  producer!: RawProducer;

  private constructor(readonly database: BenchDatabase, readonly namespace: string) {}

  static async start(workers: number, kind: RawKind = 'minimal'): Promise<RawStack> {
    const sameWork = kind === 'same-work';
    const stack = new RawStack(await createBenchDatabase({ migrate: sameWork }), `bench-raw-${randomBytes(5).toString('hex')}`);
    try {
      if (!sameWork) await createRawSchema(stack.database.pool);
      stack.producer = await (sameWork ? createSameWorkProducer : createRawProducer)(stack.database.pool, AMQP_URL, stack.namespace);
      const env = { DATABASE_URL: stack.database.url, AMQP_URL, AMQP_NAMESPACE: stack.namespace };
      const entry = sameWork ? 'bench/raw/sameWorkWorker.ts' : 'bench/raw/rawWorker.ts';
      for (let i = 1; i <= workers; i += 1) {
        const worker = startEntry(`raw-worker-${i}`, entry, env);
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
