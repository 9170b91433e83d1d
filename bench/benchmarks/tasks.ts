import { sql } from 'kysely';
import { waitFor } from '../../test/helpers/processes.js';
import { listenForCommits, type CommitClock } from '../lib/commitClock.js';
import { Pipeline } from '../lib/pipeline.js';
import { row, type BenchRow } from '../lib/results.js';
import { percentile, runConcurrently } from '../lib/stats.js';
import { appendUploadEvent } from '../lib/uploadEvent.js';
import { RAW_PROCESSED_CHANNEL } from '../raw/rawLoop.js';
import { RawStack } from '../raw/rawStack.js';

/** framelog's channel: the videos row changes at every append, last at the outcome (migration 0002). */
const VIDEO_UPDATED_CHANNEL = 'framelog_video_updated';
/** Uploads in flight at once while filling the pipeline, for both sides. */
const PRODUCER_CONCURRENCY = 4;

/** One side of a task benchmark: something that accepts tasks and reports each outcome's commit. */
interface TaskSystem {
  clock: CommitClock;
  submit(): Promise<string>;
  /** Outcomes committed so far. */
  processed(): Promise<number>;
  close(): Promise<void>;
}

async function pipelineSystem(workers: number): Promise<TaskSystem> {
  const pipeline = await Pipeline.start({ workers, workerEnv: { PROCESSOR: 'noop' } });
  const clock = await listenForCommits(pipeline.database.url, VIDEO_UPDATED_CHANNEL).catch(async (error: unknown) => {
    await pipeline.close();
    throw error;
  });
  const { db } = pipeline.database;
  return {
    clock,
    submit: () => appendUploadEvent(db),
    async processed() {
      const { rows } = await sql<{ n: string }>`select count(*) as n from events where type = 'VideoProcessed'`.execute(db);
      return Number(rows[0]?.n ?? 0);
    },
    async close() {
      await clock.close();
      await pipeline.close();
    },
  };
}

async function rawSystem(workers: number): Promise<TaskSystem> {
  const raw = await RawStack.start(workers);
  const clock = await listenForCommits(raw.database.url, RAW_PROCESSED_CHANNEL).catch(async (error: unknown) => {
    await raw.close();
    throw error;
  });
  return {
    clock,
    submit: () => raw.producer.submit(),
    processed: () => Promise.resolve(clock.lastSeen.size),
    async close() {
      await clock.close();
      await raw.close();
    },
  };
}

async function withSystem<T>(start: () => Promise<TaskSystem>, fn: (system: TaskSystem) => Promise<T>): Promise<T> {
  const system = await start();
  try {
    return await fn(system);
  } finally {
    await system.close();
  }
}

async function waitForOutcomes(system: TaskSystem, count: number): Promise<void> {
  await waitFor(async () => (await system.processed()) >= count, { timeoutMs: 600_000, intervalMs: 100, message: `${count} outcomes committed` });
}

/** Tasks per second from the first submission to the last outcome's commit. */
async function measureThroughput(system: TaskSystem, tasks: number): Promise<number> {
  const startedAt = performance.now();
  await runConcurrently(tasks, PRODUCER_CONCURRENCY, async () => {
    await system.submit();
  });
  await waitForOutcomes(system, tasks);
  const lastCommit = Math.max(...system.clock.lastSeen.values());
  return tasks / ((lastCommit - startedAt) / 1000);
}

export async function throughputBenchmark(options: { tasks: number; workers: readonly number[] }): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const workers of options.workers) {
    const framelog = await withSystem(() => pipelineSystem(workers), (s) => measureThroughput(s, options.tasks));
    const baseline = await withSystem(() => rawSystem(workers), (s) => measureThroughput(s, options.tasks));
    rows.push(
      row({
        benchmark: 'throughput',
        measure: `${options.tasks} tasks, ${workers} worker${workers === 1 ? '' : 's'}`,
        unit: 'tasks/s',
        framelog,
        baseline,
        comparison: '>=',
        limit: 0.7,
      }),
    );
  }
  return rows;
}

/**
 * Open loop: task i is due at start + i/rate and is submitted then whether or not earlier ones have
 * finished, and its latency counts from when it was due — a stalled system cannot hide latency by
 * slowing the generator down (coordinated omission).
 */
async function measureLatency(system: TaskSystem, rate: number, tasks: number): Promise<{ p50: number; p99: number; max: number }> {
  const due = new Map<string, number>();
  const submissions: Promise<void>[] = [];
  const startedAt = performance.now() + 100;
  for (let i = 0; i < tasks; i += 1) {
    const dueAt = startedAt + (i * 1000) / rate;
    const wait = dueAt - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    submissions.push(system.submit().then((id) => void due.set(id, dueAt)));
  }
  await Promise.all(submissions);
  await waitForOutcomes(system, tasks);
  const latencies = [...due].map(([id, dueAt]) => {
    const committed = system.clock.lastSeen.get(id);
    if (committed === undefined) throw new Error(`no outcome commit seen for ${id}`);
    return committed - dueAt;
  });
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: percentile(latencies, 100) };
}

export async function latencyBenchmark(options: { rate: number; seconds: number; workers: number }): Promise<BenchRow[]> {
  const tasks = options.rate * options.seconds;
  const framelog = await withSystem(() => pipelineSystem(options.workers), (s) => measureLatency(s, options.rate, tasks));
  const baseline = await withSystem(() => rawSystem(options.workers), (s) => measureLatency(s, options.rate, tasks));
  const measure = `${options.rate} tasks/s for ${options.seconds} s, ${options.workers} worker(s)`;
  const details = { framelog, baseline };
  return [
    row({ benchmark: 'latency', measure: `p50, ${measure}`, unit: 'ms', framelog: framelog.p50, baseline: baseline.p50, comparison: '<=', limit: Number.POSITIVE_INFINITY, details }),
    row({ benchmark: 'latency', measure: `p99, ${measure}`, unit: 'ms', framelog: framelog.p99, baseline: baseline.p99, comparison: '<=', limit: 3, details }),
  ];
}
