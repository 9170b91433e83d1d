import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ParsedManifest } from 'm3u8-parser';
import { ErrorCode, FramelogError } from '../../services/domain/errors.js';
import { outputSetKey, rangeSetKey, rangesPrefix, sourceKey } from '../../services/media/keys.js';
import { mp4DurationSeconds } from '../../services/media/mp4Duration.js';
import { createMediaProcessor, type ProcessResult } from '../../services/media/processVideo.js';
import { planRanges, type TimeRange } from '../../services/media/rangePlan.js';
import { createSplitMediaProcessor, type RangeResult, type SplitMediaProcessor } from '../../services/media/splitProcessor.js';
import { contentTypeOf } from '../../services/media/storage/httpPolicy.js';
import { LocalDiskStorage, type MediaStorage } from '../../services/media/storage.js';
import { S3Storage } from '../../services/media/storage/s3.js';
import { Scratch } from '../../services/media/storage/scratch.js';
import { frameNumbers, frameTimes, makeCountedClip, pulseOnsets, type CountedClipSpec } from '../helpers/countedMedia.js';
import { PlayerPage } from '../helpers/players.js';
import { parseM3u8 } from '../helpers/playlists.js';
import { TestBucket } from '../helpers/s3.js';
import { TEST_LIMITS } from '../helpers/scratchMedia.js';

/**
 * Split and stitch, media side (issue 19, DESIGN §11): every range of a counted clip (its frame number
 * drawn into each frame, an audio pulse each second; helpers/countedMedia.ts) is encoded apart, then
 * stitched, and the result is held against the source and a single encode of the same clip: every frame
 * once and at its own time, A/V in sync at every join, keyframe-led HLS segments, full-length downloads,
 * and hls.js playing through every join.
 */

const exec = promisify(execFile);
/** 4 s ranges (two GOPs) over 15 s: joins at 4, 8 and 12 s and a 3 s last range. */
const SEGMENT = 4;

let dir: string;
let storage: LocalDiskStorage;
let split: SplitMediaProcessor;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'framelog-split-'));
  storage = new LocalDiskStorage(path.join(dir, 'media'));
  split = createSplitMediaProcessor({ storage, limits: TEST_LIMITS, threads: 0 });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface SplitRun {
  videoId: string;
  ranges: TimeRange[];
  encoded: RangeResult[];
  result: ProcessResult;
}

/** Uploads a counted clip and runs the whole split path: probe, plan, every range (last first), stitch. */
async function splitClip(on: MediaStorage, processor: SplitMediaProcessor, spec: CountedClipSpec): Promise<SplitRun> {
  const videoId = randomUUID();
  const file = await makeCountedClip(dir, spec);
  await on.writeStream(sourceKey(videoId), createReadStream(file), { maxBytes: 100 * 1024 * 1024 });
  const media = await processor.probe({ videoId, sourceKey: sourceKey(videoId) });
  const ranges = planRanges(media.durationSeconds, SEGMENT);
  // Out of order, as workers finish them.
  const encoded = await Promise.all([...ranges].reverse().map((range) => processor.encodeRange({ videoId, sourceKey: sourceKey(videoId), range })));
  const result = await processor.stitch({ videoId, sourceKey: sourceKey(videoId), ranges });
  return { videoId, ranges, encoded: encoded.reverse(), result };
}

const local = (key: string): string => storage.localPath(key);
const range = (from: number, count: number): number[] => Array.from({ length: count }, (_, index) => from + index);

/** The A/V offset (s) at each audio pulse: the time of the frame drawn for that second minus the pulse's. */
async function avOffsets(file: string, fps: number): Promise<number[]> {
  const [numbers, times, pulses] = await Promise.all([frameNumbers(file), frameTimes(file), pulseOnsets(file)]);
  return pulses.map((pulse, second) => {
    const at = numbers.indexOf(Math.round(second * fps));
    return (times[at] ?? Number.NaN) - pulse;
  });
}

