import { tmpdir } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { ErrorCode, FramelogError } from './domain/errors.js';
import { GOP_SECONDS } from './media/transcode.js';

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);
const msList = z
  .string()
  .regex(/^\d+(,\d+)*$/, 'a comma-separated list of milliseconds, e.g. 5000,30000,120000')
  .transform((s) => s.split(',').map(Number));
const bool = (fallback: boolean) =>
  z.enum(['true', 'false']).default(fallback ? 'true' : 'false').transform((v) => v === 'true');
/** Key segments as storage keys have them (media/keys.ts), each followed by `/`; a missing final `/` is added. */
const keyPrefix = z
  .string()
  .regex(/^([A-Za-z0-9_-][A-Za-z0-9._-]*\/)*([A-Za-z0-9_-][A-Za-z0-9._-]*)?$/, 'slash-separated segments of [A-Za-z0-9._-], e.g. framelog/ (no leading "/", "." or "..")')
  .transform((s) => (s === '' || s.endsWith('/') ? s : `${s}/`));

/**
 * Every setting, with a default that works on a developer machine with the local services
 * (DESIGN §9). Parsed once, in each process's entry point (services/main/), which hands libraries plain options.
 */
export const ConfigSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).default('postgres://postgres@127.0.0.1:5432/framelog'),
  AMQP_URL: z.url({ protocol: /^amqps?$/ }).default('amqp://guest:guest@127.0.0.1:5672'),
  /** Prefix for every exchange and queue name (Rascal namespace); isolates test runs. */
  AMQP_NAMESPACE: z.string().regex(/^[A-Za-z0-9_.-]*$/).default(''),
  PORT: int(0, 65535).default(4000),
  HOST: z.string().min(1).default('127.0.0.1'),
  /**
   * The API's public origin (e.g. `https://video.example.com`), put in front of every media URL the API
   * returns (`renditions.url`, `posterUrl`, `streaming.hlsUrl`) so a player on any page can load them;
   * empty: URLs are relative to the API.
   */
  PUBLIC_URL: z.union([z.literal(''), z.url({ protocol: /^https?$/ }).transform((url) => url.replace(/\/+$/, ''))]).default(''),
  MEDIA_ROOT: z.string().min(1).default('./data/media'),
  /**
   * Where uploads and outputs live: `local` (MEDIA_ROOT, a directory the API and every worker share) or
   * `s3` (an S3-compatible store, S3_*; API and workers share no disk). DESIGN §12.
   */
  STORAGE: z.enum(['local', 's3']).default('local'),
  /** The S3 endpoint; the default is the local Swift of ops/s3-up.sh. AWS: https://s3.<region>.amazonaws.com */
  S3_ENDPOINT: z.url({ protocol: /^https?$/ }).default('http://127.0.0.1:8080'),
  S3_REGION: z.string().regex(/^[a-z0-9-]{1,64}$/, 'a region name such as us-east-1').default('us-east-1'),
  /** S3's bucket naming rules (3-63 lower-case letters, digits, dots, hyphens); it must exist. */
  S3_BUCKET: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, '3-63 lower-case letters, digits, dots and hyphens')
    .default('framelog'),
  /**
   * Both or neither. Neither: in production the AWS SDK's default chain (AWS_* variables, web identity,
   * instance roles); elsewhere the test account of the local Swift (ops/s3-up.sh).
   */
  S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  /** Path-style URLs (`endpoint/bucket/key`): what most non-AWS stores (Swift, MinIO, Ceph) need. */
  S3_FORCE_PATH_STYLE: bool(true),
  /** Prepended to every object key, e.g. `framelog/` to share a bucket. */
  S3_PREFIX: keyPrefix.default(''),
  /**
   * With STORAGE=s3: where a worker downloads a source and ffmpeg writes outputs before they are uploaded.
   * One directory per attempt, removed when the attempt ends however it ends.
   */
  SCRATCH_DIR: z.string().min(1).default(path.join(tmpdir(), 'framelog-scratch')),
  WORKERS: int(0, 64).default(2),
  MAX_UPLOAD_BYTES: int(1).default(2 * 1024 ** 3),
  /**
   * Longest time the API waits for a whole request, upload body included; a stalled or too slow upload is
   * cut with 408 after it. Node's default (300 s) would cut a 2 GiB upload on any link under ~7 MB/s.
   */
  REQUEST_TIMEOUT_SECONDS: int(1, 86_400).default(3_600),
  /** A resumable upload (createUpload) not finished within this many hours ends FAILED with UPLOAD_EXPIRED; its bytes are removed. */
  UPLOAD_EXPIRY_HOURS: z.coerce.number().positive().max(24 * 365).default(24),
  /** How often the API looks for expired resumable uploads. */
  UPLOAD_SWEEP_SECONDS: int(1, 86_400).default(60),
  MAX_ATTEMPTS: int(1, 100).default(5),
  /** Deliveries without any outcome (worker crashes) before a task fails with REDELIVERY_LIMIT. */
  DELIVERY_LIMIT: int(1, 100).default(3),
  RETRY_DELAYS_MS: msList.default([5_000, 30_000, 120_000]),
  /** A transcode running longer is killed; must stay below BROKER_CONSUMER_TIMEOUT_SECONDS. */
  JOB_TIMEOUT_SECONDS: int(1).default(1_200),
  /** RabbitMQ's consumer_timeout (ops/rabbitmq.conf); a delivery unacked for longer is taken back. */
  BROKER_CONSUMER_TIMEOUT_SECONDS: int(1).default(1_800),
  SHUTDOWN_GRACE_SECONDS: int(0, 3_600).default(30),
  FFMPEG_THREADS: int(0, 64).default(0),
  /**
   * Split and stitch (DESIGN §11): a video longer than this many seconds is split into ranges that any
   * worker encodes, then stitched; 0 turns splitting off (every video is one transcode task).
   */
  SPLIT_MIN_SECONDS: int(0).default(60),
  /** Length of each range of a split video, in seconds: a positive multiple of the GOP (GOP_SECONDS, 2 s). */
  SEGMENT_SECONDS: int(GOP_SECONDS).refine((s) => s % GOP_SECONDS === 0, `must be a multiple of the GOP (${GOP_SECONDS} s)`).default(30),
  /** What a worker does with a task: `ffmpeg` transcodes; `noop` records success at once (benchmarks). */
  PROCESSOR: z.enum(['ffmpeg', 'noop']).default('ffmpeg'),
  /** Longer inputs are refused: a transcode must fit in JOB_TIMEOUT_SECONDS on the worker's cores. */
  MAX_DURATION_SECONDS: int(1).default(600),
  MAX_DIMENSION: int(16).default(8192),
  MAX_STREAMS: int(1, 1_000).default(16),
  /** At least 2: a projection rebuild writes on one connection while it reads the log on another. */
  PG_POOL_MAX: int(2, 1_000).default(10),
  /** How long the API reuses a token's principal without asking PostgreSQL; a revocation takes effect within it. 0 = never. */
  AUTH_CACHE_SECONDS: int(0, 300).default(5),
  /** Subscriptions one WebSocket may run at once; each push of each one costs the API a database read. */
  MAX_SUBSCRIPTIONS_PER_SOCKET: int(1, 100_000).default(100),
  /** Subscriptions one API token may run at once over all its sockets (in one API process). */
  MAX_SUBSCRIPTIONS_PER_TOKEN: int(1, 1_000_000).default(1_000),
  RELAY_BATCH_SIZE: int(1, 10_000).default(100),
  RELAY_SWEEP_MS: int(10).default(1_000),
  /** Run the outbox relay inside the API process (DESIGN §2). */
  RELAY_IN_API: bool(true),
  /** Where a worker serves /metrics; 0 = any free port (logged at start). `npm start` gives worker i this + i - 1. */
  METRICS_PORT: int(0, 65535).default(9464),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
}).refine((c) => c.JOB_TIMEOUT_SECONDS + 60 <= c.BROKER_CONSUMER_TIMEOUT_SECONDS, {
  // An attempt outliving consumer_timeout would have its channel closed and be redelivered mid-work.
  message: 'must be at least 60 s below BROKER_CONSUMER_TIMEOUT_SECONDS (RabbitMQ consumer_timeout)',
  path: ['JOB_TIMEOUT_SECONDS'],
}).refine((c) => c.MAX_SUBSCRIPTIONS_PER_SOCKET <= c.MAX_SUBSCRIPTIONS_PER_TOKEN, {
  message: 'must not be above MAX_SUBSCRIPTIONS_PER_TOKEN (a socket carries one token)',
  path: ['MAX_SUBSCRIPTIONS_PER_SOCKET'],
}).refine((c) => (c.S3_ACCESS_KEY_ID === undefined) === (c.S3_SECRET_ACCESS_KEY === undefined), {
  message: 'set S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY together, or neither',
  path: ['S3_SECRET_ACCESS_KEY'],
});
export type Config = z.infer<typeof ConfigSchema>;

/** Parses the environment; a bad value stops start-up with a message naming the setting. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const input = Object.fromEntries(
    Object.keys(ConfigSchema.shape).flatMap((key) => {
      const value = env[key];
      return value === undefined || value === '' ? [] : [[key, value]];
    }),
  );
  const result = ConfigSchema.safeParse(input);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new FramelogError(ErrorCode.CONFIG_INVALID, `Invalid settings — ${problems.join('; ')}`, {
      details: { problems },
    });
  }
  return result.data;
}

