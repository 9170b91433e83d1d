import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ffprobeJson, makeClip } from '../helpers/media.js';
import { uploadFile, waitForTerminal } from '../helpers/graphql.js';
import { Stack } from '../helpers/stack.js';

interface VideoResult {
  id: string;
  status: string;
  attempts: number;
  version: number;
  lastError: { code: string; message: string; retryable: boolean } | null;
  media: { width: number; height: number; rotation: number | null; audioCodec: string | null } | null;
  renditions: { label: string; width: number; height: number; sizeBytes: number; url: string }[];
  posterUrl: string | null;
  history: { version: number; type: string; data: Record<string, unknown>; metadata: Record<string, unknown> }[];
}

const MAX_UPLOAD_BYTES = 3 * 1024 * 1024;
let stack: Stack;
let clips: string;

beforeAll(async () => {
  clips = await mkdtemp(path.join(tmpdir(), 'framelog-clips-'));
  stack = await Stack.start({ workers: 3, apiEnv: { MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES) } });
});

afterAll(async () => {
  await stack?.close();
  await rm(clips, { recursive: true, force: true });
});


const waitTerminal = (id: string) => waitForTerminal<VideoResult>(stack.apiUrl, id);

async function countEvents(): Promise<number> {
  const row = await stack.database.db.selectFrom('events').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

describe('walking skeleton: upload → log → Rascal → 3 workers → ffmpeg → VideoProcessed', () => {
  it('processes six different clips, each by exactly one worker, with every worker doing work', async () => {
    const specs = [
      { name: 'hd.mp4', width: 1280, height: 720, audio: true, expectHeights: [720, 480, 360] },
      { name: 'sd.mp4', width: 854, height: 480, audio: true, expectHeights: [480, 360] },
      { name: 'silent.mp4', width: 640, height: 360, audio: false, expectHeights: [360] },
      // A rung names the shorter side, so a 360x640 portrait gets one 360p rendition, 640 tall.
      { name: 'portrait.mp4', width: 640, height: 360, audio: true, rotation: 90 as const, expectHeights: [640] },
      { name: 'small.mov', width: 320, height: 240, audio: true, format: 'mov' as const, expectHeights: [240] },
      { name: 'wide.mkv', width: 960, height: 540, audio: false, format: 'mkv' as const, expectHeights: [480, 360] },
    ];
    const files = await Promise.all(
      specs.map((s) => makeClip(clips, { width: s.width, height: s.height, durationSeconds: 2, audio: s.audio, rotation: s.rotation ?? 0, format: s.format ?? 'mp4', name: s.name })),
    );

    const uploads = await Promise.all(files.map((file, i) => uploadFile(stack.apiUrl, file, { title: `clip ${i}` })));
    for (const upload of uploads) {
      expect(upload.body.errors).toBeUndefined();
      expect(upload.body.data?.uploadVideo.status).toBe('QUEUED');
      expect(upload.body.data?.uploadVideo.sha256).toMatch(/^[0-9a-f]{64}$/);
    }
    const ids = uploads.map((u) => u.body.data!.uploadVideo.id);
    const videos = await Promise.all(ids.map(waitTerminal));

    const workerIds = new Set<string>();
    for (const [i, video] of videos.entries()) {
      const spec = specs[i]!;
      expect(video.status, `${spec.name}: ${JSON.stringify(video.lastError)}`).toBe('PROCESSED');
      // history: VideoUploaded, ProcessingStarted, VideoProcessed with versions 1..3
      expect(video.history.map((e) => [e.version, e.type])).toEqual([[1, 'VideoUploaded'], [2, 'ProcessingStarted'], [3, 'VideoProcessed']]);
      const startedBy = video.history[1]!.data.workerId as string;
      expect(video.history[2]!.metadata.workerId).toBe(startedBy);
      workerIds.add(startedBy);

      // Renditions at the expected heights, on disk, readable by ffprobe, none taller than the source.
      const sourceHeight = spec.rotation === 90 ? spec.width : spec.height;
      expect(video.media?.height).toBe(sourceHeight);
      expect(video.renditions.map((r) => r.height)).toEqual(spec.expectHeights);
      for (const rendition of video.renditions) {
        expect(rendition.height).toBeLessThanOrEqual(sourceHeight);
        const file = stack.file(new URL(rendition.url, stack.apiUrl).pathname.replace(/^\/media\//, ''));
        const probe = await ffprobeJson(file);
        const stream = probe.streams.find((s) => s.codec_type === 'video')!;
        expect([stream.width, stream.height]).toEqual([rendition.width, rendition.height]);
        expect(stream.codec_name).toBe('h264');
        expect(probe.streams.some((s) => s.codec_type === 'audio')).toBe(spec.audio);
        if (spec.rotation === 90) expect(rendition.height).toBeGreaterThan(rendition.width);
      }
      expect(video.posterUrl).toMatch(/poster\.jpg$/);
    }
    // Every task handled by exactly one worker, and all three workers did work.
    expect(workerIds.size).toBe(3);
    const workerPids = new Set(stack.workers.map((w) => w.pid));
    for (const id of workerIds) expect(workerPids.has(Number(id.split(':').at(-1)))).toBe(true);

    // Outputs are served over HTTP with Range support.
    const url = new URL(videos[0]!.renditions[0]!.url, stack.apiUrl);
    const ranged = await fetch(url, { headers: { range: 'bytes=0-99' } });
    expect(ranged.status).toBe(206);
    expect((await ranged.arrayBuffer()).byteLength).toBe(100);
  });

  it('a text file renamed .mp4 ends FAILED with a stable code, and the workers stay up', async () => {
    const file = path.join(clips, 'notes.mp4');
    await writeFile(file, 'these are not the frames you are looking for\n'.repeat(200));
    const upload = await uploadFile(stack.apiUrl, file);
    expect(upload.body.errors).toBeUndefined();
    const video = await waitTerminal(upload.body.data!.uploadVideo.id);
    expect(video.status).toBe('FAILED');
    expect(video.lastError).toMatchObject({ code: 'NOT_A_VIDEO', retryable: false });
    expect(video.history.map((e) => e.type)).toEqual(['VideoUploaded', 'ProcessingStarted', 'VideoFailed']);
    expect(stack.workers.every((w) => w.running)).toBe(true);
  });

  it('an upload over the limit is refused with a stable code, leaving no event and no file', async () => {
    const file = path.join(clips, 'huge.mp4');
    await writeFile(file, randomBytes(MAX_UPLOAD_BYTES + 1024));
    const before = await countEvents();
    const uploadsBefore = await readdir(stack.file('uploads'));
    const upload = await uploadFile(stack.apiUrl, file);
    expect(upload.body.errors?.[0]?.extensions?.code).toBe('UPLOAD_TOO_LARGE');
    expect(upload.body.data?.uploadVideo ?? null).toBeNull();
    expect(await countEvents()).toBe(before);
    const uploadsAfter = await readdir(stack.file('uploads'));
    expect(uploadsAfter.sort()).toEqual(uploadsBefore.sort());
    for (const dir of uploadsAfter) expect(await readdir(stack.file(`uploads/${dir}`))).toEqual(['source']);
    expect(existsSync(stack.file('uploads'))).toBe(true);
  });
});
