import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken, revokeToken } from '../../services/api/auth/tokenStore.js';
import { GRAPHQL_LIMITS } from '../../services/api/armor.js';
import { makeClip } from '../helpers/media.js';
import { streamUpload, uploadFile } from '../helpers/graphql.js';
import { waitFor } from '../helpers/processes.js';
import { Stack } from '../helpers/stack.js';
import { SubscriptionSocket } from '../helpers/subscriptionSocket.js';

// The control-plane cases of ../shared/cases/README.md (a01-a05), each as its example, against a real
// API process (no workers: uploads stay QUEUED, which is all these need).

const AUTH_CACHE_SECONDS = 2;
const PER_SOCKET = 50;
const PER_TOKEN = 80;

let stack: Stack;
let clips: string;
let clip: string;
let admin: string;
let viewer: string;
const bearer = (token: string) => `Bearer ${token}`;

beforeAll(async () => {
  clips = await mkdtemp(path.join(tmpdir(), 'framelog-cases-'));
  clip = await makeClip(clips, { width: 160, height: 120, durationSeconds: 1 });
  stack = await Stack.start({
    workers: 0,
    apiEnv: { AUTH_CACHE_SECONDS: String(AUTH_CACHE_SECONDS), MAX_SUBSCRIPTIONS_PER_SOCKET: String(PER_SOCKET), MAX_SUBSCRIPTIONS_PER_TOKEN: String(PER_TOKEN) },
  });
  admin = (await createToken(stack.database.db, { name: 'cases-admin', role: 'admin' })).token;
  viewer = (await createToken(stack.database.db, { name: 'cases-viewer', role: 'viewer' })).token;
  // The first token turns enforcement on within a second.
  await waitFor(async () => (await post({ query: '{ videos { edges { cursor } } }' }, {})).status === 401, { message: 'auth to be enforced' });
});

afterAll(async () => {
  await stack?.close();
  await rm(clips, { recursive: true, force: true });
});

interface Answer {
  status: number;
  codes: (string | undefined)[];
  messages: string[];
}