describe('split and stitch of a 15 s 25 fps clip with two rungs (local storage)', () => {
  const fps = 25;
  const frames = 15 * fps;
  let run: SplitRun;
  let single: ProcessResult;

  beforeAll(async () => {
    run = await splitClip(storage, split, { width: 640, height: 480, durationSeconds: 15, rate: String(fps) });
    const videoId = randomUUID();
    await storage.writeStream(sourceKey(videoId), createReadStream(await makeCountedClip(dir, { width: 640, height: 480, durationSeconds: 15, rate: String(fps) })), {
      maxBytes: 100 * 1024 * 1024,
    });
    single = await createMediaProcessor({ storage, limits: TEST_LIMITS, threads: 0 }).process({ videoId, sourceKey: sourceKey(videoId) });
  }, 240_000);

  it('encodes each range into its own set holding exactly its frames, starting with a keyframe', async () => {
    expect(run.ranges.map((each) => [each.startSeconds, each.endSeconds])).toEqual([[0, 4], [4, 8], [8, 12], [12, 15]]);
    expect(run.encoded.map((each) => [each.index, each.frames, each.durationSeconds])).toEqual([[0, 100, 4], [1, 100, 4], [2, 100, 4], [3, 75, 3]]);
    for (const each of run.ranges) {
      const manifest = await storage.readManifest(rangeSetKey(run.videoId, each.index));
      const files = manifest?.files.map((file) => file.name);
      expect(files).toEqual(['360p.mp4', '480p.mp4']);
      const largest = local(manifest!.files.find((file) => file.name === '480p.mp4')!.key);
      expect(await frameNumbers(largest)).toEqual(range(each.index * 100, each.index === 3 ? 75 : 100));
      expect(await firstPacket(largest)).toEqual({ seconds: 0, keyframe: true });
    }
  });

  it('joins every rung with every source frame once, in order, each at its own time', async () => {
    expect(run.result.renditions.map((rendition) => rendition.label)).toEqual(['480p', '360p']);
    for (const rendition of run.result.renditions) {
      const file = local(rendition.storageKey);
      expect(await frameNumbers(file)).toEqual(range(0, frames));
      const times = await frameTimes(file);
      expect(times.map((time, index) => Math.abs(time - index / fps)).every((error) => error < 0.001)).toBe(true);
    }
  });

  it('keeps audio and video in sync within one frame at every second, joins included, as the single encode does', async () => {
    for (const [index, rendition] of run.result.renditions.entries()) {
      const offsets = await avOffsets(local(rendition.storageKey), fps);
      const singleOffsets = await avOffsets(local(single.renditions[index]!.storageKey), fps);
      expect(offsets).toHaveLength(15);
      for (const [second, offset] of offsets.entries()) {
        expect(Math.abs(offset), `A/V offset at ${second} s`).toBeLessThan(1 / fps);
        expect(Math.abs(offset - singleOffsets[second]!), `against the single encode at ${second} s`).toBeLessThan(0.002);
      }
    }
  });

  it('makes downloads as long as the source and as the single encode', async () => {
    for (const [index, rendition] of run.result.renditions.entries()) {
      const seconds = await mp4DurationSeconds(local(rendition.storageKey));
      expect(seconds).toBeCloseTo(15, 1);
      expect(seconds).toBeCloseTo((await mp4DurationSeconds(local(single.renditions[index]!.storageKey)))!, 2);
    }
  });

  it('packages like the single encode: same rungs, segment count and playlists', () => {
    const { streaming, poster, media } = run.result;
    expect(media).toEqual(single.media);
    expect(poster).toMatchObject({ width: single.poster?.width, height: single.poster?.height });
    expect(streaming?.segmentCount).toBe(single.streaming?.segmentCount);
    expect(streaming?.variants.map((variant) => [variant.label, variant.codecs, variant.frameRate])).toEqual(
      single.streaming?.variants.map((variant) => [variant.label, variant.codecs, variant.frameRate]),
    );
  });

  it('starts every HLS segment of every rung with a keyframe, right after the segment before', async () => {
    for (const variant of run.result.streaming!.variants) {
      const playlist = await readPlaylist(variant.playlistKey);
      const streamDir = path.dirname(local(variant.playlistKey));
      let expected = 0;
      for (const segment of playlist.segments) {
        const first = await firstPacket(await joined(streamDir, segment.map!.uri, segment.uri));
        expect(first.keyframe, `${variant.label} ${segment.uri}`).toBe(true);
        expect(first.seconds).toBeCloseTo(expected, 3);
        expected += segment.duration;
      }
      expect(expected).toBeCloseTo(15, 1);
    }
  });

  it('plays in hls.js across every join without a stall', async () => {
    const server = await serveMedia(storage.root);
    const player = await PlayerPage.open();
    try {
      const report = await player.playHls(`${server.url}/${run.result.streaming!.hlsKey}`, 13);
      expect(report.errors).toEqual([]);
      expect(report.stalls).toBe(0);
      expect(report.currentTime).toBeGreaterThan(13);
    } finally {
      await player.close();
      await new Promise<void>((resolve) => server.server.close(() => resolve()));
    }
  }, 90_000);

  it('replaces a range set on a rerun, and removeTemps removes every range set but not the video set', async () => {
    const before = await storage.readManifest(rangeSetKey(run.videoId, 1));
    await split.encodeRange({ videoId: run.videoId, sourceKey: sourceKey(run.videoId), range: run.ranges[1]! });
    const after = await storage.readManifest(rangeSetKey(run.videoId, 1));
    expect(after?.version).not.toBe(before?.version);
    expect(await storage.exists(before!.files[0]!.key)).toBe(false);

    await split.removeTemps(run.videoId);
    expect(await storage.exists(after!.files[0]!.key)).toBe(false);
    expect(await storage.readManifest(rangeSetKey(run.videoId, 0))).toBeNull();
    expect(await storage.readManifest(outputSetKey(run.videoId))).not.toBeNull();
    await expect(readFile(local(rangesPrefix(run.videoId)))).rejects.toMatchObject({ code: 'ENOENT' });
  }, 60_000);
});

