import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { tusSend } from '../../services/cli/tusUpload.js';
import { deleteObjects } from '../../services/media/storage/s3Delete.js';
import { gql } from '../../test/helpers/graphql.js';
import { startEntry } from '../../test/helpers/processes.js';
import { TestBucket } from '../../test/helpers/s3.js';
import type { Stack } from '../../test/helpers/stack.js';
import { startPipeline } from '../lib/pipeline.js';
import { absoluteRow, row, type BenchRow } from '../lib/results.js';
import { rssBytes, sampleRss } from '../lib/rss.js';
import { median } from '../lib/stats.js';
import { takeTurns } from '../lib/turns.js';
import { rawS3Upload } from '../raw/rawS3Upload.js';
import { MB, settleWriteback, timedUpload, writeRandomFile } from './upload.js';

// Uploads beyond the local disk (DESIGN §12), each against a raw baseline in the same run, taking turns:
// `upload-s3`: uploadVideo with STORAGE=s3 against a plain lib-storage upload to the same Swift;
// `tus` / `tus-s3`: createUpload + tus-js-client (default chunking: the whole file in one PATCH) against
// the upload benchmark's raw node handler (local) or the plain lib-storage upload (s3).

export interface StorageUploadOptions {
  bytes: number;
  runs: number;
}

/** One framelog process and its baseline on one backend: what each run sends and what it leaves to remove. */
interface Setup {
  pipeline: Stack;
  /** framelog's run with the input of `file`; the first, with a 1 MiB file, warms the path up before RSS is read. */
  framelogRun: (file: string, bytes: number) => Promise<number>;
  baselineRun: () => Promise<number>;
}

/** The measured file and a small one that warms framelog's upload path up (code loaded, clients connected). */
interface Input {
  file: string;
  small: string;
}

const WARM_UP_BYTES = 1024 * 1024;

