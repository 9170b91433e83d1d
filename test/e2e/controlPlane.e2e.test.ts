import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken, revokeToken } from '../../services/api/auth/tokenStore.js';
import { makeClip } from '../helpers/media.js';
import { UPLOAD_MUTATION, VIDEO_QUERY, gql, uploadFile } from '../helpers/graphql.js';
import { sample, scrape } from '../helpers/metrics.js';
import { runEntry, waitFor } from '../helpers/processes.js';
import { Stack } from '../helpers/stack.js';

// Auth, GraphQL hardening and /metrics against a real API process (no workers: uploads stay queued,
// which is all these checks need).

const MAX_UPLOAD_BYTES = 512 * 1024;

let stack: Stack;
let clips: string;
let clip: string;
const tokens: Record<'viewer' | 'uploader' | 'admin', string> = { viewer: '', uploader: '', admin: '' };
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const preflight = { 'apollo-require-preflight': 'true' };

beforeAll(async () => {
  clips = await mkdtemp(path.join(tmpdir(), 'framelog-cp-'));
  clip = await makeClip(clips, { width: 320, height: 240, durationSeconds: 1 });
  // AUTH_CACHE_SECONDS=0: these checks create and revoke tokens and expect the next request to see it;
  // the cache's delay is tested with a clock in auth-cache.int.test.ts.
  stack = await Stack.start({ workers: 0, apiEnv: { MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES), AUTH_CACHE_SECONDS: '0' } });
});

afterAll(async () => {
  await stack?.close();
  await rm(clips, { recursive: true, force: true });
});

