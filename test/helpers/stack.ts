import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createTestDatabase } from './db.js';
import { AMQP_URL } from './env.js';
import { removeNamespace, testNamespace } from './amqp.js';
import { startEntry, startService, type ServiceProcess } from './processes.js';
import type { ScratchDatabase } from './scratchDatabase.js';

export interface StackOptions {
  workers: number;
  /** Extra environment for every process. */
  env?: Record<string, string>;
  apiEnv?: Record<string, string>;
  workerEnv?: Record<string, string>;
  /** Where the deployment's database comes from (default: a clone of the test template). */
  createDatabase?: () => Promise<ScratchDatabase>;
  namespace?: string;
  /** Arguments for node in every process (e.g. CPU profiling in the benchmarks). */
  nodeArgs?: readonly string[];
  /** How close() stops the processes (SIGTERM lets them write what they write at exit). */
  stopSignal?: NodeJS.Signals;
}

/**
 * A whole framelog deployment for one test file: its own database, Rascal namespace and media root,
 * with the API and workers as real processes. `close()` stops them and removes everything.
 */
export class Stack {
  api!: ServiceProcess;
  apiUrl!: string;
  readonly workers: ServiceProcess[] = [];
  private constructor(readonly database: ScratchDatabase, readonly namespace: string, readonly mediaRoot: string, private readonly options: StackOptions) {}

  static async start(options: StackOptions): Promise<Stack> {
    const database = await (options.createDatabase ?? createTestDatabase)();
    const mediaRoot = await mkdtemp(path.join(tmpdir(), 'framelog-media-'));
    const stack = new Stack(database, options.namespace ?? testNamespace(), mediaRoot, options);
    try {
      await stack.startApi();
      for (let i = 0; i < options.workers; i += 1) await stack.startWorker();
    } catch (error) {
      await stack.close();
      throw error;
    }
    return stack;
  }

  get env(): Record<string, string> {
    return {
      DATABASE_URL: this.database.url,
      AMQP_URL,
      AMQP_NAMESPACE: this.namespace,
      MEDIA_ROOT: this.mediaRoot,
      ...this.options.env,
    };
  }

  /** Starts the API (again); `env` adds to the stack's API environment for this start only. */
  async startApi(env: Record<string, string> = {}): Promise<ServiceProcess> {
    this.api = startService('api', 'api', { ...this.env, PORT: '0', ...this.options.apiEnv, ...env }, this.options.nodeArgs);
    const line = await this.api.waitForLog((l) => l.msg === 'listening');
    this.apiUrl = String(line.url);
    return this.api;
  }

  /** Starts one more worker; `entry` runs a test-only composition (e.g. a faulty processor) instead. */
  async startWorker(options: { entry?: string; env?: Record<string, string> } = {}): Promise<ServiceProcess> {
    const name = `worker-${this.workers.length + 1}`;
    const env = { ...this.env, ...this.options.workerEnv, ...options.env };
    const nodeArgs = this.options.nodeArgs;
    const worker = options.entry ? startEntry(name, options.entry, env, nodeArgs) : startService(name, 'worker', env, nodeArgs);
    this.workers.push(worker);
    await worker.waitForLog((l) => l.msg === 'worker ready');
    return worker;
  }

  /** Media path of a storage key. */
  file(key: string): string {
    return path.join(this.mediaRoot, key);
  }

  async close(): Promise<void> {
    await Promise.all([this.api, ...this.workers].filter(Boolean).map((p) => p.stop(this.options.stopSignal ?? 'SIGKILL')));
    await removeNamespace(this.namespace);
    await this.database.drop();
    await rm(this.mediaRoot, { recursive: true, force: true });
  }
}