/** A temp directory with the random input file, and (s3) a bucket of its own; all removed after. */
async function withInput<T>(options: StorageUploadOptions, s3: boolean, body: (input: Input, dir: string, bucket: TestBucket | null) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), 'framelog-bench-storage-'));
  const bucket = s3 ? await TestBucket.create() : null;
  try {
    const file = path.join(dir, 'upload.bin');
    const small = path.join(dir, 'warm-up.bin');
    await writeRandomFile(file, options.bytes);
    await writeRandomFile(small, WARM_UP_BYTES);
    return await body({ file, small }, dir, bucket);
  } finally {
    await bucket?.drop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Runs both sides in turns with the API's RSS sampled during framelog's runs; the two rows of a benchmark. */
async function measure(benchmark: string, measureName: string, setup: Setup, input: Input, options: StorageUploadOptions): Promise<BenchRow[]> {
  const { pipeline } = setup;
  const { runs, bytes } = options;
  // One small upload the same way first, so the figure is the upload's growth and not the first
  // request's warm-up (a first createUpload + tus request alone grew the API by ~70 MB).
  await setup.framelogRun(input.small, WARM_UP_BYTES);
  const rssBefore = await rssBytes(pipeline.api.pid);
  let rssPeak = rssBefore;
  const framelogRun = async () => {
    await settleWriteback();
    const sampler = sampleRss(pipeline.api.pid);
    const mbps = await setup.framelogRun(input.file, bytes);
    rssPeak = Math.max(rssPeak, await sampler.stop());
    return mbps;
  };
  const baselineRun = async () => {
    await settleWriteback();
    return setup.baselineRun();
  };
  const { framelog, baseline } = await takeTurns(runs, framelogRun, baselineRun);
  return [
    row({ benchmark, measure: `${measureName}, median of ${runs}`, unit: 'MB/s', framelog: median(framelog), baseline: median(baseline), comparison: '>=', limit: 0.8, details: { framelog, baseline } }),
    absoluteRow({ benchmark, measure: 'API RSS growth', unit: 'MB', value: (rssPeak - rssBefore) / MB, comparison: '<=', limit: 100, details: { rssBeforeMb: rssBefore / MB, rssPeakMb: rssPeak / MB } }),
  ];
}

/** Deletes what framelog stored under `prefix` (no worker reads it; the store must not fill up over the runs). */
async function emptyPrefix(bucket: TestBucket, prefix: string): Promise<void> {
  await deleteObjects(bucket.client, bucket.settings.bucket, await bucket.keys(prefix));
}

/** Issue 17: 1 GB through uploadVideo with STORAGE=s3 against a raw lib-storage upload to the same Swift. */
export async function uploadS3Benchmark(options: StorageUploadOptions): Promise<BenchRow[]> {
  return withInput(options, true, async (input, _dir, bucket) => {
    const pipeline = await startPipeline({ workers: 0, env: bucket!.env });
    try {
      const framelogRun = async (file: string, bytes: number) => {
        const mbps = await timedUpload(`${pipeline.apiUrl}/graphql`, file, bytes, (body) => {
          const parsed = JSON.parse(body) as { data?: { uploadVideo?: { sizeBytes?: number } } };
          if (parsed.data?.uploadVideo?.sizeBytes !== bytes) throw new Error(`uploadVideo did not store the whole file: ${body.slice(0, 500)}`);
        });
        await emptyPrefix(bucket!, 'uploads/');
        return mbps;
      };
      const measureName = `${(options.bytes / MB).toFixed(0)} MB through uploadVideo to S3 (Swift)`;
      return await measure('upload-s3', measureName, { pipeline, framelogRun, baselineRun: () => rawS3Upload(bucket!, input.file, options.bytes) }, input, options);
    } finally {
      await pipeline.close();
    }
  });
}

const CREATE_UPLOAD = `mutation($n: String!, $s: Float!) { createUpload(filename: $n, sizeBytes: $s) { uploadUrl video { id } } }`;

/** MB/s of one resumable upload as a client does it: createUpload, then tus-js-client with its defaults. */
async function timedTus(apiUrl: string, file: string, bytes: number): Promise<{ mbps: number; videoId: string }> {
  const started = performance.now();
  const { data, errors } = await gql<{ createUpload: { uploadUrl: string; video: { id: string } } }>(apiUrl, CREATE_UPLOAD, { n: 'bench.bin', s: bytes });
  if (data === undefined || data === null) throw new Error(`createUpload failed: ${JSON.stringify(errors)}`);
  await tusSend({ filePath: file, uploadUrl: data.createUpload.uploadUrl, headers: {} });
  return { mbps: bytes / MB / ((performance.now() - started) / 1000), videoId: data.createUpload.video.id };
}

/**
 * Issue 18: 1 GB over tus (createUpload + tus-js-client's default chunking) into an API with STORAGE
 * `backend`, against the upload benchmark's raw node handler (local) or a plain lib-storage upload to the
 * same Swift (s3).
 */
export async function tusBenchmark(options: StorageUploadOptions & { backend: 'local' | 's3' }): Promise<BenchRow[]> {
  const s3 = options.backend === 's3';
  return withInput(options, s3, async (input, dir, bucket) => {
    const pipeline = await startPipeline({ workers: 0, env: bucket?.env ?? {} });
    const rawStored = path.join(dir, 'raw-stored');
    await mkdir(rawStored);
    const rawServer = s3 ? null : startEntry('raw-upload', 'bench/raw/rawUploadServer.ts', { UPLOAD_DIR: rawStored });
    try {
      const rawUrl = rawServer === null ? '' : String((await rawServer.waitForLog((l) => l.msg === 'listening')).url);
      const framelogRun = async (file: string, bytes: number) => {
        const { mbps } = await timedTus(pipeline.apiUrl, file, bytes);
        if (bucket !== null) await emptyPrefix(bucket, 'resumable/');
        else await removeFilesIn(path.join(pipeline.mediaRoot, 'resumable'));
        return mbps;
      };
      const rawRun = async () => {
        const mbps = await timedUpload(rawUrl, input.file, options.bytes, (body) => {
          if ((JSON.parse(body) as { bytes: number }).bytes < options.bytes) throw new Error(`the raw handler got fewer bytes than sent: ${body}`);
        });
        await removeFilesIn(rawStored);
        return mbps;
      };
      const measureName = `${(options.bytes / MB).toFixed(0)} MB over tus${s3 ? ' to S3 (Swift)' : ''}`;
      return await measure(s3 ? 'tus-s3' : 'tus', measureName, { pipeline, framelogRun, baselineRun: s3 ? () => rawS3Upload(bucket!, input.file, options.bytes) : rawRun }, input, options);
    } finally {
      await rawServer?.stop('SIGKILL');
      await pipeline.close();
    }
  });
}

async function removeFilesIn(dir: string): Promise<void> {
  await Promise.all((await readdir(dir)).map((name) => rm(path.join(dir, name), { force: true })));
}