async function countEvents(): Promise<number> {
  const row = await stack.database.db.selectFrom('events').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

async function storedFiles(): Promise<string[]> {
  return (await readdir(stack.mediaRoot, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
}

/** Runs `fn` and checks that it appended no event and stored no file. */
async function changesNothing(fn: () => Promise<void>): Promise<void> {
  const [events, files] = [await countEvents(), await storedFiles()];
  await fn();
  expect(await countEvents()).toBe(events);
  expect(await storedFiles()).toEqual(files);
}

const codeOf = (body: { errors?: { extensions?: { code?: string } }[] }) => body.errors?.[0]?.extensions?.code;

describe('development API without tokens', () => {
  it('runs open, warning loudly at start, and records the anonymous actor', async () => {
    expect(stack.api.lines.some((l) => l.level === 40 && String(l.msg).includes('NO API TOKENS'))).toBe(true);
    const response = await gql(stack.apiUrl, '{ videos { edges { cursor } } }');
    expect(response.errors).toBeUndefined();
  });
});

/** `npm run token` against this file's database. */
const tokenCli = (args: string[]) => runEntry('services/main/token.ts', args, { DATABASE_URL: stack.database.url });

describe('tokens', () => {
  it('npm run token creates a token that is stored only as its hash', async () => {
    const { code, stdout, stderr } = await tokenCli(['create', '--name', 'ops-admin', '--role', 'admin']);
    expect(code, stderr).toBe(0);
    tokens.admin = stdout.trim();
    expect(tokens.admin).toMatch(/^flk_[A-Za-z0-9_-]{43}$/);
    const rows = await stack.database.db.selectFrom('api_tokens').selectAll().execute();
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows)).not.toContain(tokens.admin.slice(4));
    tokens.viewer = (await createToken(stack.database.db, { name: 'alice-viewer', role: 'viewer' })).token;
    tokens.uploader = (await createToken(stack.database.db, { name: 'bob-uploader', role: 'uploader' })).token;
  });

  it('npm run token: bad usage exits 2 with the usage, an unknown role exits 1 with BAD_USER_INPUT; neither stores a token', async () => {
    const before = await stack.database.db.selectFrom('api_tokens').selectAll().execute();
    for (const args of [[], ['create'], ['create', '--name', 'x'], ['list', '--bogus'], ['frobnicate'], ['revoke']]) {
      const result = await tokenCli(args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toContain('usage: npm run token');
      expect(result.stderr).not.toMatch(/\s{2}at /);
    }
    const badRole = await tokenCli(['create', '--name', 'x', '--role', 'god']);
    expect(badRole.code).toBe(1);
    expect(badRole.stderr).toContain('BAD_USER_INPUT');
    expect(await stack.database.db.selectFrom('api_tokens').selectAll().execute()).toEqual(before);
  });

  it('once a token exists, a request without one, with an unknown one or a revoked one is UNAUTHENTICATED', async () => {
    const query = '{ videos { edges { cursor } } }';
    const none = await fetch(`${stack.apiUrl}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    expect(codeOf((await none.json()) as never)).toBe('UNAUTHENTICATED');
    expect(codeOf(await gql(stack.apiUrl, query, {}, bearer('flk_not-a-real-token')))).toBe('UNAUTHENTICATED');
    expect(codeOf(await gql(stack.apiUrl, query, {}, { authorization: tokens.viewer }))).toBe('UNAUTHENTICATED');
    const revoked = (await createToken(stack.database.db, { name: 'revoked-one', role: 'admin' })).token;
    expect((await gql(stack.apiUrl, query, {}, bearer(revoked))).errors).toBeUndefined();
    await revokeToken(stack.database.db, 'revoked-one');
    expect(codeOf(await gql(stack.apiUrl, query, {}, bearer(revoked)))).toBe('UNAUTHENTICATED');
  });
});

describe('role boundaries', () => {
  const RETRY = 'mutation($id: ID!) { retryVideo(id: $id) { id } }';
  const AUDIT = '{ audit { ok } }';
  const REBUILD = 'mutation { rebuildProjections { videos } }';
  const unknownId = '00000000-0000-4000-8000-000000000000';

  it('viewer: queries only; an upload is refused before its file is read', async () => {
    expect((await gql(stack.apiUrl, '{ videos { edges { cursor } } }', {}, bearer(tokens.viewer))).errors).toBeUndefined();
    await changesNothing(async () => {
      const upload = await uploadFile(stack.apiUrl, clip, { headers: { ...preflight, ...bearer(tokens.viewer) } });
      expect(upload.status).toBe(403);
      expect(codeOf(upload.body)).toBe('FORBIDDEN');
      expect(codeOf(await gql(stack.apiUrl, RETRY, { id: unknownId }, bearer(tokens.viewer)))).toBe('FORBIDDEN');
      // Aliases and fragments do not hide the field from the gate.
      expect(codeOf(await gql(stack.apiUrl, `mutation($id: ID!) { ...F } fragment F on Mutation { again: retryVideo(id: $id) { id } }`, { id: unknownId }, bearer(tokens.viewer)))).toBe('FORBIDDEN');
      expect(codeOf(await gql(stack.apiUrl, AUDIT, {}, bearer(tokens.viewer)))).toBe('FORBIDDEN');
    });
  });

  it('uploader: uploads (recorded as its actor) and retries, but no audit or rebuild', async () => {
    const upload = await uploadFile(stack.apiUrl, clip, { headers: { ...preflight, ...bearer(tokens.uploader) } });
    expect(upload.body.errors).toBeUndefined();
    const id = upload.body.data!.uploadVideo.id;
    const [event] = await stack.database.db.selectFrom('events').select('metadata').where('stream_id', '=', id).execute();
    expect((event!.metadata as { actor: string }).actor).toBe('bob-uploader');
    // Allowed through the gate; refused by the domain because the video is not FAILED.
    expect(codeOf(await gql(stack.apiUrl, RETRY, { id }, bearer(tokens.uploader)))).toBe('RETRY_NOT_ALLOWED');
    await changesNothing(async () => {
      expect(codeOf(await gql(stack.apiUrl, AUDIT, {}, bearer(tokens.uploader)))).toBe('FORBIDDEN');
      expect(codeOf(await gql(stack.apiUrl, REBUILD, {}, bearer(tokens.uploader)))).toBe('FORBIDDEN');
    });
  });

  it('admin: everything, including audit and rebuildProjections', async () => {
    const audit = await gql<{ audit: { ok: boolean } }>(stack.apiUrl, AUDIT, {}, bearer(tokens.admin));
    expect(audit.errors).toBeUndefined();
    expect(audit.data!.audit.ok).toBe(true);
    const rebuild = await gql(stack.apiUrl, REBUILD, {}, bearer(tokens.admin));
    expect(rebuild.errors).toBeUndefined();
    const upload = await uploadFile(stack.apiUrl, clip, { headers: { ...preflight, ...bearer(tokens.admin) } });
    expect(upload.body.errors).toBeUndefined();
  });
});

describe('GraphQL hardening', () => {
  const uploader = () => bearer(tokens.uploader);

  it('refuses a multipart request without the CSRF preflight header, storing nothing', async () => {
    await changesNothing(async () => {
      const upload = await uploadFile(stack.apiUrl, clip, { headers: uploader() });
      expect(upload.status).toBe(400);
      expect(upload.body.errors?.[0]?.message).toMatch(/CSRF|preflight/i);
    });
  });

  it('refuses an oversized upload with UPLOAD_TOO_LARGE, storing nothing', async () => {
    const big = path.join(clips, 'big.bin');
    await writeFile(big, Buffer.alloc(MAX_UPLOAD_BYTES + 1024, 7));
    await changesNothing(async () => {
      const upload = await uploadFile(stack.apiUrl, big, { headers: { ...preflight, ...uploader() } });
      expect(codeOf(upload.body)).toBe('UPLOAD_TOO_LARGE');
    });
  });

  it('refuses more than one file, storing nothing', async () => {
    await changesNothing(async () => {
      const form = new FormData();
      form.append('operations', JSON.stringify({ query: UPLOAD_MUTATION, variables: { file: null, title: null } }));
      form.append('map', JSON.stringify({ 0: ['variables.file'], 1: ['variables.file'] }));
      const bytes = new Blob([Buffer.alloc(1000, 1)]);
      form.append('0', bytes, 'a.mp4');
      form.append('1', bytes, 'b.mp4');
      const response = await fetch(`${stack.apiUrl}/graphql`, { method: 'POST', headers: { ...preflight, ...uploader() }, body: form });
      expect(response.status).toBe(413);
    });
  });

  it('refuses a too deep, too costly or too aliased query at validation', async () => {
    const deep = '{ __type(name: "Video") { fields { type { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } }';
    const costly = `{ ${Array.from({ length: 12 }, (_, i) => `v${i}: videos(first: 100) { edges { node { id title history { position type data metadata hash } renditions { label url } media { width height } } } }`).join(' ')} }`;
    const aliased = `{ ${Array.from({ length: 20 }, (_, i) => `a${i}: videos(first: 1) { pageInfo { hasNextPage } }`).join(' ')} }`;
    for (const [query, limit] of [[deep, /depth/i], [costly, /cost/i], [aliased, /alias/i]] as const) {
      const response = await gql(stack.apiUrl, query, {}, bearer(tokens.viewer));
      expect(codeOf(response)).toBe('GRAPHQL_VALIDATION_FAILED');
      expect(response.errors?.[0]?.message).toMatch(limit);
    }
    // The deepest legitimate queries pass: a page of videos with history, and a video in full.
    const page = await gql<{ videos: { edges: { node: { id: string } }[] } }>(stack.apiUrl, '{ videos(first: 100) { edges { node { id history { position type data } media { width } renditions { url } } } } }', {}, bearer(tokens.viewer));
    expect(page.errors).toBeUndefined();
    const full = await gql(stack.apiUrl, VIDEO_QUERY, { id: page.data!.videos.edges[0]!.node.id }, bearer(tokens.viewer));
    expect(full.errors).toBeUndefined();
  });
});

describe('HTTP errors outside GraphQL', () => {
  /** A typed error in the GraphQL shape, never Express's HTML page with its stack trace. */
  async function expectTypedError(response: Response, status: number, code: string, message: RegExp): Promise<void> {
    expect(response.status).toBe(status);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    const body = (await response.json()) as { errors: { message: string; extensions: { code: string } }[] };
    expect(body.errors[0]?.extensions.code).toBe(code);
    expect(body.errors[0]?.message).toMatch(message);
    expect(JSON.stringify(body)).not.toMatch(/node_modules|\s{2}at |&nbsp;at |<html/i);
  }
  const post = (body: string) => fetch(`${stack.apiUrl}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...bearer(tokens.viewer) }, body });

  it('answers a body that is not JSON, or too large, with BAD_USER_INPUT', async () => {
    await expectTypedError(await post('{"query": '), 400, 'BAD_USER_INPUT', /not a valid JSON object/);
    await expectTypedError(await post('"just a string"'), 400, 'BAD_USER_INPUT', /not a valid JSON object/);
    await expectTypedError(await post(JSON.stringify({ query: `{ __typename } #${'x'.repeat(1_100_000)}` })), 413, 'BAD_USER_INPUT', /larger than the limit/);
  });

  it('answers a missing route or media file with NOT_FOUND and a path outside the media with BAD_USER_INPUT', async () => {
    await expectTypedError(await fetch(`${stack.apiUrl}/nope`), 404, 'NOT_FOUND', /GET \/nope/);
    await expectTypedError(await fetch(`${stack.apiUrl}/media/renditions/${randomUUID()}/720p.mp4`), 404, 'NOT_FOUND', /\/media\/renditions\//);
    await expectTypedError(await fetch(`${stack.apiUrl}/media/renditions/..%2f..%2fpackage.json`), 403, 'BAD_USER_INPUT', /Forbidden/);
    expect(stack.api.lines.filter((line) => (line.level ?? 0) >= 50)).toEqual([]);
  });
});

describe('/metrics', () => {
  it('counts uploads and bytes, and reports outbox lag and queue depth', async () => {
    const before = await scrape(`${stack.apiUrl}/metrics`);
    const uploads = sample(before, 'framelog_uploads_total') ?? 0;
    const bytes = sample(before, 'framelog_upload_bytes_total') ?? 0;
    const upload = await uploadFile(stack.apiUrl, clip, { headers: { ...preflight, ...bearer(tokens.uploader) } });
    expect(upload.body.errors).toBeUndefined();
    const after = await scrape(`${stack.apiUrl}/metrics`);
    expect(sample(after, 'framelog_uploads_total')).toBe(uploads + 1);
    expect(sample(after, 'framelog_upload_bytes_total')).toBe(bytes + upload.body.data!.uploadVideo.sizeBytes);
    expect(sample(after, 'framelog_outbox_rows')).toBeGreaterThanOrEqual(0);
    expect(sample(after, 'framelog_outbox_oldest_age_seconds')).toBeGreaterThanOrEqual(0);
    // No workers: every accepted upload waits in the queue once the relay published it.
    await waitFor(async () => sample(await scrape(`${stack.apiUrl}/metrics`), 'framelog_queue_depth') === 3, { message: 'queue depth to show the 3 uploads' });
  });
});
