import type pg from 'pg';
import { waitFor } from '../../test/helpers/processes.js';
import { startPipeline } from '../lib/pipeline.js';
import { formatCpuTable, startCpuMeter, type CpuRoles } from '../lib/cpuTime.js';
import { absoluteRow, row, type BenchRow } from '../lib/results.js';
import { onSchedule, percentile, runConcurrently } from '../lib/stats.js';
import { appendUploadEvent } from '../lib/uploadEvent.js';
import { RawStack, type RawKind } from '../raw/rawStack.js';
import { measureClipCpu, type ClipCpu } from '../lib/clipCpu.js';

/** Uploads in flight at once while filling the pipeline, for both sides. */
const PRODUCER_CONCURRENCY = 4;

/**
 * One side of a task benchmark: something that accepts tasks and records each outcome in PostgreSQL.
 * Outcome times are the outcome rows' `recorded_at` (now(): the start of the outcome's transaction,
 * milliseconds before its commit) on both sides, read once everything is done — the same clock as
 * this process's Date.now(), since everything runs on this machine.
 */
interface TaskSystem {
  submit(): Promise<string>;
  /** Epoch ms of each outcome recorded so far, by stream id. */
  outcomes(): Promise<Map<string, number>>;
  /** Which process does what, for the CPU breakdown. */
  cpuRoles(): CpuRoles;
  close(): Promise<void>;
}

const PRODUCER_ROLE = 'bench process (producer, reads logs)';

async function outcomeTimes(pool: pg.Pool, query: string): Promise<Map<string, number>> {
  const { rows } = await pool.query<{ stream_id: string; at: string }>(query);
  return new Map(rows.map((r) => [r.stream_id, Number(r.at)]));
}

async function pipelineSystem(workers: number): Promise<TaskSystem> {
  const pipeline = await startPipeline({ workers, workerEnv: { PROCESSOR: 'noop' } });
  const { db, pool } = pipeline.database;
  return {
    submit: () => appendUploadEvent(db),
    outcomes: () => outcomeTimes(pool, `select stream_id, extract(epoch from recorded_at) * 1000 as at from events where type = 'VideoProcessed'`),
    cpuRoles: () => ({
      pool,
      pids: new Map([
        [process.pid, PRODUCER_ROLE],
        [pipeline.api.pid, 'framelog API (outbox relay)'],
        ...pipeline.workers.map((w) => [w.pid, 'workers'] as const),
      ]),
    }),
    close: () => pipeline.close(),
  };
}