describe('split and stitch of a 29.97 fps Matroska clip cut inside long GOPs', () => {
  it('keeps every frame once and at the single encode’s times', async () => {
    const run = await splitClip(storage, split, { width: 320, height: 240, durationSeconds: 11, rate: '30000/1001', format: 'mkv', keyint: 300 });
    expect(run.encoded.map((each) => each.frames)).toEqual([120, 120, 90]);
    const file = local(run.result.renditions[0]!.storageKey);
    expect(await frameNumbers(file)).toEqual(range(0, 330));
    const times = await frameTimes(file);
    expect(times.map((time, index) => Math.abs(time - (index * 1001) / 30000)).every((error) => error < 0.001)).toBe(true);
  }, 120_000);
});

describe('refusals', () => {
  it('refuses a range outside the video and a stitch whose ranges were never encoded, publishing nothing', async () => {
    const videoId = randomUUID();
    await storage.writeStream(sourceKey(videoId), createReadStream(await makeCountedClip(dir, { width: 160, height: 120, durationSeconds: 5, rate: '25' })), {
      maxBytes: 10 * 1024 * 1024,
    });
    const outside = await failure(split.encodeRange({ videoId, sourceKey: sourceKey(videoId), range: { index: 3, startSeconds: 12, endSeconds: 16 } }));
    expect(outside.code).toBe(ErrorCode.BAD_USER_INPUT);
    const missing = await failure(split.stitch({ videoId, sourceKey: sourceKey(videoId), ranges: planRanges(5, SEGMENT) }));
    expect(missing).toMatchObject({ code: ErrorCode.TRANSCODE_FAILED, retryable: false });
    expect(missing.message).toContain('Range 0');
    const gap = await failure(split.stitch({ videoId, sourceKey: sourceKey(videoId), ranges: planRanges(5, SEGMENT).slice(1) }));
    expect(gap.code).toBe(ErrorCode.BAD_USER_INPUT);
    expect(await storage.readManifest(outputSetKey(videoId))).toBeNull();
  });
});

describe('split and stitch on S3 (Swift)', () => {
  let bucket: TestBucket;
  let scratchDir: string;

  beforeAll(async () => {
    bucket = await TestBucket.create();
    scratchDir = await mkdtemp(path.join(tmpdir(), 'framelog-split-s3-'));
  });

  afterAll(async () => {
    await bucket?.drop();
    if (scratchDir !== undefined) await rm(scratchDir, { recursive: true, force: true });
  });

  it('stitches ranges stored as objects into a committed set and leaves no range object behind', async () => {
    const s3 = new S3Storage(bucket.client, { bucket: bucket.settings.bucket, prefix: '' }, new Scratch(scratchDir));
    const processor = createSplitMediaProcessor({ storage: s3, limits: TEST_LIMITS, threads: 0 });
    const run = await splitClip(s3, processor, { width: 320, height: 240, durationSeconds: 9, rate: '25' });
    expect(run.encoded.map((each) => each.frames)).toEqual([100, 125]);
    expect(await bucket.keys(`${rangesPrefix(run.videoId)}/`)).not.toEqual([]);

    const download = await s3.readLocal(run.result.renditions[0]!.storageKey);
    try {
      expect(await frameNumbers(download!.path)).toEqual(range(0, 225));
    } finally {
      await download?.release();
    }
    await processor.removeTemps(run.videoId);
    expect(await bucket.keys(`${rangesPrefix(run.videoId)}/`)).toEqual([]);
    expect(await s3.readManifest(outputSetKey(run.videoId))).not.toBeNull();
  }, 120_000);
});

async function failure(promise: Promise<unknown>): Promise<FramelogError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof FramelogError) return error;
    throw error;
  }
  throw new Error('expected a FramelogError');
}

async function readPlaylist(key: string): Promise<ParsedManifest> {
  return parseM3u8(await readFile(local(key), 'utf8'));
}

/** A segment as a player sees it: its init segment followed by the segment's bytes, in one file. */
async function joined(streamDir: string, initUri: string, uri: string): Promise<string> {
  const file = path.join(dir, `${randomUUID()}.mp4`);
  await writeFile(file, Buffer.concat([await readFile(path.join(streamDir, initUri)), await readFile(path.join(streamDir, uri))]));
  return file;
}

/** The first video packet of `file`: its presentation time and whether it is a keyframe. */
async function firstPacket(file: string): Promise<{ seconds: number; keyframe: boolean }> {
  const { stdout } = await exec('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-read_intervals', '%+#1', '-show_entries', 'packet=pts_time,flags', '-of', 'json', file]);
  const packet = (JSON.parse(stdout) as { packets: { pts_time: string; flags: string }[] }).packets[0];
  return { seconds: Number(packet?.pts_time), keyframe: packet?.flags.startsWith('K') ?? false };
}

/** Serves the files under `root` over HTTP with CORS, as /media does, for the player. */
async function serveMedia(root: string): Promise<{ server: Server; url: string }> {
  await mkdir(root, { recursive: true });
  const server = createServer((req, res) => {
    const key = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname).replace(/^\/+/, '');
    readFile(path.join(root, path.normalize(key))).then(
      (body) => res.writeHead(200, { 'content-type': contentTypeOf(key), 'access-control-allow-origin': '*' }).end(body),
      () => res.writeHead(404, { 'access-control-allow-origin': '*' }).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}
