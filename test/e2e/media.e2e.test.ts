import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uploadFile, waitForTerminal } from '../helpers/graphql.js';
import { ffmpegCli, listFiles, makeClip } from '../helpers/media.js';
import { undecodableTrack } from '../helpers/mediaCases.js';
import { Stack } from '../helpers/stack.js';

/**
 * Media inputs through the whole deployment: upload over HTTP → worker → VideoProcessed or VideoFailed →
 * GraphQL and /media. The media module's own tests cover each input in depth; this file checks what only
 * the running processes can show (served URLs, the event's MediaInfo, codes reaching the API, paths).
 */

interface VideoResult {
  id: string;
  status: string;
  attempts: number;
  lastError: { code: string; message: string; retryable: boolean; attempt: number } | null;
  media: { durationSeconds: number; width: number; height: number; videoCodec: string; audioCodec: string | null; frameRate: number | null; rotation: number | null } | null;
  renditions: { label: string; width: number; height: number; sizeBytes: number; url: string }[];
  posterUrl: string | null;
  history: { version: number; type: string; data: Record<string, unknown> }[];
}

/** A name that would escape the media root, run a shell command and break a header if it were ever used. */
const HOSTILE_FILENAME = '../../../../escaped $(touch pwned); rm -rf ~ `id` .mp4';

let stack: Stack;
let clips: string;
const uploaded: Record<'good' | 'emptied' | 'truncated' | 'mutedAudio' | 'vvc', string> = { good: '', emptied: '', truncated: '', mutedAudio: '', vvc: '' };


const waitTerminal = (id: string) => waitForTerminal<VideoResult>(stack.apiUrl, id, 120_000);

/** Every upload of beforeAll in its terminal state, so no worker is still writing files. */
const settled = () => Promise.all(Object.values(uploaded).map(waitTerminal));

async function upload(file: string, filename?: string): Promise<string> {
  const response = await uploadFile(stack.apiUrl, file, filename === undefined ? {} : { filename });
  expect(response.body.errors).toBeUndefined();
  return response.body.data!.uploadVideo.id;
}

