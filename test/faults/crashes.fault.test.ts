import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outboxLag } from '../../services/eventstore/outbox.js';
import { uploadFile } from '../helpers/graphql.js';
import { makeClip } from '../helpers/media.js';
import { startService, waitFor, type ServiceProcess } from '../helpers/processes.js';
import { Stack } from '../helpers/stack.js';
import { checkInvariants } from './support/invariants.js';

// Process crashes: SIGKILL leaves no chance to clean up, so only the log, the outbox and the broker's
// redelivery can make every upload end terminal, each processed exactly once.
const RETRY_DELAYS_MS = [200, 400];
const REQUEUE_DELAY_MS = 1_000;

let stack: Stack;
let dir: string;
let clip: string;
let relay: ServiceProcess | undefined;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'framelog-faults-'));
  clip = await makeClip(dir, { width: 160, height: 120, durationSeconds: 1 });
  stack = await Stack.start({ workers: 3, env: { RETRY_DELAYS_MS: RETRY_DELAYS_MS.join(',') }, apiEnv: { RELAY_IN_API: 'false' } });
  relay = startService('relay', 'relay', stack.env);
});

afterAll(async () => {
  await relay?.stop('SIGKILL');
  await stack?.close();
  await rm(dir, { recursive: true, force: true });
});

async function uploadMany(count: number): Promise<string[]> {
  const responses = await Promise.all(Array.from({ length: count }, () => uploadFile(stack.apiUrl, clip)));
  return responses.map((response) => {
    expect(response.body.errors).toBeUndefined();
    return response.body.data!.uploadVideo.id;
  });
}

const invariants = (videoIds: string[]) =>
  checkInvariants({ db: stack.database.db, namespace: stack.namespace, videoIds, deadLetters: [], delaysMs: [...RETRY_DELAYS_MS, REQUEUE_DELAY_MS] });

describe('crashes', () => {
  it('SIGKILL of one of 3 workers mid-transcode during 20 uploads: all PROCESSED, none twice', async () => {
    const uploading = uploadMany(20);
    // The first worker to start a job is killed while ffmpeg runs (its 'processing started' line is
    // the moment ProcessingStarted was appended, before the transcode).
    const victim = await waitFor(() => stack.workers.find((w) => w.lines.some((l) => l.msg === 'processing started')), { message: 'a worker to start a job' });
    const job = victim.lines.find((l) => l.msg === 'processing started')!;
    await victim.stop('SIGKILL');
    const ids = await uploading;
    const { statuses } = await invariants(ids);
    expect([...statuses.values()].every((status) => status === 'PROCESSED')).toBe(true);
    // The killed job was picked up again by another worker and finished there.
    const events = await stack.database.db.selectFrom('events').select(['type', 'metadata']).where('stream_id', '=', String(job.videoId)).orderBy('version').execute();
    const outcome = events.find((e) => e.type === 'VideoProcessed');
    expect(outcome).toBeDefined();
    if (victim.lines.some((l) => l.msg === 'task processed' && l.videoId === job.videoId)) return; // killed between append and ack
    expect((outcome!.metadata as { workerId?: string }).workerId).not.toBe(String(job.workerId));
    expect(events.filter((e) => e.type === 'ProcessingStarted').length).toBeGreaterThanOrEqual(2);
  });

  it('SIGKILL of the API after commit, before publish: the outbox keeps the tasks; after a restart all are PROCESSED', async () => {
    await relay?.stop('SIGKILL');
    relay = undefined;
    const ids = await uploadMany(5);
    // Committed with their outbox rows, nothing published yet (no relay runs).
    expect((await outboxLag(stack.database.db)).count).toBe(5);
    await stack.api.stop('SIGKILL');
    await stack.startApi();
    relay = startService('relay', 'relay', stack.env);
    const { statuses } = await invariants(ids);
    expect([...statuses.values()]).toEqual(Array(5).fill('PROCESSED'));
  });
});