async function rawSystem(workers: number, kind: RawKind = 'minimal'): Promise<TaskSystem> {
  const raw = await RawStack.start(workers, kind);
  const outcomeTable = kind === 'minimal' ? `raw_events where type = 'Processed'` : `events where type = 'VideoProcessed'`;
  return {
    submit: () => raw.producer.submit(),
    outcomes: () => outcomeTimes(raw.database.pool, `select stream_id, extract(epoch from recorded_at) * 1000 as at from ${outcomeTable}`),
    cpuRoles: () => ({ pool: raw.database.pool, pids: new Map([[process.pid, PRODUCER_ROLE], ...raw.workers.map((w) => [w.pid, 'workers'] as const)]) }),
    close: () => raw.close(),
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

async function waitForOutcomes(system: TaskSystem, count: number): Promise<Map<string, number>> {
  return waitFor(
    async () => {
      const outcomes = await system.outcomes();
      return outcomes.size >= count ? outcomes : null;
    },
    { timeoutMs: 900_000, intervalMs: 250, message: `${count} outcomes committed` },
  );
}

/**
 * Tasks per second from the first submission to the last outcome's commit, and the CPU milliseconds
 * each process role spent per task meanwhile.
 */
async function measureThroughput(system: TaskSystem, tasks: number): Promise<{ tasksPerSecond: number; cpuMsPerTask: Record<string, number> }> {
  const cpu = await startCpuMeter(system.cpuRoles());
  const startedAt = Date.now();
  await runConcurrently(tasks, PRODUCER_CONCURRENCY, async () => {
    await system.submit();
  });
  const outcomes = await waitForOutcomes(system, tasks);
  const cpuMsPerTask = await cpu.stop(tasks);
  const lastOutcome = Math.max(...outcomes.values());
  return { tasksPerSecond: tasks / ((lastOutcome - startedAt) / 1000), cpuMsPerTask };
}

type Throughput = Awaited<ReturnType<typeof measureThroughput>>;

/**
 * Per worker count: framelog against the same-work baseline (judged, >= 0.7x) and against the raw
 * minimum (printed as the floor, not judged); then framelog's CPU per task over all processes, and that
 * CPU as a share of processing one 720p clip (<= 1 %), the media work each task exists to carry.
 */
export async function throughputBenchmark(options: { tasks: number; workers: readonly number[]; clipSeconds: number }): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const clip = await measureClipCpu(options.clipSeconds);
  console.log(`CPU of processing one ${clip.seconds} s 720p clip: ${clip.cpuMs.toFixed(0)} ms (wall ${clip.wallMs.toFixed(0)} ms).`);
  for (const workers of options.workers) {
    const framelog = await withSystem(() => pipelineSystem(workers), (s) => measureThroughput(s, options.tasks));
    const sameWork = await withSystem(() => rawSystem(workers, 'same-work'), (s) => measureThroughput(s, options.tasks));
    const minimal = await withSystem(() => rawSystem(workers, 'minimal'), (s) => measureThroughput(s, options.tasks));
    const measure = `${options.tasks} tasks, ${workers} worker${workers === 1 ? '' : 's'}`;
    console.log(formatCpuTable(`CPU per task (ms), ${measure}:`, { framelog: framelog.cpuMsPerTask, 'same work': sameWork.cpuMsPerTask, 'raw minimum': minimal.cpuMsPerTask }));
    rows.push(...throughputRows(measure, framelog, sameWork, minimal, clip));
  }
  return rows;
}

function throughputRows(measure: string, framelog: Throughput, sameWork: Throughput, minimal: Throughput, clip: ClipCpu): BenchRow[] {
  const details = { cpuMsPerTask: { framelog: framelog.cpuMsPerTask, sameWork: sameWork.cpuMsPerTask, rawMinimum: minimal.cpuMsPerTask }, clip };
  // Processes outside both deployments (anything else running on the machine) are not framelog's cost.
  const cpuMs = (framelog.cpuMsPerTask.total ?? Number.NaN) - (framelog.cpuMsPerTask.other ?? 0);
  const perTask = { benchmark: 'throughput', unit: 'tasks/s', framelog: framelog.tasksPerSecond } as const;
  return [
    row({ ...perTask, measure: `${measure}, vs the same durable work`, baseline: sameWork.tasksPerSecond, comparison: '>=', limit: 0.7, details }),
    row({ ...perTask, measure: `${measure}, vs the raw minimum (floor)`, baseline: minimal.tasksPerSecond, comparison: '>=', limit: Number.NEGATIVE_INFINITY, details }),
    absoluteRow({ benchmark: 'throughput', measure: `${measure}, CPU per task, framelog with PostgreSQL, RabbitMQ and the producer`, unit: 'ms', value: cpuMs, comparison: '<=', limit: Number.POSITIVE_INFINITY }),
    absoluteRow({
      benchmark: 'throughput',
      measure: `${measure}, that CPU as a share of processing a ${clip.seconds} s 720p clip`,
      unit: '%',
      value: (cpuMs / clip.cpuMs) * 100,
      comparison: '<=',
      limit: 1,
      details: { clip },
    }),
  ];
}

/**
 * Open loop (onSchedule): task i is due at start + i/rate and is submitted then whether or not earlier
 * ones have finished, and its latency counts from when it was due — a stalled system cannot hide latency by
 * slowing the generator down (coordinated omission).
 */
async function measureLatency(system: TaskSystem, rate: number, tasks: number): Promise<{ p50: number; p99: number; max: number }> {
  const due = new Map<string, number>();
  // On the epoch clock: outcome times are the outcome rows' recorded_at.
  await onSchedule(rate, tasks, (_, dueAt) => system.submit().then((id) => void due.set(id, dueAt)), Date.now);
  const outcomes = await waitForOutcomes(system, tasks);
  const latencies = [...due].map(([id, dueAt]) => {
    const recorded = outcomes.get(id);
    if (recorded === undefined) throw new Error(`no outcome recorded for ${id}`);
    return recorded - dueAt;
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