async function post(body: unknown, headers: Record<string, string> = { authorization: bearer(admin) }): Promise<Answer> {
  const response = await fetch(`${stack.apiUrl}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const json = (await response.json()) as { errors?: { message: string; extensions?: { code?: string } }[] };
  return { status: response.status, codes: (json.errors ?? []).map((e) => e.extensions?.code), messages: (json.errors ?? []).map((e) => e.message) };
}

/** Every entry under the media root, folders included: a refused request leaves not even an empty folder. */
async function mediaEntries(): Promise<string[]> {
  return (await readdir(stack.mediaRoot, { recursive: true })).sort();
}

async function countEvents(): Promise<number> {
  const row = await stack.database.db.selectFrom('events').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Runs `fn` and checks it appended no event, wrote nothing under the media root and logged no error. */
async function changesNothing(fn: () => Promise<void>): Promise<void> {
  const [events, entries, lines] = [await countEvents(), await mediaEntries(), stack.api.lines.length];
  await fn();
  expect(await countEvents()).toBe(events);
  expect(await mediaEntries()).toEqual(entries);
  expect(stack.api.lines.slice(lines).filter((line) => (line.level ?? 0) >= 50)).toEqual([]);
}

/** A streamed upload, with the file part's Content-Disposition `disposition` (e.g. an RFC 5987 filename) or another query. */
async function streamedUpload(options: { disposition?: string; query?: string }): Promise<Answer> {
  const bytes = Buffer.from('not a video, never stored');
  const upload = streamUpload(`${stack.apiUrl}/graphql`, {
    ...(options.query ? { operations: { query: options.query, variables: { file: null } } } : {}),
    file: [bytes],
    bytes: bytes.length,
    headers: { 'apollo-require-preflight': 'true', authorization: bearer(admin) },
    filePartHeader: [`Content-Disposition: form-data; name="0"; ${options.disposition ?? 'filename="clip.mp4"'}`, 'Content-Type: video/mp4'],
  });
  const { status, body } = await upload.response;
  const json = JSON.parse(body) as { errors?: { message: string; extensions?: { code?: string } }[] };
  return { status, codes: (json.errors ?? []).map((e) => e.extensions?.code), messages: (json.errors ?? []).map((e) => e.message) };
}

const EVERY_VIDEO = 'subscription { videoUpdated { id status history { type } } }';

describe('a01: a revoked token on an open WebSocket', () => {
  it('ends its subscriptions with UNAUTHENTICATED and closes the socket with 4403 within AUTH_CACHE_SECONDS; a new socket is refused', async () => {
    const { token } = await createToken(stack.database.db, { name: 'a01-viewer', role: 'viewer' });
    const socket = await SubscriptionSocket.open(stack.apiUrl, bearer(token));
    expect(socket.acknowledged).toBe(true);
    socket.subscribe('all', EVERY_VIDEO);
    socket.subscribe('one', 'subscription($id: ID) { videoUpdated(id: $id) { id } }', { id: randomUUID() });
    // Live: an upload is pushed to the subscription for every video.
    const upload = await uploadFile(stack.apiUrl, clip, { headers: { 'apollo-require-preflight': 'true', authorization: bearer(admin) } });
    expect(upload.body.errors).toBeUndefined();
    await waitFor(() => socket.of('all').some((m) => m.type === 'next'), { message: 'the upload pushed to the subscription' });

    const revokedAt = Date.now();
    expect(await revokeToken(stack.database.db, 'a01-viewer')).toBe(true);
    const closed = await waitFor(() => socket.closedWith, { timeoutMs: 20_000, message: 'the socket of the revoked token to close' });
    // Within AUTH_CACHE_SECONDS of the revocation, plus this machine's scheduling.
    expect(Date.now() - revokedAt).toBeLessThan(AUTH_CACHE_SECONDS * 1000 + 1_000);
    expect(closed.code).toBe(4403);
    expect(socket.errorCodes('all')).toEqual(['UNAUTHENTICATED']);
    expect(socket.errorCodes('one')).toEqual(['UNAUTHENTICATED']);

    const again = await SubscriptionSocket.open(stack.apiUrl, bearer(token));
    expect(again.acknowledged).toBe(false);
    expect(again.closedWith?.code).toBe(4403);
  });
});

describe('a02: syntax errors and limit refusals', () => {
  const overTokenLimit = `{ ${Array.from({ length: GRAPHQL_LIMITS.maxTokens }, (_, i) => `a${i}: __typename`).join(' ')} }`;

  it('are HTTP 400 with GRAPHQL_PARSE_FAILED, never 500', async () => {
    await changesNothing(async () => {
      expect(await post('{"query":"{videos{"}')).toMatchObject({ status: 400, codes: ['GRAPHQL_PARSE_FAILED'] });
      const tooLong = await post({ query: overTokenLimit });
      expect(tooLong).toMatchObject({ status: 400, codes: ['GRAPHQL_PARSE_FAILED'] });
      expect(tooLong.messages[0]).toMatch(/2000 tokens/);
    });
  });

  it('are the same over WebSocket, on a socket that stays open', async () => {
    const socket = await SubscriptionSocket.open(stack.apiUrl, bearer(viewer));
    socket.subscribe('syntax', 'subscription { videoUpdated {');
    socket.subscribe('tokens', `subscription ${overTokenLimit}`);
    await waitFor(() => socket.errorCodes('syntax') && socket.errorCodes('tokens'), { message: 'both refused' });
    expect(socket.errorCodes('syntax')).toEqual(['GRAPHQL_PARSE_FAILED']);
    expect(socket.errorCodes('tokens')).toEqual(['GRAPHQL_PARSE_FAILED']);
    expect(socket.closedWith).toBeUndefined();
    socket.close();
  });
});

describe('a03: input PostgreSQL cannot take', () => {
  it('a title or filename with NUL or half of a character is BAD_USER_INPUT, leaving no event, file or folder', async () => {
    await changesNothing(async () => {
      for (const title of ['a\u0000b', 'a\uD800b', 'b\uDC00']) {
        const form = await uploadFile(stack.apiUrl, clip, { title, headers: { 'apollo-require-preflight': 'true', authorization: bearer(admin) } });
        expect(form.body.errors?.map((e) => e.extensions?.code), JSON.stringify(title)).toEqual(['BAD_USER_INPUT']);
      }
      // The title as a literal in the query.
      const literal = await streamedUpload({ query: 'mutation($file: Upload!) { uploadVideo(file: $file, title: "a\\u0000b") { id } }' });
      expect(literal.codes).toEqual(['BAD_USER_INPUT']);
      // RFC 5987 filenames: a NUL, and a lone surrogate in UTF-16.
      for (const disposition of ["filename*=utf-8''a%00b.mp4", "filename*=utf-16le''%00%D8"]) {
        expect((await streamedUpload({ disposition })).codes, disposition).toEqual(['BAD_USER_INPUT']);
      }
    });
  });

  it('events(types:) with 70 000 items is BAD_USER_INPUT (HTTP 400)', async () => {
    await changesNothing(async () => {
      const types = Array.from({ length: 70_000 }, (_, i) => `T${i % 10}`);
      expect(await post({ query: 'query($t: [String!]) { events(types: $t) { edges { cursor } } }', variables: { t: types } })).toMatchObject({ status: 400, codes: ['BAD_USER_INPUT'] });
    });
  });

  it('positions and cursors of 19 digits beyond bigint are BAD_USER_INPUT (HTTP 400)', async () => {
    const huge = '9999999999999999999';
    const cursor = Buffer.from(`video:${huge}`).toString('base64url');
    await changesNothing(async () => {
      const refused = { status: 400, codes: ['BAD_USER_INPUT'] };
      expect(await post({ query: `{ events(afterPosition: "${huge}") { edges { cursor } } }` })).toMatchObject(refused);
      expect(await post({ query: `{ video(id: "${randomUUID()}", asOf: { position: "${huge}" }) { id } }` })).toMatchObject(refused);
      expect(await post({ query: `{ videos(after: "${cursor}") { edges { cursor } } }` })).toMatchObject(refused);
      // The largest bigint is a position like any other.
      expect(await post({ query: '{ events(afterPosition: "9223372036854775807") { edges { cursor } } }' })).toMatchObject({ status: 200, codes: [] });
    });
  });

  it('asOf.time at JavaScript\'s minimum date is BAD_USER_INPUT (HTTP 400), as a literal and as a variable', async () => {
    const minimum = new Date(-8.64e15).toISOString();
    const id = randomUUID();
    await changesNothing(async () => {
      expect(await post({ query: `{ video(id: "${id}", asOf: { time: "${minimum}" }) { id } }` })).toMatchObject({ status: 400, codes: ['BAD_USER_INPUT'] });
      expect(await post({ query: 'query($t: DateTime) { video(id: "' + id + '", asOf: { time: $t }) { id } }', variables: { t: minimum } })).toMatchObject({ status: 400, codes: ['BAD_USER_INPUT'] });
    });
  });

  it('a subscription sent over HTTP POST is BAD_USER_INPUT (HTTP 400)', async () => {
    await changesNothing(async () => {
      const answer = await post({ query: EVERY_VIDEO });
      expect(answer).toMatchObject({ status: 400, codes: ['BAD_USER_INPUT'] });
      expect(answer.messages[0]).toMatch(/WebSocket/);
    });
  });
});

describe('a04: one viewer socket opening 3 000 subscriptions', () => {
  it('is refused past MAX_SUBSCRIPTIONS_PER_SOCKET with TOO_MANY_SUBSCRIPTIONS; one upload is pushed to the admitted ones only', async () => {
    const socket = await SubscriptionSocket.open(stack.apiUrl, bearer(viewer));
    const ids = Array.from({ length: 3_000 }, (_, i) => `s${i}`);
    for (const id of ids) socket.subscribe(id, EVERY_VIDEO);
    await waitFor(() => socket.messages.filter((m) => m.type === 'error').length >= ids.length - PER_SOCKET, { message: 'the refusals' });
    const refused = ids.filter((id) => socket.errorCodes(id) !== undefined);
    expect(refused).toHaveLength(ids.length - PER_SOCKET);
    expect(new Set(refused.map((id) => socket.errorCodes(id)?.join()))).toEqual(new Set(['TOO_MANY_SUBSCRIPTIONS']));
    const admitted = ids.filter((id) => socket.errorCodes(id) === undefined);

    const upload = await uploadFile(stack.apiUrl, clip, { headers: { 'apollo-require-preflight': 'true', authorization: bearer(admin) } });
    const videoId = upload.body.data!.uploadVideo.id;
    const pushedTo = () => new Set(socket.messages.filter((m) => m.type === 'next' && JSON.stringify(m.payload).includes(videoId)).map((m) => m.id));
    await waitFor(() => pushedTo().size === PER_SOCKET, { message: 'the upload pushed to every admitted subscription' });
    expect(pushedTo()).toEqual(new Set(admitted));
    expect(socket.closedWith).toBeUndefined();

    // Per token: a second socket of the same token gets what is left of MAX_SUBSCRIPTIONS_PER_TOKEN.
    const second = await SubscriptionSocket.open(stack.apiUrl, bearer(viewer));
    const more = Array.from({ length: PER_TOKEN - PER_SOCKET + 1 }, (_, i) => `t${i}`);
    for (const id of more) second.subscribe(id, EVERY_VIDEO);
    const last = more.at(-1)!;
    await waitFor(() => second.errorCodes(last), { message: 'the subscription past the token limit refused' });
    expect(more.filter((id) => second.errorCodes(id) !== undefined)).toEqual([last]);
    expect(second.errorCodes(last)).toEqual(['TOO_MANY_SUBSCRIPTIONS']);
    expect(JSON.stringify(second.of(last))).toContain('MAX_SUBSCRIPTIONS_PER_TOKEN');

    // Completing one frees its place: a subscription to the uploaded video gets its current state at once.
    socket.complete(admitted[0]!);
    let attempt = 0;
    await waitFor(
      async () => {
        const id = `again${attempt++}`;
        second.subscribe(id, 'subscription($id: ID) { videoUpdated(id: $id) { id } }', { id: videoId });
        await waitFor(() => second.of(id).length > 0, { message: `an answer to ${id}` });
        return second.of(id).some((m) => m.type === 'next');
      },
      { message: 'the freed place taken' },
    );
    socket.close();
    second.close();
  });
});

describe('a05: a title of 251 emoji', () => {
  const uploadTitled = (title: string) => uploadFile(stack.apiUrl, clip, { title, headers: { 'apollo-require-preflight': 'true', authorization: bearer(admin) } });

  it('is taken: the limit counts characters as a reader does (grapheme clusters), not UTF-16 units', async () => {
    for (const title of ['🎬'.repeat(251), '👩‍👩‍👧‍👦'.repeat(500), 'e\u0301'.repeat(500)]) {
      const upload = await uploadTitled(title);
      expect(upload.body.errors).toBeUndefined();
      const row = await stack.database.db.selectFrom('videos').select('title').where('id', '=', upload.body.data!.uploadVideo.id).executeTakeFirstOrThrow();
      expect(row.title).toBe(title);
    }
  });

  it('refuses 501 characters with BAD_USER_INPUT, storing nothing', async () => {
    await changesNothing(async () => {
      for (const title of ['🎬'.repeat(501), 'x'.repeat(501)]) {
        const upload = await uploadTitled(title);
        expect(upload.status).toBe(400);
        expect(upload.body.errors?.map((e) => e.extensions?.code)).toEqual(['BAD_USER_INPUT']);
        expect(upload.body.errors?.[0]?.message).toMatch(/longer than 500 characters/);
      }
    });
  });
});
