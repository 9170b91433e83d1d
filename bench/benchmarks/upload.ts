import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, open, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { UPLOAD_MUTATION, streamUpload } from '../../test/helpers/graphql.js';
import { withAdmin } from '../../test/helpers/env.js';
import { startEntry } from '../../test/helpers/processes.js';
import type { Stack } from '../../test/helpers/stack.js';
import { startPipeline } from '../lib/pipeline.js';
import { absoluteRow, row, type BenchRow } from '../lib/results.js';
import { rssBytes, sampleRss } from '../lib/rss.js';
import { median } from '../lib/stats.js';
import { takeTurns } from '../lib/turns.js';

const run = promisify(execFile);

export const MB = 1_000_000;

/**
 * Random bytes: upload throughput does not depend on the content, and nothing processes it. Synced, so
 * the kernel is not still writing the file back while the first upload is measured.
 */
export async function writeRandomFile(file: string, bytes: number): Promise<void> {
  const handle = await open(file, 'w');
  try {
    const chunk = 16 * 1024 * 1024;
    for (let written = 0; written < bytes; written += chunk) await handle.write(randomBytes(Math.min(chunk, bytes - written)));
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Writes every dirty page back before a run — PostgreSQL's (a checkpoint, which the benchmarks before
 * this one leave due) and the kernel's — so that no run shares the disk with writes left by what ran
 * before it: each run starts from the same, clean state.
 */
export async function settleWriteback(): Promise<void> {
  await withAdmin((admin) => admin.query('checkpoint'));
  await run('sync');
}

/** MB/s of one uploadVideo-shaped multipart request of `file` to `url`; `check` judges the answer's body. */
export async function timedUpload(url: string, file: string, bytes: number, check: (body: string) => void): Promise<number> {
  const started = performance.now();
  // Streamed with a known length, so neither side buffers it; the same body goes to the raw handler.
  const { response: answered } = streamUpload(url, {
    operations: { query: UPLOAD_MUTATION, variables: { file: null, title: 'bench upload' } },
    file: createReadStream(file, { highWaterMark: 1024 * 1024 }),
    bytes,
  });
  const response = await answered;
  const seconds = (performance.now() - started) / 1000;
  if (response.status !== 200) throw new Error(`upload answered ${response.status}: ${response.body.slice(0, 500)}`);
  check(response.body);
  return bytes / MB / seconds;
}

/**
 * framelog's uploadVideo and the raw handler, both up for the whole benchmark, take turns with the
 * same file (alternating which goes first, as load drifts); each run starts with no dirty pages and
 * its stored file is removed afterwards. The figure is the median of `runs` uploads per side.
 */
export async function uploadBenchmark(options: { bytes: number; runs: number }): Promise<BenchRow[]> {
  const dir = await mkdtemp(path.join(tmpdir(), 'framelog-bench-upload-'));
  try {
    const file = path.join(dir, 'upload.bin');
    await writeRandomFile(file, options.bytes);
    const rawStored = path.join(dir, 'raw-stored');
    await mkdir(rawStored);
    const pipeline = await startPipeline({ workers: 0 });
    try {
      const rawServer = startEntry('raw-upload', 'bench/raw/rawUploadServer.ts', { UPLOAD_DIR: rawStored });
      try {
        const rawUrl = String((await rawServer.waitForLog((l) => l.msg === 'listening')).url);
        return await measureTurns(pipeline, rawUrl, rawStored, file, options);
      } finally {
        await rawServer.stop('SIGKILL');
      }
    } finally {
      await pipeline.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function measureTurns(pipeline: Stack, rawUrl: string, rawStored: string, file: string, options: { bytes: number; runs: number }): Promise<BenchRow[]> {
  // One small request first, so the figure is the upload's growth and not the first request's warm-up.
  await fetch(`${pipeline.apiUrl}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ __typename }"}' });
  const rssBefore = await rssBytes(pipeline.api.pid);
  let rssPeak = rssBefore;

  const framelogRun = async () => {
    await settleWriteback();
    const sampler = sampleRss(pipeline.api.pid);
    const mbps = await timedUpload(`${pipeline.apiUrl}/graphql`, file, options.bytes, (body) => {
      const parsed = JSON.parse(body) as { data?: { uploadVideo?: { sizeBytes?: number } }; errors?: unknown };
      if (parsed.data?.uploadVideo?.sizeBytes !== options.bytes) throw new Error(`uploadVideo did not store the whole file: ${body.slice(0, 500)}`);
    });
    rssPeak = Math.max(rssPeak, await sampler.stop());
    // No worker runs here: nothing reads the stored upload, and the disk must not fill up over the runs.
    await rm(path.join(pipeline.mediaRoot, 'uploads'), { recursive: true, force: true });
    return mbps;
  };
  const rawRun = async () => {
    await settleWriteback();
    const mbps = await timedUpload(rawUrl, file, options.bytes, (body) => {
      if ((JSON.parse(body) as { bytes: number }).bytes < options.bytes) throw new Error(`the raw handler got fewer bytes than sent: ${body}`);
    });
    await Promise.all((await readdir(rawStored)).map((name) => rm(path.join(rawStored, name), { force: true })));
    return mbps;
  };

  const { framelog, baseline } = await takeTurns(options.runs, framelogRun, rawRun);

  const growthMb = (rssPeak - rssBefore) / MB;
  const measure = `${(options.bytes / MB).toFixed(0)} MB through uploadVideo, median of ${options.runs}`;
  return [
    row({ benchmark: 'upload', measure, unit: 'MB/s', framelog: median(framelog), baseline: median(baseline), comparison: '>=', limit: 0.8, details: { framelog, baseline } }),
    absoluteRow({
      benchmark: 'upload',
      measure: 'API RSS growth',
      unit: 'MB',
      value: growthMb,
      comparison: '<=',
      limit: 100,
      details: { rssBeforeMb: rssBefore / MB, rssPeakMb: rssPeak / MB },
    }),
  ];
}
