import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { removeNamespace } from '../../test/helpers/amqp.js';
import { AMQP_URL } from '../../test/helpers/env.js';
import { spawn } from 'node:child_process';
import { ServiceProcess, startService } from '../../test/helpers/processes.js';
import { createBenchDatabase, type BenchDatabase } from './database.js';

export interface PipelineOptions {
  workers: number;
  /** Environment of every process on top of the deployment's own. */
  env?: Record<string, string>;
  workerEnv?: Record<string, string>;
}

let profileDir: string | undefined;

/**
 * `--profile`: every framelog process started from now on writes a V8 CPU profile into `dir` when it
 * exits (so close() then stops them gracefully instead of killing them).
 */
export function profileProcessesInto(dir: string | undefined): void {
  profileDir = dir;
}

/** startService, with V8's CPU profiler on when profiling (node refuses --cpu-prof in NODE_OPTIONS). */
function startProcess(name: string, service: 'api' | 'worker', env: Record<string, string>): ServiceProcess {
  if (!profileDir) return startService(name, service, env);
  const child = spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, '--import', 'tsx', `services/${service}/main.ts`], {
    cwd: new URL('../..', import.meta.url),
    env: { ...process.env, LOG_LEVEL: 'info', METRICS_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new ServiceProcess(name, child);
}

/** A Rascal namespace of its own for one benchmark. */
export function benchNamespace(): string {
  return `bench-${randomBytes(5).toString('hex')}`;
}

/**
 * framelog deployed as in production for one benchmark — the API (with the outbox relay inside, the
 * default) and worker processes — on its own database, Rascal namespace and media root.
 */
export class Pipeline {
  api!: ServiceProcess;
  apiUrl!: string;
  readonly workers: ServiceProcess[] = [];

  private constructor(readonly database: BenchDatabase, readonly namespace: string, readonly mediaRoot: string, private readonly options: PipelineOptions) {}

  static async start(options: PipelineOptions): Promise<Pipeline> {
    const database = await createBenchDatabase();
    const mediaRoot = await mkdtemp(path.join(tmpdir(), 'framelog-bench-media-'));
    const pipeline = new Pipeline(database, benchNamespace(), mediaRoot, options);
    try {
      pipeline.api = startProcess('api', 'api', { ...pipeline.env, PORT: '0' });
      pipeline.apiUrl = String((await pipeline.api.waitForLog((l) => l.msg === 'listening')).url);
      for (let i = 1; i <= options.workers; i += 1) {
        const worker = startProcess(`worker-${i}`, 'worker', { ...pipeline.env, ...options.workerEnv });
        pipeline.workers.push(worker);
        await worker.waitForLog((l) => l.msg === 'worker ready');
      }
    } catch (error) {
      await pipeline.close();
      throw error;
    }
    return pipeline;
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

  /** Stops every process, then removes the namespace, the database and the media root. */
  async close(): Promise<void> {
    // A profile is written at exit, which a killed process never reaches.
    await Promise.all([this.api, ...this.workers].filter(Boolean).map((p) => p.stop(profileDir ? 'SIGTERM' : 'SIGKILL')));
    await removeNamespace(this.namespace);
    await this.database.drop();
    await rm(this.mediaRoot, { recursive: true, force: true });
  }
}
