import { createHash, randomBytes } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UPLOAD_MUTATION, gql, streamUpload, type GraphQLResponse, type StreamedUploadOptions } from '../helpers/graphql.js';
import { waitFor } from '../helpers/processes.js';
import { Stack } from '../helpers/stack.js';

// The file part of an upload is the live request body, read by the resolver straight into storage.
// These checks cover what that makes possible to get wrong: a request answered before its file was read
// must still finish (the rest of the body is discarded), and a client that goes away mid-file must leave
// nothing behind.

const MAX_UPLOAD_BYTES = 1024 * 1024;
/** Long enough for every other request here on a loaded machine; short enough to wait out a stalled one. */
const REQUEST_TIMEOUT_SECONDS = 10;
/** Far more than socket buffers hold, so a server that stopped reading could not hide it. */
const LARGE_BODY_BYTES = 32 * 1024 * 1024;

let stack: Stack;

beforeAll(async () => {
  stack = await Stack.start({ workers: 0, apiEnv: { MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES), REQUEST_TIMEOUT_SECONDS: String(REQUEST_TIMEOUT_SECONDS) } });
});

afterAll(async () => {
  await stack?.close();
});

/** `bytes` bytes of `fill`, in 1 MiB chunks. */
function* filler(bytes: number, fill = 7): Generator<Buffer> {
  const chunk = Buffer.alloc(1024 * 1024, fill);
  for (let sent = 0; sent < bytes; sent += chunk.length) yield chunk.subarray(0, Math.min(chunk.length, bytes - sent));
}

