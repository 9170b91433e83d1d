import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../../services/api/auth/tokenStore.js';
import { OpenUploads } from '../../services/cli/tusUpload.js';
import { gql } from '../helpers/graphql.js';
import { makeClip } from '../helpers/media.js';
import { sample, scrape } from '../helpers/metrics.js';
import { runEntry } from '../helpers/processes.js';
import { Stack } from '../helpers/stack.js';

// `npm run upload` against a real API and worker, and the worker's own /metrics.

let stack: Stack;
let clips: string;
let token: string;

beforeAll(async () => {
  clips = await mkdtemp(path.join(tmpdir(), 'framelog-cli-'));
  stack = await Stack.start({ workers: 1 });
  token = (await createToken(stack.database.db, { name: 'cli-uploader', role: 'uploader' })).token;
});

afterAll(async () => {
  await stack?.close();
  await rm(clips, { recursive: true, force: true });
});

/** Runs the CLI as `npm run upload` would (open uploads remembered under its own state directory). */
const upload = (args: string[]) => runEntry('services/main/upload.ts', args, { XDG_STATE_HOME: path.join(clips, 'state') });

describe('npm run upload', () => {
  it('streams a clip, follows it to PROCESSED and exits 0; the worker counts the task', async () => {
    const clip = await makeClip(clips, { width: 320, height: 240, durationSeconds: 1 });
    const result = await upload([clip, '--title', 'from the CLI', '--wait', '--url', stack.apiUrl, '--token', token]);
    expect(result.stderr).toContain('PROCESSED');
    expect(result.code).toBe(0);
    const id = result.stdout.trim();
    const row = await stack.database.db.selectFrom('videos').select(['status', 'title']).where('id', '=', id).executeTakeFirstOrThrow();
    expect(row).toEqual({ status: 'PROCESSED', title: 'from the CLI' });
    expect(result.stderr).toMatch(/uploading \[.*\] 100%/);

    const listening = await stack.workers[0]!.waitForLog((l) => l.msg === 'metrics listening');
    const metrics = await scrape(String(listening.url));
    expect(sample(metrics, 'framelog_tasks_total', { outcome: 'ack' })).toBe(1);
    expect(sample(metrics, 'framelog_task_duration_seconds_count', { outcome: 'ack' })).toBe(1);
  });

  it('exits 2 without sending anything for a missing file, a directory or a URL that is not http(s)', async () => {
    const events = async () => Number((await stack.database.db.selectFrom('events').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n);
    const before = await events();
    const clip = await makeClip(clips, { width: 160, height: 120, durationSeconds: 1 });
    const cases = [
      { args: [path.join(clips, 'missing.mp4'), '--url', stack.apiUrl], message: /cannot read .*missing\.mp4/ },
      { args: [clips, '--url', stack.apiUrl], message: /not a file/ },
      { args: [clip, '--url', 'ftp://example.com'], message: /not an http\(s\) URL/ },
      { args: [clip, '--url', 'nota url'], message: /not an http\(s\) URL/ },
    ];
    for (const { args, message } of cases) {
      const result = await upload([...args, '--token', token]);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(message);
    }
    expect(await events()).toBe(before);
  });

  it('exits 1 with the error code when the video fails', async () => {
    const junk = path.join(clips, 'junk.mp4');
    await writeFile(junk, Buffer.alloc(4096, 42));
    const result = await upload([junk, '--wait', '--url', stack.apiUrl, '--token', token]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/FAILED [A-Z_]+: /);
  });

  it('exits 1 with UNAUTHENTICATED when the token is wrong, storing nothing', async () => {
    const clip = await makeClip(clips, { width: 160, height: 120, durationSeconds: 1 });
    const before = await stack.database.db.selectFrom('events').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    const result = await upload([clip, '--url', stack.apiUrl, '--token', 'flk_wrong']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('UNAUTHENTICATED');
    const after = await stack.database.db.selectFrom('events').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    expect(after.n).toBe(before.n);
  });

  it('above the threshold sends the file over tus (createUpload), with its progress bar, and the worker processes it', async () => {
    const clip = await makeClip(clips, { width: 320, height: 240, durationSeconds: 1 });
    const result = await upload([clip, '--resumable-above', '0', '--title', 'over tus', '--wait', '--url', stack.apiUrl, '--token', token]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/resumable upload of video [0-9a-f-]{36}: http.*\/uploads\//);
    expect(result.stderr).toMatch(/uploading \[.*\] 100%/);
    const id = result.stdout.trim();
    const types = await stack.database.db.selectFrom('events').select('type').where('stream_id', '=', id).orderBy('version').execute();
    expect(types.map((row) => row.type).slice(0, 2)).toEqual(['UploadStarted', 'VideoUploaded']);
    expect((await stack.database.db.selectFrom('videos').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status).toBe('PROCESSED');
  });

  it('--resume continues an earlier upload of the same file from the server\'s offset', async () => {
    const file = path.join(clips, 'big.bin');
    const bytes = randomBytes(3 * 1024 * 1024);
    await writeFile(file, bytes);
    // An earlier run that died after createUpload and the first MiB.
    const created = await gql<{ createUpload: { uploadUrl: string; video: { id: string } } }>(
      stack.apiUrl,
      'mutation($s: Float!) { createUpload(filename: "big.bin", sizeBytes: $s) { uploadUrl video { id } } }',
      { s: bytes.length },
      { authorization: `Bearer ${token}` },
    );
    const { uploadUrl, video } = created.data!.createUpload;
    const first = await fetch(uploadUrl, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${token}`, 'tus-resumable': '1.0.0', 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' },
      body: bytes.subarray(0, 1024 * 1024),
    });
    expect(first.status).toBe(204);
    const info = await stat(file);
    await new OpenUploads(path.join(clips, 'state', 'framelog', 'uploads.json')).set(OpenUploads.keyOf(stack.apiUrl, file, info.size, info.mtimeMs), { videoId: video.id, uploadUrl });

    const result = await upload([file, '--resume', '--url', stack.apiUrl, '--token', token]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(`resuming the upload of video ${video.id}`);
    expect(result.stdout.trim()).toBe(video.id);
    const uploaded = await stack.database.db.selectFrom('events').select('data').where('stream_id', '=', video.id).where('type', '=', 'VideoUploaded').execute();
    expect(uploaded.map((row) => (row.data as { sha256: string }).sha256)).toEqual([createHash('sha256').update(bytes).digest('hex')]);
  });
});
