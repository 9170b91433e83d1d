import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ffmpegBenchmark } from './benchmarks/ffmpeg.js';
import { playableBenchmark } from './benchmarks/playable.js';
import { rebuildBenchmark } from './benchmarks/rebuild.js';
import { splitBenchmark } from './benchmarks/split.js';
import { streamingBenchmark } from './benchmarks/streaming.js';
import { latencyBenchmark, throughputBenchmark } from './benchmarks/tasks.js';
import { tusBenchmark, uploadS3Benchmark } from './benchmarks/storageUploads.js';
import { uploadBenchmark } from './benchmarks/upload.js';
import { videoQueryBenchmark } from './benchmarks/videoQuery.js';
import { machineInfo } from './lib/machine.js';
import { profileProcessesInto } from './lib/pipeline.js';
import { summariseProfiles } from './lib/profileSummary.js';
import { formatTable, type BenchRow } from './lib/results.js';

/**
 * `npm run bench [-- --only <name>[,<name>]] [--quick] [--profile]`: framelog against a raw baseline, side by
 * side in one run on the local services; prints a table and writes bench/results/<time>.json.
 */
const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    quick: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
  },
});
const quick = values.quick ?? false;
const resultsDir = new URL('./results/', import.meta.url);
const runId = `bench-${new Date().toISOString().replaceAll(':', '-')}${quick ? '-quick' : ''}`;

const BENCHMARKS: Record<string, () => Promise<BenchRow[]>> = {
  throughput: () => throughputBenchmark({ tasks: quick ? 300 : 3_000, workers: [1, 3], clipSeconds: quick ? 2 : 10 }),
  latency: () => latencyBenchmark({ rate: 100, seconds: quick ? 5 : 30, workers: 1 }),
  upload: () => uploadBenchmark({ bytes: quick ? 64 * 1024 ** 2 : 1024 ** 3, runs: quick ? 3 : 5 }),
  'upload-s3': () => uploadS3Benchmark({ bytes: quick ? 64 * 1024 ** 2 : 1024 ** 3, runs: quick ? 3 : 5 }),
  tus: () => tusBenchmark({ bytes: quick ? 64 * 1024 ** 2 : 1024 ** 3, runs: quick ? 3 : 5, backend: 'local' }),
  'tus-s3': () => tusBenchmark({ bytes: quick ? 64 * 1024 ** 2 : 1024 ** 3, runs: quick ? 3 : 5, backend: 's3' }),
  rebuild: () => rebuildBenchmark({ events: quick ? 60_000 : 1_000_000 }),
  ffmpeg: () => ffmpegBenchmark({ seconds: quick ? 2 : 10, runs: quick ? 1 : 3 }),
  playable: () => playableBenchmark({ seconds: quick ? 4 : 60, runs: quick ? 1 : 3 }),
  streaming: () => streamingBenchmark({ seconds: quick ? 2 : 10, runs: quick ? 1 : 3 }),
  split: () => splitBenchmark({ seconds: quick ? 16 : 120, segmentSeconds: quick ? 4 : 30 }),
  video: () => videoQueryBenchmark({ clients: 50, requestsPerClient: quick ? 20 : 200, rate: 500, seconds: quick ? 2 : 20 }),
};

const only = values.only?.split(',').map((name) => name.trim()).filter(Boolean) ?? Object.keys(BENCHMARKS);
const unknown = only.filter((name) => !(name in BENCHMARKS));
if (unknown.length > 0) {
  console.error(`Unknown benchmark(s): ${unknown.join(', ')}. Choose from: ${Object.keys(BENCHMARKS).join(', ')}.`);
  process.exit(2);
}

const machine = await machineInfo();
console.log(`framelog bench${quick ? ' (quick)' : ''} on ${machine.cpuModel}, ${machine.cores} cores — ${only.join(', ')}`);
const rows: BenchRow[] = [];
const failures: { benchmark: string; error: string }[] = [];
for (const name of only) {
  const started = performance.now();
  console.log(`\n▶ ${name}`);
  const profileDir = values.profile ? fileURLToPath(new URL(`${runId}-profiles/${name}/`, resultsDir)) : undefined;
  profileProcessesInto(profileDir);
  try {
    const result = await BENCHMARKS[name]!();
    rows.push(...result);
    console.log(formatTable(result));
    if (profileDir) console.log(`\nCPU profiles of the framelog processes (${profileDir}):\n${await summariseProfiles(profileDir).catch(() => 'none written')}`);
  } catch (error) {
    // One broken benchmark must not lose the others' figures; the run still exits non-zero.
    console.error(`✖ ${name} failed:`, error);
    failures.push({ benchmark: name, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  }
  console.log(`  (${((performance.now() - started) / 1000).toFixed(1)} s)`);
}

console.log(`\n${formatTable(rows)}`);
await mkdir(resultsDir, { recursive: true });
const file = new URL(`${runId}.json`, resultsDir);
await writeFile(file, `${JSON.stringify({ startedAt: new Date().toISOString(), quick, machine, rows, failures }, null, 2)}\n`);
console.log(`\nResults written to ${file.pathname}`);
process.exit(failures.length > 0 ? 1 : 0);
