import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gql, uploadFile } from '../helpers/graphql.js';
import { ffmpegCli, makeClip, type ClipSpec } from '../helpers/media.js';
import { PlayerPage } from '../helpers/players.js';
import { waitFor } from '../helpers/processes.js';
import { Stack } from '../helpers/stack.js';

/**
 * Adaptive streaming end to end, proven by real players (DESIGN §10): uploads go through the API and a
 * worker, `Video.streaming` gives the URLs, and hls.js and dash.js in headless Chromium play them from the
 * API's /media route on another origin (so CORS, content types and Range are the real ones).
 */

const STREAMING_QUERY = `query Streaming($id: ID!, $asOf: AsOf) {
  video(id: $id, asOf: $asOf) { status lastError { code message } streaming { hlsUrl dashUrl } history { position type } }
}`;

interface StreamingResult {
  status: string;
  lastError: { code: string; message: string } | null;
  streaming: { hlsUrl: string; dashUrl: string } | null;
  history: { position: string; type: string }[];
}

let stack: Stack;
let player: PlayerPage;
let clips: string;
/** The media suite's inputs (media.int.test.ts): each must give a stream a browser plays. */
const inputs: Record<string, string> = {};
let ladder = '';

async function upload(file: string): Promise<string> {
  const response = await uploadFile(stack.apiUrl, file);
  expect(response.body.errors).toBeUndefined();
  return response.body.data!.uploadVideo.id;
}

const query = async (id: string, asOf?: { position: string }) => {
  const response = await gql<{ video: StreamingResult }>(stack.apiUrl, STREAMING_QUERY, { id, ...(asOf ? { asOf } : {}) });
  expect(response.errors).toBeUndefined();
  return response.data!.video;
};

const processed = (id: string) =>
  waitFor(
    async () => {
      const video = await query(id);
      if (video.status === 'FAILED') throw new Error(`video ${id} failed: ${JSON.stringify(video.lastError)}`);
      return video.status === 'PROCESSED' ? video : null;
    },
    { timeoutMs: 240_000, intervalMs: 250, message: `video ${id} to be processed` },
  );

/** Absolute URLs: the API answers with /media paths, the player page lives on another origin. */
const absolute = (url: string) => new URL(url, stack.apiUrl).toString();

beforeAll(async () => {
  clips = await mkdtemp(path.join(tmpdir(), 'framelog-players-'));
  stack = await Stack.start({ workers: 1 });
  ladder = await upload(await makeClip(clips, { width: 1280, height: 720, durationSeconds: 8, audio: true }));
  const specs: Record<string, ClipSpec> = {
    portrait: { width: 360, height: 640, durationSeconds: 3, audio: true },
    rotated: { width: 640, height: 360, durationSeconds: 3, audio: true, rotation: 90 },
    silent: { width: 640, height: 360, durationSeconds: 3, audio: false },
    tiny: { width: 160, height: 120, durationSeconds: 3, audio: true },
  };
  for (const [name, spec] of Object.entries(specs)) inputs[name] = await upload(await makeClip(clips, spec));
  // Anamorphic: 720x480 stored pixels shown at 32:27 (NTSC 16:9).
  const anamorphic = path.join(clips, 'anamorphic.mp4');
  await ffmpegCli(['-f', 'lavfi', '-i', 'testsrc2=size=720x480:rate=25:duration=3', '-vf', 'setsar=32/27', '-c:v', 'libx264', '-preset', 'ultrafast', anamorphic]);
  inputs.anamorphic = await upload(anamorphic);
  player = await PlayerPage.open();
});

afterAll(async () => {
  await player?.close();
  await stack?.close();
  await rm(clips, { recursive: true, force: true });
});

describe('hls.js and dash.js play what framelog serves', () => {
  it('hls.js parses every rung, plays past 2 s, and plays on through a forced level switch without a stall', async () => {
    const video = await processed(ladder);
    const hlsUrl = absolute(video.streaming!.hlsUrl);
    const report = await player.playHls(hlsUrl, 2);
    expect(report.errors).toEqual([]);
    expect(report.levels).toBeGreaterThanOrEqual(2);
    expect(report.currentTime).toBeGreaterThan(2);

    // Starts on level 0 (the largest); switch to the smallest at the next segment and play past it.
    const switched = await player.playHls(hlsUrl, 5.5, report.levels - 1);
    expect(switched.errors).toEqual([]);
    expect(switched.switchedTo).toContain(report.levels - 1);
    expect(switched.stalls).toBe(0);
    expect(switched.currentTime).toBeGreaterThan(5.5);
  });

  it('dash.js plays the MPD over the same segments past 2 s', async () => {
    const video = await processed(ladder);
    const report = await player.playDash(absolute(video.streaming!.dashUrl), 2);
    expect(report.errors).toEqual([]);
    expect(report.levels).toBeGreaterThanOrEqual(2);
    expect(report.currentTime).toBeGreaterThan(2);
  });

  it.each(['portrait', 'rotated', 'silent', 'tiny', 'anamorphic'])('the %s input gives a stream hls.js plays', async (name) => {
    const video = await processed(inputs[name]!);
    const report = await player.playHls(absolute(video.streaming!.hlsUrl), 2);
    expect(report.errors).toEqual([]);
    expect(report.currentTime).toBeGreaterThan(2);
  });
});

describe('serving and the contract', () => {
  it('serves playlists, the MPD and segments with their content types, CORS, Range and caching', async () => {
    const video = await processed(ladder);
    const master = await fetch(absolute(video.streaming!.hlsUrl));
    expect(master.status).toBe(200);
    expect(master.headers.get('content-type')).toBe('application/vnd.apple.mpegurl');
    expect(master.headers.get('access-control-allow-origin')).toBe('*');
    expect(master.headers.get('cache-control')).toMatch(/max-age=60\b/);
    const mpd = await fetch(absolute(video.streaming!.dashUrl));
    expect(mpd.headers.get('content-type')).toBe('application/dash+xml');

    const segment = absolute(video.streaming!.hlsUrl).replace(/master\.m3u8$/, 'seg-0-00001.m4s');
    const ranged = await fetch(segment, { headers: { range: 'bytes=0-99' } });
    expect(ranged.status).toBe(206);
    expect((await ranged.arrayBuffer()).byteLength).toBe(100);
    expect(ranged.headers.get('content-type')).toBe('video/iso.segment');
    expect(ranged.headers.get('cache-control')).toMatch(/immutable/);
  });

  it('keeps the streaming URLs in asOf at VideoProcessed, and has none before it', async () => {
    const now = await processed(ladder);
    const at = (type: string) => now.history.find((event) => event.type === type)!.position;
    expect((await query(ladder, { position: at('VideoProcessed') })).streaming).toEqual(now.streaming);
    expect((await query(ladder, { position: at('ProcessingStarted') })).streaming).toBeNull();
  });
});
