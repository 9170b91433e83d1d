import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VIDEO_QUERY, gql, uploadFile } from '../helpers/graphql.js';
import { makeClip } from '../helpers/media.js';
import { waitFor } from '../helpers/processes.js';
import { Stack } from '../helpers/stack.js';
import { checkInvariants } from './support/invariants.js';
import { restoreServices, startPostgres, startRabbit, stopPostgres, stopRabbit } from './support/services.js';

// Outages of the shared RabbitMQ and PostgreSQL. These restart the machine's services, which is why
// the `faults` project runs alone, one file at a time; afterAll starts them again whatever happened.
const RETRY_DELAYS_MS = [200, 400];
const REQUEUE_DELAY_MS = 1_000;

let stack: Stack;
let dir: string;
let clip: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'framelog-faults-'));
  clip = await makeClip(dir, { width: 160, height: 120, durationSeconds: 1 });
  stack = await Stack.start({ workers: 2, env: { RETRY_DELAYS_MS: RETRY_DELAYS_MS.join(',') } });
  // The test's own pool loses its connections when PostgreSQL stops; an idle client's error must not
  // crash the test process (pg.Pool re-emits it).
  stack.database.pool.on('error', () => undefined);
});

afterAll(async () => {
  try {
    await restoreServices();
  } finally {
    await stack?.close();
    await rm(dir, { recursive: true, force: true });
  }
});

async function readiness(): Promise<{ status: number; checks: Record<string, string> }> {
  const response = await fetch(`${stack.apiUrl}/readyz`);
  const body = (await response.json()) as { checks: Record<string, string> };
  return { status: response.status, checks: body.checks };
}

async function upload(): Promise<string | null> {
  const response = await uploadFile(stack.apiUrl, clip);
  return response.body.data?.uploadVideo.id ?? null;
}

const invariants = (videoIds: string[], uploadsInFlight: string[] = []) =>
  checkInvariants({ db: stack.database.db, namespace: stack.namespace, videoIds, uploadsInFlight, deadLetters: [], delaysMs: [...RETRY_DELAYS_MS, REQUEUE_DELAY_MS], timeoutMs: 180_000 });

const TUS_HEADERS = { 'tus-resumable': '1.0.0', 'content-type': 'application/offset+octet-stream' };

/** A resumable upload of the clip with its first half sent: an upload in flight. */
async function halfUpload(): Promise<{ id: string; url: string; bytes: Buffer }> {
  const bytes = await readFile(clip);
  const created = await gql<{ createUpload: { uploadUrl: string; video: { id: string } } }>(stack.apiUrl, 'mutation($s: Float!) { createUpload(filename: "clip.mp4", sizeBytes: $s) { uploadUrl video { id } } }', { s: bytes.length });
  const { uploadUrl, video } = created.data!.createUpload;
  const half = Math.floor(bytes.length / 2);
  const sent = await fetch(uploadUrl, { method: 'PATCH', headers: { ...TUS_HEADERS, 'upload-offset': '0' }, body: bytes.subarray(0, half) });
  expect(sent.status).toBe(204);
  return { id: video.id, url: uploadUrl, bytes };
}

const sendRest = (upload: { url: string; bytes: Buffer }) =>
  fetch(upload.url, { method: 'PATCH', headers: { ...TUS_HEADERS, 'upload-offset': String(Math.floor(upload.bytes.length / 2)) }, body: upload.bytes.subarray(Math.floor(upload.bytes.length / 2)) });

describe('outages', () => {
  it('RabbitMQ restart during 30 uploads: /readyz fails while it is down, Rascal reconnects, all PROCESSED', async () => {
    expect((await readiness()).status).toBe(200);
    const first = await Promise.all(Array.from({ length: 15 }, upload));
    let second: (string | null)[];
    try {
      await stopRabbit();
      const down = await waitFor(async () => {
        const r = await readiness();
        return r.status === 503 ? r : null;
      }, { timeoutMs: 20_000, message: '/readyz to fail while RabbitMQ is down' });
      expect(down.checks.rabbitmq).not.toBe('ok');
      expect(down.checks.postgres).toBe('ok');
      // Uploads still commit (log + outbox) while the broker is down; the relay keeps the rows.
      second = await Promise.all(Array.from({ length: 15 }, upload));
    } finally {
      await startRabbit();
    }
    await waitFor(async () => (await readiness()).status === 200, { timeoutMs: 60_000, message: '/readyz to recover' });
    const ids = [...first, ...second];
    expect(ids.every((id) => id !== null)).toBe(true);
    const { statuses } = await invariants(ids as string[]);
    expect([...statuses.values()].every((status) => status === 'PROCESSED')).toBe(true);
  });

  it('PostgreSQL restart during a run: the API answers a typed error quickly, /readyz fails, both recover; every accepted upload ends terminal', async () => {
    const accepted = (await Promise.all(Array.from({ length: 6 }, upload))).filter((id): id is string => id !== null);
    expect(accepted).toHaveLength(6);
    const resumable = await halfUpload();
    try {
      await stopPostgres();
      // The rest of a resumable upload is refused (typed, retryable) without touching its bytes.
      const rest = await sendRest(resumable);
      expect(rest.status).toBe(503);
      expect(((await rest.json()) as { errors: { extensions: { code: string } }[] }).errors[0]?.extensions.code).toBe('DATABASE_UNAVAILABLE');
      const started = Date.now();
      const query = await gql(stack.apiUrl, VIDEO_QUERY, { id: accepted[0] });
      expect(Date.now() - started).toBeLessThan(6_000);
      expect(query.errors?.[0]?.extensions?.code).toBe('DATABASE_UNAVAILABLE');
      expect(query.errors?.[0]?.extensions?.retryable).toBe(true);
      const refused = await uploadFile(stack.apiUrl, clip);
      expect(refused.body.errors?.[0]?.extensions?.code).toBe('DATABASE_UNAVAILABLE');
      const down = await readiness();
      expect(down.status).toBe(503);
      expect(down.checks.postgres).not.toBe('ok');
    } finally {
      await startPostgres();
    }
    await waitFor(async () => (await readiness()).status === 200, { timeoutMs: 60_000, message: '/readyz to recover' });
    const again = await waitFor(async () => {
      const response = await gql(stack.apiUrl, VIDEO_QUERY, { id: accepted[0] });
      return response.errors === undefined ? response : null;
    }, { timeoutMs: 30_000, message: 'queries to work again' });
    expect(again.data).toBeDefined();
    const after = await upload();
    expect(after).not.toBeNull();
    await invariants([...accepted, after!], [resumable.id]);
    // Resumed after the outage, the upload completes once and is processed like the others.
    expect((await sendRest(resumable)).status).toBe(204);
    const { statuses } = await invariants([...accepted, after!, resumable.id]);
    expect([...statuses.values()].every((status) => status === 'PROCESSED' || status === 'FAILED')).toBe(true);
  });
});