async function countEvents(): Promise<number> {
  const row = await stack.database.db.selectFrom('events').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Every file under the media root (temp files included), relative to it. */
async function storedFiles(): Promise<string[]> {
  const entries = await readdir(stack.mediaRoot, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.relative(stack.mediaRoot, path.join(e.parentPath, e.name))).sort();
}

type UploadBody = GraphQLResponse<{ uploadVideo: { id: string; sizeBytes: number; sha256: string } }>;

/**
 * Sends the upload and, on the same connection, GET /healthz, whose answer only comes once the server
 * has read the upload's whole body: a server that stopped reading would leave this waiting.
 */
async function send(options: StreamedUploadOptions): Promise<{ status: number; body: UploadBody }> {
  const upload = streamUpload(`${stack.apiUrl}/graphql`, options);
  const [response, next] = await Promise.all([upload.response, upload.next]);
  expect(next.status).toBe(200);
  return { status: response.status, body: JSON.parse(response.body) as UploadBody };
}

const codeOf = (body: UploadBody) => body.errors?.[0]?.extensions?.code;

/** Half the file, then nothing more until `release()`: a client that stalls mid-file. */
function stallingUpload() {
  let release!: () => void;
  const stalled = new Promise<void>((resolve) => (release = resolve));
  const upload = streamUpload(`${stack.apiUrl}/graphql`, {
    file: (async function* () {
      yield* filler(MAX_UPLOAD_BYTES / 2);
      await stalled;
    })(),
    bytes: MAX_UPLOAD_BYTES - 1,
  });
  return { upload, release };
}

/** The API is still up, answers a query, and logged no error. */
async function expectStillServing(): Promise<void> {
  expect(stack.api.running).toBe(true);
  expect((await gql(stack.apiUrl, '{ videos { edges { cursor } } }')).errors).toBeUndefined();
  expect(stack.api.lines.filter((line) => (line.level ?? 0) >= 50)).toEqual([]);
}

describe('uploads streamed into storage', { timeout: 120_000 }, () => {
  it('stores exactly the bytes sent, with their sha256', async () => {
    const bytes = randomBytes(MAX_UPLOAD_BYTES - 1000);
    const { body } = await send({ file: [bytes], bytes: bytes.length });
    expect(body.errors).toBeUndefined();
    const video = body.data!.uploadVideo;
    expect(video.sizeBytes).toBe(bytes.length);
    expect(video.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect((await readFile(stack.file(`uploads/${video.id}/source`))).equals(bytes)).toBe(true);
  });

  it('answers a request refused before its file is read with a typed error, reads the body to its end and stores nothing', async () => {
    const aliases = Array.from({ length: 20 }, (_, i) => `a${i}: uploadVideo(file: $file) { id }`).join(' ');
    const refusals: { name: string; operations: NonNullable<StreamedUploadOptions['operations']>; headers?: Record<string, string>; status: number; code: string }[] = [
      {
        name: 'a field the schema does not have',
        operations: { query: 'mutation($file: Upload!) { uploadVideo(file: $file) { id nope } }', variables: { file: null } },
        status: 400,
        code: 'GRAPHQL_VALIDATION_FAILED',
      },
      {
        name: 'too many aliases (graphql-armor)',
        operations: { query: `mutation($file: Upload!) { ${aliases} }`, variables: { file: null } },
        status: 400,
        code: 'GRAPHQL_VALIDATION_FAILED',
      },
      {
        name: 'an unknown operation name',
        operations: { query: UPLOAD_MUTATION, variables: { file: null }, operationName: 'Nope' },
        status: 400,
        code: 'OPERATION_RESOLUTION_FAILURE',
      },
      {
        name: 'a title that is too long',
        operations: { query: UPLOAD_MUTATION, variables: { file: null, title: 'x'.repeat(501) } },
        status: 400,
        code: 'BAD_USER_INPUT',
      },
      {
        name: "no CSRF preflight header (Apollo's own refusal)",
        operations: { query: UPLOAD_MUTATION, variables: { file: null } },
        headers: {},
        status: 400,
        code: 'BAD_REQUEST',
      },
    ];
    const [events, files] = [await countEvents(), await storedFiles()];
    for (const refusal of refusals) {
      const { status, body } = await send({ operations: refusal.operations, file: filler(LARGE_BODY_BYTES), bytes: LARGE_BODY_BYTES, ...(refusal.headers ? { headers: refusal.headers } : {}) });
      expect({ refusal: refusal.name, status, code: codeOf(body) }).toEqual({ refusal: refusal.name, status: refusal.status, code: refusal.code });
    }
    expect(await countEvents()).toBe(events);
    expect(await storedFiles()).toEqual(files);
  });

  it('answers a malformed multipart request with BAD_USER_INPUT and stores nothing', async () => {
    const operations = JSON.stringify({ query: UPLOAD_MUTATION, variables: { file: null } });
    const map = JSON.stringify({ 0: ['variables.file'] });
    const file = new Blob([Buffer.alloc(1000, 1)]);
    const malformed: { name: string; parts: [string, string | Blob][]; status: number; message: RegExp }[] = [
      { name: 'operations that are not JSON', parts: [['operations', '{"query":'], ['map', map], ['0', file]], status: 400, message: /operations/ },
      { name: 'map before operations', parts: [['map', map], ['operations', operations], ['0', file]], status: 400, message: /Misordered/ },
      { name: 'a mapped file that never comes', parts: [['operations', operations], ['map', map]], status: 400, message: /File missing/ },
    ];
    const [events, files] = [await countEvents(), await storedFiles()];
    for (const request of malformed) {
      const form = new FormData();
      for (const [name, value] of request.parts) form.append(name, value);
      const response = await fetch(`${stack.apiUrl}/graphql`, { method: 'POST', headers: { 'apollo-require-preflight': 'true' }, body: form });
      const body = (await response.json()) as UploadBody;
      expect({ request: request.name, status: response.status, code: codeOf(body) }).toEqual({ request: request.name, status: request.status, code: 'BAD_USER_INPUT' });
      expect(body.errors?.[0]?.message).toMatch(request.message);
    }
    expect(await countEvents()).toBe(events);
    expect(await storedFiles()).toEqual(files);
  });

  it('refuses a file over the limit with UPLOAD_TOO_LARGE, discards the rest of the body and stores nothing', async () => {
    const [events, files] = [await countEvents(), await storedFiles()];
    const { body } = await send({ file: filler(LARGE_BODY_BYTES), bytes: LARGE_BODY_BYTES });
    expect(codeOf(body)).toBe('UPLOAD_TOO_LARGE');
    expect(body.data?.uploadVideo ?? null).toBeNull();
    expect(await countEvents()).toBe(events);
    expect(await storedFiles()).toEqual(files);
  });

  it('reads a file once: a second field given the same file is refused with BAD_USER_INPUT', async () => {
    const events = await countEvents();
    const { body } = await send({
      operations: { query: 'mutation($file: Upload!) { a: uploadVideo(file: $file) { id } b: uploadVideo(file: $file) { id } }', variables: { file: null } },
      file: filler(1000),
      bytes: 1000,
    });
    expect(body.errors).toHaveLength(1);
    expect(body.errors?.[0]).toMatchObject({ path: ['b'], extensions: { code: 'BAD_USER_INPUT' } });
    expect(await countEvents()).toBe(events + 1);
  });

  it('answers malformed multipart bodies with typed errors, stores nothing and keeps running', async () => {
    const [events, files] = [await countEvents(), await storedFiles()];
    // The body ends after the file's bytes, without the closing boundary.
    const cut = await send({ file: filler(1000), bytes: 1000, tail: () => '' });
    expect(cut.body.errors?.[0]?.extensions).toMatchObject({ code: 'UPLOAD_FAILED', retryable: true });
    expect(cut.body.errors?.[0]?.message).toContain('Unexpected end of form');
    // A file part whose header is not a header: busboy fails, then fails again when the library destroys
    // it without listening any more, which used to crash the API.
    const garbled = await send({ file: filler(1000), bytes: 1000, filePartHeader: ['this line is not a header'] });
    expect(garbled.body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', retryable: false });
    expect(garbled.body.errors?.[0]?.message).toContain('Malformed part header');
    expect(await countEvents()).toBe(events);
    expect(await storedFiles()).toEqual(files);
    await expectStillServing();
  });

  it('leaves no file and no event when the client goes away mid-file, and keeps serving', async () => {
    const [events, files] = [await countEvents(), await storedFiles()];
    const { upload, release } = stallingUpload();
    // The upload is under way once storage has its temp file.
    await waitFor(async () => (await storedFiles()).some((file) => file.endsWith('.tmp')), { message: 'the upload to reach storage' });
    upload.abort();
    release();
    await expect(upload.response).rejects.toThrow();
    await waitFor(async () => JSON.stringify(await storedFiles()) === JSON.stringify(files), { message: 'the partial upload to be removed' });
    expect(await countEvents()).toBe(events);
    await expectStillServing();
  });

  it('cuts an upload that stalls longer than REQUEST_TIMEOUT_SECONDS with 408, leaving no file and no event', async () => {
    const [events, files] = [await countEvents(), await storedFiles()];
    const startedAt = Date.now();
    // A client that hangs without closing its connection.
    const { upload, release } = stallingUpload();
    try {
      const answer = await upload.response;
      expect(answer.status).toBe(408);
      expect(Date.now() - startedAt).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_SECONDS * 1000);
    } finally {
      release();
      upload.abort();
    }
    await waitFor(async () => JSON.stringify(await storedFiles()) === JSON.stringify(files), { message: 'the partial upload to be removed' });
    expect(await countEvents()).toBe(events);
    expect(stack.api.running).toBe(true);
  });
});