beforeAll(async () => {
  clips = await mkdtemp(path.join(tmpdir(), 'framelog-media-e2e-'));
  // No worker yet: the uploads queue up, so one source can be emptied in storage before any worker reads it.
  stack = await Stack.start({ workers: 0 });

  const good = await makeClip(clips, { width: 1280, height: 720, durationSeconds: 2, audio: true });
  uploaded.good = await upload(good, HOSTILE_FILENAME);

  uploaded.emptied = await upload(await makeClip(clips, { width: 320, height: 240, durationSeconds: 1 }));
  await truncate(stack.file(`uploads/${uploaded.emptied}/source`), 0);

  // A faststart MP4 cut in half: its header still promises 4 s, only about 2 s can be decoded.
  const whole = await makeClip(clips, { width: 320, height: 240, durationSeconds: 4, audio: true });
  const faststart = path.join(clips, 'faststart.mp4');
  await ffmpegCli(['-i', whole, '-c', 'copy', '-movflags', '+faststart', '-f', 'mp4', faststart]);
  const bytes = await readFile(faststart);
  const cut = path.join(clips, 'cut.mp4');
  await writeFile(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
  uploaded.truncated = await upload(cut);

  uploaded.mutedAudio = await upload(await undecodableTrack(clips, 'audio', 1));
  uploaded.vvc = await upload(await undecodableTrack(clips, 'video', 1));

  await stack.startWorker();
});

afterAll(async () => {
  await stack?.close();
  await rm(clips, { recursive: true, force: true });
});

describe('media inputs end to end', () => {
  it('records MediaInfo in VideoProcessed and serves every rendition and the poster', async () => {
    const video = await waitTerminal(uploaded.good);
    expect(video.status, JSON.stringify(video.lastError)).toBe('PROCESSED');
    const expectedMedia = { durationSeconds: 2, width: 1280, height: 720, videoCodec: 'h264', audioCodec: 'aac', frameRate: 25, rotation: 0 };
    expect(video.media).toEqual(expectedMedia);
    const processed = video.history.find((event) => event.type === 'VideoProcessed');
    expect(processed?.data.media).toMatchObject(expectedMedia);

    expect(video.renditions.map(({ label, width, height }) => `${label} ${width}x${height}`)).toEqual(['720p 1280x720', '480p 854x480', '360p 640x360']);
    for (const rendition of video.renditions) {
      const response = await fetch(new URL(rendition.url, stack.apiUrl));
      expect(response.status, rendition.url).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^video\/mp4/);
      const body = Buffer.from(await response.arrayBuffer());
      expect(body.length).toBe(rendition.sizeBytes);
      expect(body.toString('latin1', 4, 8)).toBe('ftyp');
    }
    expect(video.posterUrl).not.toBeNull();
    const poster = await fetch(new URL(video.posterUrl!, stack.apiUrl));
    expect(poster.status).toBe(200);
    expect(poster.headers.get('content-type')).toMatch(/^image\/jpeg/);
    expect(Buffer.from(await poster.arrayBuffer()).subarray(0, 3)).toEqual(Buffer.from([0xff, 0xd8, 0xff]));
  });

  it('never lets the client filename into a path: it is kept for display only', async () => {
    await settled();
    const video = await waitTerminal(uploaded.good);
    const data = video.history.find((event) => event.type === 'VideoUploaded')?.data;
    expect(data?.storageKey).toBe(`uploads/${uploaded.good}/source`);
    // The multipart parser may shorten the name to its last path segment; either way it is only display text.
    expect(HOSTILE_FILENAME.endsWith(String(data?.originalFilename))).toBe(true);
    expect(String(data?.originalFilename)).toContain('$(touch pwned)');

    const files = await listFiles(stack.mediaRoot);
    // Outputs live in the video's output set: one committed version and its manifest.
    const version = /^renditions\/[0-9a-f-]{36}\/(v[0-9a-z]+-[0-9a-f]{12})\//.exec(files.find((file) => file.includes(`${uploaded.good}/v`)) ?? '')?.[1];
    // The HLS/DASH packaging (stream/…) has names of its own, checked below; players.e2e.test.ts plays it.
    expect(files.filter((file) => file.includes(uploaded.good) && !file.includes('/stream/'))).toEqual([
      `renditions/${uploaded.good}/manifest.json`,
      `renditions/${uploaded.good}/${version}/360p.mp4`,
      `renditions/${uploaded.good}/${version}/480p.mp4`,
      `renditions/${uploaded.good}/${version}/720p.mp4`,
      `renditions/${uploaded.good}/${version}/poster.jpg`,
      `uploads/${uploaded.good}/source`,
    ]);
    for (const file of files) {
      expect(file).toMatch(
        /^(uploads\/[0-9a-f-]{36}\/source|renditions\/[0-9a-f-]{36}\/(manifest\.json|v[0-9a-z]+-[0-9a-f]{12}\/(\d+p\.mp4|poster\.jpg|stream\/(\d+p\.m3u8|audio\.m3u8|master\.m3u8|manifest\.mpd|init-\d+\.m4s|seg-\d+-\d{5}\.m4s))))$/,
      );
    }
    // Where the name would have led, relative to the upload's directory or to the root: nothing.
    for (const base of [stack.file(`uploads/${uploaded.good}`), stack.mediaRoot]) {
      expect(existsSync(path.resolve(base, HOSTILE_FILENAME))).toBe(false);
    }
    expect(existsSync(path.join(process.cwd(), 'pwned'))).toBe(false);
  });

  it('refuses an empty upload at the API with UPLOAD_EMPTY, leaving no event and no file', async () => {
    const empty = path.join(clips, 'empty.mp4');
    await writeFile(empty, '');
    await settled();
    const before = await listFiles(stack.mediaRoot);
    const response = await uploadFile(stack.apiUrl, empty);
    expect(response.body.errors?.[0]?.extensions?.code).toBe('UPLOAD_EMPTY');
    expect(response.body.data?.uploadVideo ?? null).toBeNull();
    expect(await listFiles(stack.mediaRoot)).toEqual(before);
  });

  it('fails a source emptied in storage with UPLOAD_EMPTY through the worker, without retrying', async () => {
    const video = await waitTerminal(uploaded.emptied);
    expect(video.status).toBe('FAILED');
    expect(video.lastError).toMatchObject({ code: 'UPLOAD_EMPTY', retryable: false, attempt: 1 });
    expect(video.history.map((event) => event.type)).toEqual(['VideoUploaded', 'ProcessingStarted', 'VideoFailed']);
    expect(await listFiles(stack.file(`renditions/${uploaded.emptied}`))).toEqual([]);
    expect(existsSync(stack.file(`renditions/${uploaded.emptied}`))).toBe(false);
  });

  it('fails a truncated upload with MEDIA_CORRUPT, not retried, leaving no outputs', async () => {
    const video = await waitTerminal(uploaded.truncated);
    expect(video.status).toBe('FAILED');
    expect(video.lastError).toMatchObject({ code: 'MEDIA_CORRUPT', retryable: false, attempt: 1 });
    expect(video.attempts).toBe(1);
    expect(video.history.map((event) => event.type)).toEqual(['VideoUploaded', 'ProcessingStarted', 'VideoFailed']);
    expect(existsSync(stack.file(`renditions/${uploaded.truncated}`))).toBe(false);
    expect(video.renditions).toEqual([]);
    expect(video.posterUrl).toBeNull();
  });

  it('processes a video whose audio cannot be decoded without sound, the warning in VideoProcessed', async () => {
    const video = await waitTerminal(uploaded.mutedAudio);
    expect(video.status, JSON.stringify(video.lastError)).toBe('PROCESSED');
    expect(video.media).toMatchObject({ videoCodec: 'h264', audioCodec: null });
    const processed = video.history.find((event) => event.type === 'VideoProcessed');
    expect(processed?.data.warnings).toEqual([{ code: 'AUDIO_NOT_DECODABLE', message: expect.stringContaining('mpegh_3d_audio') as string }]);
  });

  it('fails a video codec ffmpeg cannot decode with UNSUPPORTED_CODEC naming it, not retried', async () => {
    const video = await waitTerminal(uploaded.vvc);
    expect(video.status).toBe('FAILED');
    expect(video.lastError).toMatchObject({ code: 'UNSUPPORTED_CODEC', retryable: false, attempt: 1 });
    expect(video.lastError?.message).toContain('vvc1');
  });
});
