import { stat } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { messageOf } from '../domain/errors.js';
import { multipartUpload } from './multipartUpload.js';

// `npm run upload -- <file> [--title T] [--wait] [--url U] [--token T]`
// Exit codes: 0 uploaded (with --wait: PROCESSED), 1 refused or FAILED, 2 bad usage.

const USAGE = 'usage: npm run upload -- <file> [--title T] [--wait] [--url http://127.0.0.1:4000] [--token T]  (or FRAMELOG_URL / FRAMELOG_TOKEN)';
const UPLOAD = 'mutation Upload($file: Upload!, $title: String) { uploadVideo(file: $file, title: $title) { id status } }';
const STATUS = 'query Status($id: ID!) { video(id: $id) { status attempts lastError { code message } renditions { label url } } }';
const POLL_MS = 1_000;

interface GraphQLBody<T> {
  data?: T | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}
interface VideoStatus {
  status: string;
  attempts: number;
  lastError: { code: string; message: string } | null;
  renditions: { label: string; url: string }[];
}

function fail(message: string, exitCode = 1): never {
  process.stderr.write(`${message}\n`);
  process.exit(exitCode);
}

const describeErrors = (errors: NonNullable<GraphQLBody<unknown>['errors']>) =>
  errors.map((e) => `${e.extensions?.code ?? 'ERROR'}: ${e.message}`).join('\n');

let args;
try {
  args = parseArgs({
    allowPositionals: true,
    options: { title: { type: 'string' }, wait: { type: 'boolean', default: false }, url: { type: 'string' }, token: { type: 'string' } },
  });
} catch (error) {
  fail(`${messageOf(error)}\n${USAGE}`, 2);
}
const file = args.positionals[0];
if (!file || args.positionals.length > 1) fail(USAGE, 2);
const baseUrl = (args.values.url ?? process.env.FRAMELOG_URL ?? 'http://127.0.0.1:4000').replace(/\/+$/, '').replace(/\/graphql$/, '');
if (!URL.canParse(baseUrl) || !/^https?:$/.test(new URL(baseUrl).protocol)) fail(`not an http(s) URL: ${baseUrl}\n${USAGE}`, 2);
// Caught here, before any request: a missing file or a directory would otherwise fail mid-upload.
const info = await stat(file).catch((error: unknown) => fail(`cannot read ${file}: ${messageOf(error)}`, 2));
if (!info.isFile()) fail(`not a file: ${file}`, 2);
const token = args.values.token ?? process.env.FRAMELOG_TOKEN;
const auth: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};

const bar = new cliProgress.SingleBar(
  { format: 'uploading [{bar}] {percentage}% | {value}/{total} bytes', stream: process.stderr, noTTYOutput: true, notTTYSchedule: 1_000 },
  cliProgress.Presets.shades_classic,
);
let started = false;
let response;
try {
  response = await multipartUpload({
    endpoint: `${baseUrl}/graphql`,
    filePath: file,
    query: UPLOAD,
    variables: { title: args.values.title ?? null },
    fileVariable: 'file',
    headers: auth,
    onProgress: (sent, total) => {
      if (!started) bar.start(total, 0);
      started = true;
      bar.update(sent);
    },
  });
} catch (error) {
  if (started) bar.stop();
  fail(`upload failed: ${messageOf(error)}`);
}
if (started) bar.stop();

let body: GraphQLBody<{ uploadVideo: { id: string; status: string } }>;
try {
  body = JSON.parse(response.body) as typeof body;
} catch {
  fail(`upload failed: HTTP ${response.status}: ${response.body.slice(0, 500)}`);
}
if (body.errors?.length || !body.data) fail(describeErrors(body.errors ?? [{ message: `HTTP ${response.status}` }]));
const { id } = body.data.uploadVideo;
process.stdout.write(`${id}\n`);
process.stderr.write(`uploaded: video ${id} is ${body.data.uploadVideo.status}\n`);
if (!args.values.wait) process.exit(0);

// Follow the status to its end. Polling keeps the CLI a plain HTTP client (no WebSocket needed).
let last = '';
for (;;) {
  const poll: GraphQLBody<{ video: VideoStatus | null }> = await fetch(`${baseUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...auth },
    body: JSON.stringify({ query: STATUS, variables: { id } }),
  })
    .then((r) => r.json() as Promise<GraphQLBody<{ video: VideoStatus | null }>>)
    .catch((error: unknown) => ({ errors: [{ message: `API unreachable: ${String(error)}`, extensions: { code: 'UNREACHABLE' } }] }));
  const video = poll.data?.video;
  if (poll.errors?.length) {
    // A passing outage is not the video's fate: report it and keep following.
    process.stderr.write(`${describeErrors(poll.errors)} (retrying)\n`);
  } else if (video) {
    const line = `${video.status}${video.attempts > 1 ? ` (attempt ${video.attempts})` : ''}`;
    if (line !== last) process.stderr.write(`${line}\n`);
    last = line;
    if (video.status === 'PROCESSED') {
      for (const r of video.renditions) process.stderr.write(`  ${r.label}: ${baseUrl}${r.url}\n`);
      process.exit(0);
    }
    if (video.status === 'FAILED') fail(`FAILED ${video.lastError?.code ?? 'UNKNOWN'}: ${video.lastError?.message ?? ''}`);
  }
  await delay(POLL_MS);
}
