import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { UPLOAD_MUTATION, streamUpload } from '../../test/helpers/graphql.js';
import { startEntry } from '../../test/helpers/processes.js';
import { startPipeline } from '../lib/pipeline.js';
import { absoluteRow, row, type BenchRow } from '../lib/results.js';
import { rssBytes, sampleRss } from '../lib/rss.js';

const MB = 1_000_000;

/** Random bytes: upload throughput does not depend on the content, and nothing processes it. */
async function writeRandomFile(file: string, bytes: number): Promise<void> {
  const handle = await open(file, 'w');
  try {
    const chunk = 16 * 1024 * 1024;
    for (let written = 0; written < bytes; written += chunk) await handle.write(randomBytes(Math.min(chunk, bytes - written)));
  } finally {
    await handle.close();
  }
}

async function timedUpload(url: string, file: string, bytes: number, check: (body: string) => void): Promise<number> {
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

export async function uploadBenchmark(options: { bytes: number }): Promise<BenchRow[]> {
  const dir = await mkdtemp(path.join(tmpdir(), 'framelog-bench-upload-'));
  try {
    const file = path.join(dir, 'upload.bin');
    await writeRandomFile(file, options.bytes);

    const pipeline = await startPipeline({ workers: 0 });
    let framelog: number;
    let rssBefore: number;
    let rssPeak: number;
    try {
      // One small request first, so the figure is the upload's growth and not the first request's warm-up.
      await fetch(`${pipeline.apiUrl}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ __typename }"}' });
      rssBefore = await rssBytes(pipeline.api.pid);
      const sampler = sampleRss(pipeline.api.pid);
      framelog = await timedUpload(`${pipeline.apiUrl}/graphql`, file, options.bytes, (body) => {
        const parsed = JSON.parse(body) as { data?: { uploadVideo?: { sizeBytes?: number } }; errors?: unknown };
        if (parsed.data?.uploadVideo?.sizeBytes !== options.bytes) throw new Error(`uploadVideo did not store the whole file: ${body.slice(0, 500)}`);
      });
      rssPeak = await sampler.stop();
    } finally {
      await pipeline.close();
    }

    const stored = await mkdtemp(path.join(tmpdir(), 'framelog-bench-raw-upload-'));
    const server = startEntry('raw-upload', 'bench/raw/rawUploadServer.ts', { UPLOAD_DIR: stored });
    let baseline: number;
    try {
      const url = String((await server.waitForLog((l) => l.msg === 'listening')).url);
      baseline = await timedUpload(url, file, options.bytes, (body) => {
        if ((JSON.parse(body) as { bytes: number }).bytes < options.bytes) throw new Error(`the raw handler got fewer bytes than sent: ${body}`);
      });
    } finally {
      await server.stop('SIGKILL');
      await rm(stored, { recursive: true, force: true });
    }

    const growthMb = (rssPeak - rssBefore) / MB;
    const measure = `${(options.bytes / MB).toFixed(0)} MB through uploadVideo`;
    return [
      row({ benchmark: 'upload', measure, unit: 'MB/s', framelog, baseline, comparison: '>=', limit: 0.8 }),
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
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
