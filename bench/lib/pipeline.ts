import { randomBytes } from 'node:crypto';
import { Stack } from '../../test/helpers/stack.js';
import { createBenchDatabase } from './database.js';

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

/** Where `--profile` profiles go (undefined without it), for work a benchmark runs in its own process. */
export function profilingDir(): string | undefined {
  return profileDir;
}

/** A Rascal namespace of its own for one benchmark. */
export function benchNamespace(): string {
  return `bench-${randomBytes(5).toString('hex')}`;
}

/**
 * framelog deployed as in production for one benchmark — the API (with the outbox relay inside, the
 * default) and worker processes — on its own database, Rascal namespace and media root: the tests'
 * Stack, on a freshly migrated database instead of the vitest template.
 */
export function startPipeline(options: PipelineOptions): Promise<Stack> {
  return Stack.start({
    ...options,
    createDatabase: () => createBenchDatabase(),
    namespace: benchNamespace(),
    ...(profileDir ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`], stopSignal: 'SIGTERM' as const } : {}),
  });
}
