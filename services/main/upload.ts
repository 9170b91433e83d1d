import { stat } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { messageOf } from '../domain/errors.js';
import { multipartUpload } from '../cli/multipartUpload.js';
import { OpenUploads, tusSend, type OpenUpload } from '../cli/tusUpload.js';

// `npm run upload -- <file> [--title T] [--wait] [--resume] [--resumable-above BYTES] [--url U] [--token T]`
// Exit codes: 0 uploaded (with --wait: PROCESSED), 1 refused or FAILED, 2 bad usage.

const USAGE =
  'usage: npm run upload -- <file> [--title T] [--wait] [--resume] [--resumable-above BYTES] [--url http://127.0.0.1:4000] [--token T]  (or FRAMELOG_URL / FRAMELOG_TOKEN)';
const UPLOAD = 'mutation Upload($file: Upload!, $title: String) { uploadVideo(file: $file, title: $title) { id status } }';
const CREATE_UPLOAD = 'mutation Create($filename: String!, $sizeBytes: Float!, $title: String) { createUpload(filename: $filename, sizeBytes: $sizeBytes, title: $title) { uploadUrl video { id } } }';
/** Files from this size on go over tus (resumable); smaller ones in one uploadVideo request. */
const RESUMABLE_ABOVE_BYTES = 64 * 1024 * 1024;
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

function parseArguments() {
  try {
    return parseArgs({
      allowPositionals: true,
      options: {
        title: { type: 'string' },
        wait: { type: 'boolean', default: false },
        resume: { type: 'boolean', default: false },
        'resumable-above': { type: 'string' },
        url: { type: 'string' },
        token: { type: 'string' },
      },
    });
  } catch (error) {
    fail(`${messageOf(error)}\n${USAGE}`, 2);
  }
}
const args = parseArguments();
const file = args.positionals[0];
if (!file || args.positionals.length > 1) fail(USAGE, 2);
const baseUrl = (args.values.url ?? process.env.FRAMELOG_URL ?? 'http://127.0.0.1:4000').replace(/\/+$/, '').replace(/\/graphql$/, '');
if (!URL.canParse(baseUrl) || !/^https?:$/.test(new URL(baseUrl).protocol)) fail(`not an http(s) URL: ${baseUrl}\n${USAGE}`, 2);
// Caught here, before any request: a missing file or a directory would otherwise fail mid-upload.
const info = await stat(file).catch((error: unknown) => fail(`cannot read ${file}: ${messageOf(error)}`, 2));
if (!info.isFile()) fail(`not a file: ${file}`, 2);
const resumableAbove = Number(args.values['resumable-above'] ?? RESUMABLE_ABOVE_BYTES);
if (!Number.isSafeInteger(resumableAbove) || resumableAbove < 0) fail(`--resumable-above takes a number of bytes\n${USAGE}`, 2);
const token = args.values.token ?? process.env.FRAMELOG_TOKEN;
const auth: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};

const bar = new cliProgress.SingleBar(
  { format: 'uploading [{bar}] {percentage}% | {value}/{total} bytes', stream: process.stderr, noTTYOutput: true, notTTYSchedule: 1_000 },
  cliProgress.Presets.shades_classic,
);
let started = false;
const onProgress = (sent: number, total: number) => {
  if (!started) bar.start(total, 0);
  started = true;
  bar.update(sent);
};
const resumable = args.values.resume || info.size >= resumableAbove;
const id = resumable ? await uploadResumable() : await uploadInOneRequest();
process.stdout.write(`${id}\n`);
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

/** uploadVideo: the whole file in one GraphQL multipart request. Returns the video id. */
async function uploadInOneRequest(): Promise<string> {
  let response;
  try {
    response = await multipartUpload({
      endpoint: `${baseUrl}/graphql`,
      filePath: file!,
      query: UPLOAD,
      variables: { title: args.values.title ?? null },
      fileVariable: 'file',
      headers: auth,
      onProgress,
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
  process.stderr.write(`uploaded: video ${body.data.uploadVideo.id} is ${body.data.uploadVideo.status}\n`);
  return body.data.uploadVideo.id;
}

/**
 * createUpload, then the bytes over tus. The open upload is remembered until it completes, so after a
 * run that died (or a connection lost for longer than the client's retries) `--resume` continues it
 * from the server's offset instead of byte 0. Returns the video id.
 */
async function uploadResumable(): Promise<string> {
  const remembered = new OpenUploads();
  const key = OpenUploads.keyOf(baseUrl, file!, info.size, info.mtimeMs);
  let open = args.values.resume ? await remembered.get(key) : undefined;
  if (open) process.stderr.write(`resuming the upload of video ${open.videoId}: ${open.uploadUrl}\n`);
  else {
    open = await createResumableUpload();
    await remembered.set(key, open);
    process.stderr.write(`resumable upload of video ${open.videoId}: ${open.uploadUrl} (continue with --resume)\n`);
  }
  try {
    await tusSend({ filePath: file!, uploadUrl: open.uploadUrl, headers: auth, onProgress });
  } catch (error) {
    if (started) bar.stop();
    fail(`upload failed: ${messageOf(error)}\nrun again with --resume to continue it`);
  }
  if (started) bar.stop();
  await remembered.set(key, undefined);
  process.stderr.write(`uploaded: video ${open.videoId}\n`);
  return open.videoId;
}

async function createResumableUpload(): Promise<OpenUpload> {
  const variables = { filename: path.basename(file!), sizeBytes: info.size, title: args.values.title ?? null };
  const body: GraphQLBody<{ createUpload: { uploadUrl: string; video: { id: string } } }> = await fetch(`${baseUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...auth },
    body: JSON.stringify({ query: CREATE_UPLOAD, variables }),
  })
    .then((r) => r.json() as Promise<GraphQLBody<{ createUpload: { uploadUrl: string; video: { id: string } } }>>)
    .catch((error: unknown) => fail(`API unreachable: ${messageOf(error)}`));
  if (body.errors?.length || !body.data) fail(describeErrors(body.errors ?? [{ message: 'no data' }]));
  return { videoId: body.data.createUpload.video.id, uploadUrl: body.data.createUpload.uploadUrl };
}
