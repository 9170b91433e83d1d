import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ErrorCode, FramelogError } from '../../services/domain/errors.js';
import { MediaInfoSchema, PosterSchema, RenditionSchema } from '../../services/domain/events.js';
import { outputSetKey, POSTER_NAME, renditionName, sourceKey } from '../../services/media/keys.js';
import { planLadder } from '../../services/media/ladder.js';
import { mp4DurationSeconds } from '../../services/media/mp4Duration.js';
import { createMediaProcessor, type ProcessResult } from '../../services/media/processVideo.js';
import { probeMedia, type ProbedMedia } from '../../services/media/probe.js';
import { LocalDiskStorage, type LocalFile, type MediaStorage, type OutputSet } from '../../services/media/storage.js';
import { transcodeRenditions } from '../../services/media/transcode.js';
import { failure } from '../helpers/failure.js';
import {
  ffmpegCli,
  ffprobeJson,
  listFiles,
  makeClip,
  pixelRgb,
  topLevelBoxes,
  type ClipFormat,
  type ClipSpec,
  type ProbeStream,
} from '../helpers/media.js';
import { waitFor } from '../helpers/processes.js';

const exec = promisify(execFile);

const limits = { maxDurationSeconds: 60, maxDimension: 4096, maxStreams: 8 };
let dir: string;
let clips: string;
let storage: LocalDiskStorage;
let processor: ReturnType<typeof createMediaProcessor>;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'framelog-media-'));
  clips = path.join(dir, 'clips');
  await mkdir(clips);
  storage = new LocalDiskStorage(path.join(dir, 'media'));
  processor = createMediaProcessor({ storage, limits, threads: 0 });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Stores a local file as a new video's upload, the way the API does. */
async function upload(file: string): Promise<{ videoId: string; key: string }> {
  const videoId = randomUUID();
  const key = sourceKey(videoId);
  await storage.writeStream(key, createReadStream(file), { maxBytes: 100 * 1024 * 1024 });
  return { videoId, key };
}

async function uploadClip(spec: ClipSpec) {
  return upload(await makeClip(clips, spec));
}

/** Rejects unless `promise` fails with a FramelogError of `code`; returns that error. */
const videoOf = (streams: ProbeStream[]) => streams.find((stream) => stream.codec_type === 'video');
/**
 * Names of the files in the video's committed output set. Fails unless the set's directory holds exactly
 * that one version and its manifest (no other version, no staging left); [] when nothing was committed.
 */
async function outputsOf(videoId: string, on: LocalDiskStorage = storage): Promise<string[]> {
  const setDir = on.localPath(outputSetKey(videoId));
  const manifest = await on.readManifest(outputSetKey(videoId));
  if (manifest === null) return listFiles(setDir);
  const names = manifest.files.map((file) => file.name);
  expect(await listFiles(setDir)).toEqual([...names.map((name) => `${manifest.version}/${name}`), 'manifest.json'].sort());
  return names;
}
/** The downloads and the poster of a set's files: the HLS/DASH packaging (stream/…) is streaming.int.test.ts's. */
const withoutStream = (names: string[]): string[] => names.filter((name) => !name.startsWith('stream/'));

/** The key `name` has in the video's committed output set. */
async function committedKey(videoId: string, name: string): Promise<string> {
  const manifest = await storage.readManifest(outputSetKey(videoId));
  const file = manifest?.files.find((candidate) => candidate.name === name);
  if (file === undefined) throw new Error(`${name} is not in the committed output set of ${videoId}`);
  return file.key;
}
const isRed = ([r, g, b]: [number, number, number]) => r > 180 && g < 80 && b < 80;
/** A failed run leaves nothing, not even the empty directory its temp files were made in. */
async function expectNoOutputDirectory(videoId: string) {
  await expect(stat(storage.localPath(outputSetKey(videoId)))).rejects.toMatchObject({ code: 'ENOENT' });
}
const tempFilesUnder = async (root: string) => (await listFiles(root)).filter((file) => path.basename(file).startsWith('.'));

/** The checks every rendition must pass, whatever the source. */
async function expectWebReady(result: ProcessResult, options: { audio: boolean }) {
  for (const rendition of result.renditions) {
    const file = storage.localPath(rendition.storageKey);
    const probe = await ffprobeJson(file);
    const video = videoOf(probe.streams);
    expect(video, rendition.label).toBeDefined();
    expect(video).toMatchObject({ codec_name: 'h264', profile: 'High', pix_fmt: 'yuv420p' });
    expect([video?.width, video?.height]).toEqual([rendition.width, rendition.height]);
    expect(rendition.width % 2).toBe(0);
    expect(rendition.height % 2).toBe(0);
    // Source aspect kept: the long side is the short side times the source ratio, rounded to even (±1 px),
    // with square pixels so players show exactly that shape.
    const [short, long] = [Math.min(rendition.width, rendition.height), Math.max(rendition.width, rendition.height)];
    const sourceRatio = Math.max(result.media.width, result.media.height) / Math.min(result.media.width, result.media.height);
    expect(Math.abs(long - short * sourceRatio), `${rendition.label} aspect`).toBeLessThanOrEqual(1);
    expect(rendition.width >= rendition.height).toBe(result.media.width >= result.media.height);
    expect(video?.sample_aspect_ratio ?? '1:1').toBe('1:1');
    // Upright pixels, no rotation left for players to apply a second time.
    expect(video?.side_data_list?.some((side) => side.side_data_type === 'Display Matrix' && side.rotation !== 0) ?? false).toBe(false);
    expect(video?.tags?.rotate).toBeUndefined();
    const audio = probe.streams.filter((stream) => stream.codec_type === 'audio');
    expect(audio.map((stream) => stream.codec_name)).toEqual(options.audio ? ['aac'] : []);
    expect(probe.format.format_name).toBe('mov,mp4,m4a,3gp,3g2,mj2');
    // +faststart: the index (moov) precedes the media data (mdat).
    const boxes = await topLevelBoxes(file);
    expect(boxes).toContain('moov');
    expect(boxes.indexOf('moov')).toBeLessThan(boxes.indexOf('mdat'));
    expect(rendition.sizeBytes).toBe((await stat(file)).size);
  }
}

describe('createMediaProcessor().process', () => {
  it('turns an mp4 with audio into H.264/AAC faststart renditions, none taller than the source, and a poster', async () => {
    const { videoId, key } = await uploadClip({ width: 1280, height: 720, durationSeconds: 2, audio: true });
    const progress: number[] = [];
    const result = await processor.process({ videoId, sourceKey: key, onProgress: (percent) => progress.push(percent) });

    // Exactly the shapes the VideoProcessed event carries.
    expect(z.strictObject(MediaInfoSchema.shape).parse(result.media)).toEqual({
      durationSeconds: 2,
      width: 1280,
      height: 720,
      videoCodec: 'h264',
      audioCodec: 'aac',
      frameRate: 25,
      rotation: 0,
      formatName: 'mov,mp4,m4a,3gp,3g2,mj2',
    });
    for (const rendition of result.renditions) z.strictObject(RenditionSchema.shape).parse(rendition);
    expect(result.renditions.map(({ label, width, height, storageKey }) => ({ label, width, height, storageKey }))).toEqual([
      { label: '720p', width: 1280, height: 720, storageKey: await committedKey(videoId, '720p.mp4') },
      { label: '480p', width: 854, height: 480, storageKey: await committedKey(videoId, '480p.mp4') },
      { label: '360p', width: 640, height: 360, storageKey: await committedKey(videoId, '360p.mp4') },
    ]);
    for (const rendition of result.renditions) expect(rendition.height).toBeLessThanOrEqual(720);
    await expectWebReady(result, { audio: true });

    expect(z.strictObject(PosterSchema.shape).parse(result.poster)).toEqual({ storageKey: await committedKey(videoId, POSTER_NAME), width: 1280, height: 720 });
    const posterFile = storage.localPath(await committedKey(videoId, POSTER_NAME));
    const jpeg = await readFile(posterFile);
    expect(jpeg.subarray(0, 3)).toEqual(Buffer.from([0xff, 0xd8, 0xff])); // JPEG SOI marker
    expect(videoOf((await ffprobeJson(posterFile)).streams)).toMatchObject({ codec_name: 'mjpeg', width: 1280, height: 720 });

    const outputs = await outputsOf(videoId);
    expect(withoutStream(outputs)).toEqual(['360p.mp4', '480p.mp4', '720p.mp4', 'poster.jpg']);
    expect(outputs).toEqual(expect.arrayContaining(['stream/master.m3u8', 'stream/manifest.mpd', 'stream/720p.m3u8', 'stream/audio.m3u8']));
    expect(progress.at(-1)).toBe(100);
    expect([...progress].sort((a, b) => a - b)).toEqual(progress);
    // ffmpeg's own reports (transcoding maps to 0-95), not only the final 100.
    expect(progress.some((percent) => percent > 0 && percent <= 95)).toBe(true);
  });

  it('writes no audio stream when the source has none', async () => {
    const { videoId, key } = await uploadClip({ width: 640, height: 360, durationSeconds: 1, audio: false });
    const result = await processor.process({ videoId, sourceKey: key });
    expect(result.media.audioCodec).toBeNull();
    expect(result.renditions.map((rendition) => rendition.label)).toEqual(['360p']);
    await expectWebReady(result, { audio: false });
  });

  it('honours 90° rotation metadata: portrait renditions whose pixels are upright', async () => {
    // Stored landscape 854x480 with its top-left quarter red; displayed rotated 90° clockwise, that
    // quarter must appear at the top-right of a 480x854 portrait frame.
    const { videoId, key } = await uploadClip({ width: 854, height: 480, durationSeconds: 1, rotation: 90, marker: true });
    const result = await processor.process({ videoId, sourceKey: key });
    expect(result.media).toMatchObject({ rotation: 90, width: 480, height: 854 });
    expect(result.renditions.map(({ label, width, height }) => `${label} ${width}x${height}`)).toEqual(['480p 480x854', '360p 360x640']);
    await expectWebReady(result, { audio: false });

    const file = storage.localPath(await committedKey(videoId, renditionName('480p')));
    expect(isRed(await pixelRgb(file, 360, 200)), 'top-right is the stored top-left').toBe(true);
    for (const [x, y] of [[120, 200], [120, 640], [360, 640]] as const) {
      expect(isRed(await pixelRgb(file, x, y)), `pixel ${x},${y}`).toBe(false);
    }
    expect(result.poster).toMatchObject({ width: 480, height: 854 });
    expect(isRed(await pixelRgb(storage.localPath(await committedKey(videoId, POSTER_NAME)), 360, 200))).toBe(true);
  });

  it('gives even dimensions for an odd-sized 853x479 source', async () => {
    const { videoId, key } = await uploadClip({ width: 853, height: 479, durationSeconds: 1 });
    const result = await processor.process({ videoId, sourceKey: key });
    expect(result.media).toMatchObject({ width: 853, height: 479 });
    expect(result.renditions.map(({ label, width, height }) => `${label} ${width}x${height}`)).toEqual(['360p 642x360']);
    await expectWebReady(result, { audio: false });
  });

  it('gives a tiny 160x120 source exactly one rendition at its own size', async () => {
    const { videoId, key } = await uploadClip({ width: 160, height: 120, durationSeconds: 1, audio: true });
    const result = await processor.process({ videoId, sourceKey: key });
    expect(result.renditions.map(({ label, width, height }) => `${label} ${width}x${height}`)).toEqual(['120p 160x120']);
    expect(result.poster).toMatchObject({ width: 160, height: 120 });
    await expectWebReady(result, { audio: true });
  });

  it.each<{ format: ClipFormat; videoCodec: string; audioCodec: string; expect: [string, string, string] }>([
    { format: 'mov', videoCodec: 'libx264', audioCodec: 'aac', expect: ['mov,mp4,m4a,3gp,3g2,mj2', 'h264', 'aac'] },
    { format: 'webm', videoCodec: 'libvpx-vp9', audioCodec: 'libopus', expect: ['matroska,webm', 'vp9', 'opus'] },
    { format: 'mkv', videoCodec: 'libx265', audioCodec: 'aac', expect: ['matroska,webm', 'hevc', 'aac'] },
    { format: 'avi', videoCodec: 'mpeg4', audioCodec: 'libmp3lame', expect: ['avi', 'mpeg4', 'mp3'] },
    { format: 'ts', videoCodec: 'libx264', audioCodec: 'aac', expect: ['mpegts', 'h264', 'aac'] },
    { format: 'flv', videoCodec: 'libx264', audioCodec: 'aac', expect: ['flv', 'h264', 'aac'] },
  ])('accepts $format with $videoCodec and $audioCodec', async ({ format, videoCodec, audioCodec, expect: [formatName, video, audio] }) => {
    const { videoId, key } = await uploadClip({ width: 320, height: 240, durationSeconds: 1, audio: true, format, videoCodec, audioCodec });
    const result = await processor.process({ videoId, sourceKey: key });
    // The input really is what the case names (codecs, not just the container).
    expect(result.media).toMatchObject({ formatName, videoCodec: video, audioCodec: audio, width: 320, height: 240 });
    expect(result.renditions.map(({ label, width, height }) => `${label} ${width}x${height}`)).toEqual(['240p 320x240']);
    await expectWebReady(result, { audio: true });
  });

  it('caps a 4K source at 1080p and produces the whole ladder below it', async () => {
    // A flat picture (marker) and 5 fps keep a 4K clip cheap to make and to decode.
    const { videoId, key } = await uploadClip({ width: 3840, height: 2160, durationSeconds: 1, fps: 5, marker: true });
    const result = await processor.process({ videoId, sourceKey: key });
    expect(result.media).toMatchObject({ width: 3840, height: 2160, videoCodec: 'h264' });
    expect(result.renditions.map(({ label, width, height }) => `${label} ${width}x${height}`)).toEqual([
      '1080p 1920x1080',
      '720p 1280x720',
      '480p 854x480',
      '360p 640x360',
    ]);
    // The poster never needs more than 720p.
    expect(result.poster).toMatchObject({ width: 1280, height: 720 });
    await expectWebReady(result, { audio: false });
  });

  it('keeps the timing of a variable-frame-rate source: same duration, its own frames, never more', async () => {
    // 10 fps for a second, 30 fps for a second, 10 fps again: frames kept by select, timestamps untouched.
    const file = path.join(clips, 'vfr.mp4');
    await ffmpegCli([
      '-f', 'lavfi', '-i', "testsrc2=size=320x240:rate=30:duration=3,select='not(mod(n\\,3))+between(n\\,30\\,59)'",
      '-f', 'lavfi', '-i', 'sine=frequency=440:duration=3',
      '-fps_mode:v', 'vfr', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-f', 'mp4', file,
    ]);
    const source = videoOf((await ffprobeJson(file)).streams);
    // Really variable: the average rate is neither of the two rates the clip switches between.
    expect(source?.avg_frame_rate).not.toMatch(/^(10|30)\/1$/);

    const { videoId, key } = await upload(file);
    const result = await processor.process({ videoId, sourceKey: key });
    expect(result.media.frameRate).toBeGreaterThan(10);
    expect(result.media.frameRate).toBeLessThan(30);
    await expectWebReady(result, { audio: true });
    const rendition = await ffprobeJson(storage.localPath(result.renditions[0]!.storageKey));
    expect(Math.abs(Number(rendition.format.duration) - result.media.durationSeconds)).toBeLessThan(0.15);
    // 10 + 30 + 10 frames: each kept at its own time, none duplicated to make the rate constant.
    expect(Number(videoOf(rendition.streams)?.nb_frames)).toBe(Number(source?.nb_frames));
    expect(Number(source?.nb_frames)).toBe(50);
  });

  it('takes the poster at about 10 % of the duration', async () => {
    // A 10 s clip that is black, red from 0.5 s to 1.5 s, then blue: only a frame near 1 s (10 %) is red.
    const file = path.join(clips, 'timed.mp4');
    await ffmpegCli([
      '-f', 'lavfi', '-i',
      'color=c=black:size=320x240:rate=10:duration=10,' +
        "drawbox=x=0:y=0:w=iw:h=ih:color=red:t=fill:enable='between(t,0.5,1.49)'," +
        "drawbox=x=0:y=0:w=iw:h=ih:color=blue:t=fill:enable='gte(t,1.5)'",
      '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-g', '50', '-f', 'mp4', file,
    ]);
    const { videoId, key } = await upload(file);
    const result = await processor.process({ videoId, sourceKey: key });
    expect(result.poster).toMatchObject({ width: 320, height: 240 });
    const [r, g, b] = await pixelRgb(storage.localPath(await committedKey(videoId, POSTER_NAME)), 160, 120);
    expect(isRed([r, g, b]), `poster colour ${r},${g},${b} is not the red of 0.5-1.5 s`).toBe(true);
  });

  it('passes FFMPEG_THREADS to every ffmpeg run: decoder, filter graph and each encoder', async () => {
    const threaded = createMediaProcessor({ storage, limits, threads: 1 });
    const { videoId, key } = await uploadClip({ width: 854, height: 480, durationSeconds: 2, audio: true });
    // The ffmpeg processes this test process starts, as the kernel sees their arguments.
    const runs = new Map<number, string[]>();
    const sample = async () => {
      const children = await Promise.all(
        (await readdir(`/proc/${process.pid}/task`)).map((task) => readFile(`/proc/${process.pid}/task/${task}/children`, 'utf8').catch(() => '')),
      );
      for (const pid of children.join(' ').split(/\s+/).filter(Boolean).map(Number)) {
        const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
        if (path.basename(args[0] ?? '') === 'ffmpeg' && args.some((arg) => arg.includes(videoId))) runs.set(pid, args);
      }
    };
    let finished = false;
    const job = threaded.process({ videoId, sourceKey: key }).finally(() => {
      finished = true;
    });
    await waitFor(async () => (await sample(), finished), { intervalMs: 5, message: 'the job to finish' });
    await job;

    const commands = [...runs.values()];
    const ladder = commands.find((args) => args.includes('-filter_complex'));
    const poster = commands.find((args) => args.includes('-frames:v'));
    expect(ladder, 'the ladder run was seen').toBeDefined();
    expect(poster, 'the poster run was seen').toBeDefined();
    for (const args of [ladder!, poster!]) {
      const input = args.indexOf('-i');
      const optionValues = (name: string) => args.flatMap((arg, index) => (arg === name ? [{ index, value: args[index + 1] }] : []));
      // Decoder threads come before the input; one more `-threads` per output (its encoder).
      const threads = optionValues('-threads');
      expect(threads.filter(({ index }) => index < input).map(({ value }) => value)).toEqual(['1']);
      const outputs = args.filter((arg, index) => index > input + 1 && arg.startsWith('file:')).length;
      expect(threads.filter(({ index }) => index > input).map(({ value }) => value)).toEqual(Array<string>(outputs).fill('1'));
      expect(optionValues('-filter_threads').map(({ value }) => value)).toEqual(['1']);
      expect(optionValues('-filter_complex_threads').map(({ value }) => value)).toEqual(['1']);
    }
    // 480p, 360p and the audio: three encoders in the ladder run, each with its own -threads.
    expect(ladder!.filter((arg) => arg === '-threads')).toHaveLength(4);
  });

  it('replaces its output set when a video is processed again (one set per video, no duplicates)', async () => {
    const { videoId, key } = await uploadClip({ width: 640, height: 480, durationSeconds: 1 });
    const first = await processor.process({ videoId, sourceKey: key });
    const second = await processor.process({ videoId, sourceKey: key });
    // Same names in the set; new keys (a new version), so a published key never changes its bytes.
    expect(second.renditions.map((rendition) => rendition.label)).toEqual(first.renditions.map((rendition) => rendition.label));
    for (const [index, rendition] of second.renditions.entries()) expect(rendition.storageKey).not.toBe(first.renditions[index]!.storageKey);
    expect(withoutStream(await outputsOf(videoId))).toEqual(['360p.mp4', '480p.mp4', 'poster.jpg']);
    for (const rendition of first.renditions) expect(await storage.stat(rendition.storageKey)).toBeNull();
  });

  it('fails with SOURCE_MISSING (not retryable) when the upload is not in storage', async () => {
    const videoId = randomUUID();
    const error = await failure(processor.process({ videoId, sourceKey: sourceKey(videoId) }), ErrorCode.SOURCE_MISSING);
    expect(error.retryable).toBe(false);
  });
});

describe('refused input: typed, non-retryable, nothing written', () => {
  async function expectRefused(file: string, code: ErrorCode, limitsOverride?: Partial<typeof limits>) {
    const { videoId, key } = await upload(file);
    const strict = limitsOverride ? createMediaProcessor({ storage, limits: { ...limits, ...limitsOverride }, threads: 0 }) : processor;
    const error = await failure(strict.process({ videoId, sourceKey: key }), code);
    expect(error.retryable).toBe(false);
    await expectNoOutputDirectory(videoId);
    expect(await tempFilesUnder(storage.root)).toEqual([]);
    return error;
  }

  /** The first half of `file`, as an upload cut off midway would leave it. */
  async function truncated(file: string): Promise<string> {
    const bytes = await readFile(file);
    const cut = `${file}.cut${path.extname(file)}`;
    await writeFile(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
    return cut;
  }

  it('refuses a truncated MP4 whose index was at the end as MEDIA_CORRUPT', async () => {
    const clip = await makeClip(clips, { width: 320, height: 240, durationSeconds: 4, audio: true });
    const boxes = await topLevelBoxes(clip);
    expect(boxes.indexOf('moov')).toBeGreaterThan(boxes.indexOf('mdat')); // the index really is at the end
    await expectRefused(await truncated(clip), ErrorCode.MEDIA_CORRUPT);
  });

  it('refuses a truncated faststart MP4 (readable header, half the frames) as MEDIA_CORRUPT', async () => {
    const clip = await makeClip(clips, { width: 320, height: 240, durationSeconds: 4, audio: true });
    const faststart = path.join(clips, 'faststart.mp4');
    await ffmpegCli(['-i', clip, '-c', 'copy', '-movflags', '+faststart', '-f', 'mp4', faststart]);
    const cut = await truncated(faststart);
    // ffprobe still believes the header: this is only caught by checking what could be decoded.
    expect(Number((await ffprobeJson(cut)).format.duration)).toBe(4);
    const error = await expectRefused(cut, ErrorCode.MEDIA_CORRUPT);
    expect(error.details).toMatchObject({ durationSeconds: 4 });
    expect(error.details.decodedSeconds).toBeLessThan(3);
  });

  it('refuses an MKV whose middle third is garbage as MEDIA_CORRUPT', async () => {
    const clip = await makeClip(clips, { width: 320, height: 240, durationSeconds: 4, format: 'mkv' });
    const bytes = await readFile(clip);
    const third = Math.floor(bytes.length / 3);
    randomBytes(third).copy(bytes, third);
    const damaged = path.join(clips, 'damaged.mkv');
    await writeFile(damaged, bytes);
    await expectRefused(damaged, ErrorCode.MEDIA_CORRUPT);
  });

  it('refuses an empty stored source with UPLOAD_EMPTY (the API already refuses empty uploads)', async () => {
    const videoId = randomUUID();
    const key = sourceKey(videoId);
    await mkdir(path.dirname(storage.localPath(key)), { recursive: true });
    await writeFile(storage.localPath(key), '');
    const error = await failure(processor.process({ videoId, sourceKey: key }), ErrorCode.UPLOAD_EMPTY);
    expect(error.retryable).toBe(false);
    await expectNoOutputDirectory(videoId);
  });

  it('refuses videos beyond the duration and dimension limits, each with its own code', async () => {
    const long = await makeClip(clips, { width: 320, height: 240, durationSeconds: 3 });
    const durationError = await expectRefused(long, ErrorCode.DURATION_LIMIT, { maxDurationSeconds: 2 });
    expect(durationError.details).toMatchObject({ durationSeconds: 3, maxDurationSeconds: 2 });
    const wide = await makeClip(clips, { width: 1280, height: 240, durationSeconds: 1 });
    const dimensionError = await expectRefused(wide, ErrorCode.DIMENSION_LIMIT, { maxDimension: 1000 });
    expect(dimensionError.details).toMatchObject({ width: 1280, height: 240, maxDimension: 1000 });
    // Portrait by rotation: the limit applies to the displayed size as well.
    const tall = await makeClip(clips, { width: 1280, height: 240, durationSeconds: 1, rotation: 90 });
    await expectRefused(tall, ErrorCode.DIMENSION_LIMIT, { maxDimension: 1000 });
  });

  it('refuses a text file renamed .mp4 as NOT_A_VIDEO', async () => {
    const file = path.join(clips, 'notes.mp4');
    await writeFile(file, 'Meeting notes\nnothing to see here\n'.repeat(50));
    await expectRefused(file, ErrorCode.NOT_A_VIDEO);
  });

  it('refuses audio only as NO_VIDEO_STREAM, also when it carries cover art', async () => {
    const song = path.join(clips, 'song.m4a');
    await ffmpegCli(['-f', 'lavfi', '-i', 'sine=frequency=440:duration=1', '-c:a', 'aac', '-f', 'mp4', song]);
    await expectRefused(song, ErrorCode.NO_VIDEO_STREAM);

    const cover = path.join(clips, 'cover.png');
    await ffmpegCli(['-f', 'lavfi', '-i', 'color=c=green:size=64x64', '-frames:v', '1', cover]);
    const withArt = path.join(clips, 'song-with-art.m4a');
    await ffmpegCli(['-i', song, '-i', cover, '-map', '0', '-map', '1', '-c', 'copy', '-disposition:v:0', 'attached_pic', '-f', 'mp4', withArt]);
    expect((await ffprobeJson(withArt)).streams.some((stream) => stream.disposition?.attached_pic === 1)).toBe(true);
    await expectRefused(withArt, ErrorCode.NO_VIDEO_STREAM);
  });

  it('refuses a still image as UNSUPPORTED_FORMAT', async () => {
    const image = path.join(clips, 'photo.mp4');
    await ffmpegCli(['-f', 'lavfi', '-i', 'testsrc2=size=320x240', '-frames:v', '1', '-f', 'image2', '-c:v', 'png', image]);
    await expectRefused(image, ErrorCode.UNSUPPORTED_FORMAT);
  });

  /**
   * A playlist saved as the upload, referencing `segment.ts` beside it. First, with a real segment, plain
   * ffprobe (no whitelists) follows the reference and describes the segment's video: the attack works.
   * Then the segment is replaced by a FIFO with no writer: opening it for reading blocks forever, so
   * our probe returning a refusal at all proves it never opened the referenced file.
   */
  async function expectReferenceNeverOpened(playlist: string, plainFormatName: string) {
    const { videoId, key } = await upload(playlist);
    const segment = path.join(path.dirname(storage.localPath(key)), 'segment.ts');
    await ffmpegCli(['-f', 'lavfi', '-i', 'testsrc2=size=160x120:duration=1', '-c:v', 'libx264', '-preset', 'ultrafast', '-f', 'mpegts', segment]);
    const plain = JSON.parse(
      (await exec('ffprobe', ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', storage.localPath(key)])).stdout,
    ) as { format: { format_name: string }; streams: ProbeStream[] };
    expect(plain.format.format_name).toBe(plainFormatName);
    expect(videoOf(plain.streams)).toMatchObject({ codec_name: 'h264', width: 160 });

    await rm(segment);
    await exec('mkfifo', [segment]);
    // A short probe timeout turns a regression (ffprobe blocked on the FIFO) into JOB_TIMEOUT, not a hang.
    const probe = probeMedia(storage.localPath(key), limits, { timeoutMs: 10_000 });
    await failure(probe, ErrorCode.UNSUPPORTED_FORMAT);
    const error = await failure(processor.process({ videoId, sourceKey: key }), ErrorCode.UNSUPPORTED_FORMAT);
    expect(error.retryable).toBe(false);
    expect(await outputsOf(videoId)).toEqual([]);
  }

  it('refuses an HLS playlist disguised as .mp4 without reading the segment it references', async () => {
    const playlist = path.join(clips, 'playlist.mp4');
    await writeFile(playlist, '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\nsegment.ts\n#EXT-X-ENDLIST\n');
    await expectReferenceNeverOpened(playlist, 'hls');
  });

  it('refuses an ffconcat script disguised as .mp4 without reading the file it references', async () => {
    const script = path.join(clips, 'concat.mp4');
    await writeFile(script, 'ffconcat version 1.0\nfile segment.ts\n');
    await expectReferenceNeverOpened(script, 'concat');
  });

  it('enforces the duration, dimension and stream-count limits', async () => {
    const clip = await makeClip(clips, { width: 640, height: 360, durationSeconds: 3, audio: true });
    await failure(probeMedia(clip, { ...limits, maxDurationSeconds: 2 }), ErrorCode.DURATION_LIMIT);
    await failure(probeMedia(clip, { ...limits, maxDimension: 400 }), ErrorCode.DIMENSION_LIMIT);
    await failure(probeMedia(clip, { ...limits, maxStreams: 1 }), ErrorCode.TOO_MANY_STREAMS);
    await expect(probeMedia(clip, { maxDurationSeconds: 3, maxDimension: 640, maxStreams: 2 })).resolves.toMatchObject({
      durationSeconds: 3,
      width: 640,
      height: 360,
      hasAudio: true,
    });
  });

  it('cannot be fooled by a tag that forges ffprobe output lines', async () => {
    // ffprobe's default key=value output (what fluent-ffmpeg parses) prints tag values raw, so this title
    // adds a second "duration=1" line to the format section. The JSON we parse escapes it.
    const plain = await makeClip(clips, { width: 320, height: 240, durationSeconds: 3, format: 'mkv' });
    const forged = path.join(clips, 'forged.mkv');
    await ffmpegCli(['-i', plain, '-c', 'copy', '-metadata', 'title=x\nduration=1.000000\nnb_streams=1', '-f', 'matroska', forged]);
    const { stdout } = await exec('ffprobe', ['-v', 'error', '-show_format', forged]);
    expect(stdout).toMatch(/^duration=1\.000000$/m);

    await failure(probeMedia(forged, { ...limits, maxDurationSeconds: 2 }), ErrorCode.DURATION_LIMIT);
  });
});

describe('timeouts and aborts: ffmpeg killed, no temp files left', () => {
  let long: { videoId: string; key: string; media: ProbedMedia };

  beforeAll(async () => {
    const uploaded = await uploadClip({ width: 1280, height: 720, durationSeconds: 10, audio: true });
    long = { ...uploaded, media: await probeMedia(storage.localPath(uploaded.key), limits) };
  });

  /** transcodeRenditions into the video's output set, aborting the set on failure as the processor does. */
  async function transcode(options: { timeoutMs: number; signal?: AbortSignal; onProgress?: (percent: number) => void }) {
    const outputs = await storage.openOutputSet(outputSetKey(long.videoId));
    try {
      return await transcodeRenditions(
        { outputs, sourcePath: storage.localPath(long.key), media: long.media, plan: planLadder(long.media) },
        { threads: 0, ...options },
      );
    } finally {
      await outputs.abort();
    }
  }

  it('kills ffmpeg at the wall-clock timeout and fails with retryable JOB_TIMEOUT', async () => {
    // The 10 s 720p ladder takes several seconds; 500 ms cannot be enough.
    const error = await failure(transcode({ timeoutMs: 500 }), ErrorCode.JOB_TIMEOUT);
    expect(error.retryable).toBe(true);
    await expectNoOutputDirectory(long.videoId);
    expect(await tempFilesUnder(storage.root)).toEqual([]);
  });

  it('times out as a whole job through the processor as well', async () => {
    const quick = createMediaProcessor({ storage, limits, threads: 0, timeoutMs: 1 });
    const error = await failure(quick.process({ videoId: long.videoId, sourceKey: long.key }), ErrorCode.JOB_TIMEOUT);
    expect(error.retryable).toBe(true);
    await expectNoOutputDirectory(long.videoId);
    expect(await tempFilesUnder(storage.root)).toEqual([]);
  });

  it('scales the job budget with the duration, below the configured timeout', async () => {
    // Configured 20 min, but 1 ms per second of video: the 10 s clip gets a 10 ms budget and times out.
    const scaled = createMediaProcessor({ storage, limits, threads: 0, timeoutMs: 20 * 60_000, budget: { minMs: 1, perMediaSecondMs: 1 } });
    const error = await failure(scaled.process({ videoId: long.videoId, sourceKey: long.key }), ErrorCode.JOB_TIMEOUT);
    expect(error.details.timeoutMs).toBeLessThanOrEqual(10);
    await expectNoOutputDirectory(long.videoId);
    expect(await tempFilesUnder(storage.root)).toEqual([]);
  });

  it('kills ffmpeg mid-run when the signal aborts and rejects with an AbortError', async () => {
    const controller = new AbortController();
    let progressCalls = 0;
    const error: unknown = await transcode({
      timeoutMs: 60_000,
      signal: controller.signal,
      // The first progress report proves ffmpeg is running; abort right then.
      onProgress: () => {
        progressCalls += 1;
        controller.abort();
      },
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).name).toBe('AbortError');
    expect(progressCalls).toBe(1);
    await expectNoOutputDirectory(long.videoId);
    expect(await tempFilesUnder(storage.root)).toEqual([]);
  });

  it('does not start at all when the signal is already aborted', async () => {
    const error: unknown = await processor
      .process({ videoId: long.videoId, sourceKey: long.key, signal: AbortSignal.abort() })
      .catch((caught: unknown) => caught);
    expect((error as Error).name).toBe('AbortError');
    expect(await outputsOf(long.videoId)).toEqual([]);
  });
});

/**
 * A MediaStorage whose objects are NOT local files, the way an S3-compatible backend works: objects live
 * in a "bucket" (here another LocalDiskStorage the processor never sees), readLocal downloads a copy into
 * a working directory, and an output set's files are produced there and uploaded on commit. If the media
 * code built paths from keys or read the bucket behind the interface's back, processing through this
 * would fail.
 */
class CopyingStorage implements MediaStorage {
  constructor(
    readonly bucket: LocalDiskStorage,
    readonly workDir: string,
  ) {}

  writeStream: MediaStorage['writeStream'] = (key, source, options) => this.bucket.writeStream(key, source, options);
  readManifest: MediaStorage['readManifest'] = (setKey) => this.bucket.readManifest(setKey);
  read: MediaStorage['read'] = (key, range) => this.bucket.read(key, range);
  remove = (key: string) => this.bucket.remove(key);
  removePrefix = (prefix: string) => this.bucket.removePrefix(prefix);
  exists = (key: string) => this.bucket.exists(key);
  stat = (key: string) => this.bucket.stat(key);
  removeUnfinished = (setKey: string) => this.bucket.removeUnfinished(setKey);

  async readLocal(key: string): Promise<LocalFile | null> {
    const stored = await this.bucket.stat(key);
    if (stored === null) return null;
    const copy = path.join(this.workDir, `download-${randomUUID()}`);
    await pipeline(createReadStream(this.bucket.localPath(key)), createWriteStream(copy));
    return { path: copy, sizeBytes: stored.sizeBytes, release: () => rm(copy, { force: true }) };
  }

  async openOutputSet(setKey: string): Promise<OutputSet> {
    const remote = await this.bucket.openOutputSet(setKey);
    const scratch = path.join(this.workDir, `set-${randomUUID()}`);
    const local = (name: string) => {
      remote.keyOf(name); // validates the name, as every backend must before it touches a path
      return path.join(scratch, name);
    };
    const upload = async () => {
      for (const name of await listFiles(scratch)) await remote.writeFile(name, createReadStream(path.join(scratch, name)));
    };
    return {
      setKey,
      version: remote.version,
      keyOf: (name) => remote.keyOf(name),
      localPath: async (name) => {
        await mkdir(path.dirname(local(name)), { recursive: true });
        return local(name);
      },
      localDir: async (name) => {
        await mkdir(local(name), { recursive: true });
        return local(name);
      },
      writeFile: (name, body) => remote.writeFile(name, body),
      commit: async () => {
        try {
          await upload();
          return await remote.commit();
        } finally {
          await rm(scratch, { recursive: true, force: true });
        }
      },
      abort: async () => {
        await rm(scratch, { recursive: true, force: true });
        await remote.abort();
      },
    };
  }
}

describe('storage behind the MediaStorage interface', () => {
  it('processes through a storage whose objects are not local files (as S3 would be), leaving no local copies', async () => {
    const bucket = new LocalDiskStorage(path.join(dir, 'bucket'));
    const workDir = path.join(dir, 'work');
    await mkdir(workDir);
    const remote = new CopyingStorage(bucket, workDir);
    const remoteProcessor = createMediaProcessor({ storage: remote, limits, threads: 0 });

    const videoId = randomUUID();
    const key = sourceKey(videoId);
    await remote.writeStream(key, createReadStream(await makeClip(clips, { width: 640, height: 360, durationSeconds: 1, audio: true })), { maxBytes: 10 * 1024 * 1024 });
    const result = await remoteProcessor.process({ videoId, sourceKey: key });
    expect(withoutStream(await outputsOf(videoId, bucket))).toEqual(['360p.mp4', 'poster.jpg']);
    for (const rendition of result.renditions) expect(await bucket.stat(rendition.storageKey)).toMatchObject({ sizeBytes: rendition.sizeBytes });
    expect(await readdir(workDir)).toEqual([]);

    // A failing run cleans up its downloads and temp files just the same.
    const broken = randomUUID();
    await remote.writeStream(sourceKey(broken), Readable.from([Buffer.from('not a video at all')]), { maxBytes: 1024 });
    await failure(remoteProcessor.process({ videoId: broken, sourceKey: sourceKey(broken) }), ErrorCode.NOT_A_VIDEO);
    expect(await readdir(workDir)).toEqual([]);
  });

  it("leaves what other runs left alone (one may still be writing); removeTemps, once the video is terminal, removes it", async () => {
    const { videoId, key } = await uploadClip({ width: 320, height: 240, durationSeconds: 1 });
    // What another run leaves: an output set not committed (yet, or ever: a SIGKILLed worker's).
    const other = await storage.openOutputSet(outputSetKey(videoId));
    const half = await other.localPath(renditionName('240p'));
    await writeFile(half, 'half a rendition');
    await processor.process({ videoId, sourceKey: key });
    // Committed beside the other run's staging (outputsOf, which wants no staging left, comes after removeTemps).
    const committed = await storage.readManifest(outputSetKey(videoId));
    expect(withoutStream(committed?.files.map((file) => file.name) ?? [])).toEqual(['240p.mp4', 'poster.jpg']);
    expect(await readFile(half, 'utf8')).toBe('half a rendition');
    await processor.removeTemps(videoId);
    await expect(stat(half)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(withoutStream(await outputsOf(videoId))).toEqual(['240p.mp4', 'poster.jpg']);

    // Also when the video failed, and then not even the directory stays.
    await storage.removePrefix(outputSetKey(videoId));
    const killed = await storage.openOutputSet(outputSetKey(videoId));
    await writeFile(await killed.localPath(renditionName('240p')), 'half a rendition');
    await storage.remove(key);
    await storage.writeStream(key, Readable.from([Buffer.from('no longer a video')]), { maxBytes: 1024 });
    await failure(processor.process({ videoId, sourceKey: key }), ErrorCode.NOT_A_VIDEO);
    await processor.removeTemps(videoId);
    await expectNoOutputDirectory(videoId);
  });
});

describe('mp4DurationSeconds', () => {
  it('reads the duration ffprobe reports, whether the index comes first (faststart) or last', async () => {
    const clip = await makeClip(clips, { width: 320, height: 240, durationSeconds: 3, audio: true, fps: 24 });
    const faststart = path.join(clips, 'duration-faststart.mp4');
    await ffmpegCli(['-i', clip, '-c', 'copy', '-movflags', '+faststart', '-f', 'mp4', faststart]);
    expect((await topLevelBoxes(clip)).indexOf('moov')).toBeGreaterThan((await topLevelBoxes(clip)).indexOf('mdat'));
    for (const file of [clip, faststart]) {
      const duration = await mp4DurationSeconds(file);
      expect(duration).toBeCloseTo(Number((await ffprobeJson(file)).format.duration), 3);
      expect(duration).toBeCloseTo(3, 1);
    }
  });

  /** An ISO-BMFF box: 32-bit size and type, or size 1 and a 64-bit size after the type. */
  const box = (type: string, content: Buffer, options: { largeSize?: boolean } = {}): Buffer => {
    if (options.largeSize) {
      const header = Buffer.alloc(16);
      header.writeUInt32BE(1, 0);
      header.write(type, 4, 'latin1');
      header.writeBigUInt64BE(BigInt(16 + content.length), 8);
      return Buffer.concat([header, content]);
    }
    const header = Buffer.alloc(8);
    header.writeUInt32BE(8 + content.length, 0);
    header.write(type, 4, 'latin1');
    return Buffer.concat([header, content]);
  };
  const mvhd = (version: 0 | 1, timescale: number, duration: bigint): Buffer => {
    const content = Buffer.alloc(version === 1 ? 108 : 96);
    content.writeUInt8(version, 0);
    if (version === 1) {
      content.writeUInt32BE(timescale, 20);
      content.writeBigUInt64BE(duration, 24);
    } else {
      content.writeUInt32BE(timescale, 12);
      content.writeUInt32BE(Number(duration), 16);
    }
    return box('mvhd', content);
  };
  const durationOf = async (...boxes: Buffer[]) => {
    const file = path.join(clips, `boxes-${randomUUID()}.mp4`);
    await writeFile(file, Buffer.concat(boxes));
    return mp4DurationSeconds(file);
  };
  const ftyp = box('ftyp', Buffer.from('isom\0\0\x02\0isomiso2avc1mp41', 'latin1'));

  it('reads 32- and 64-bit headers and box sizes, past other boxes', async () => {
    expect(await durationOf(ftyp, box('free', Buffer.alloc(10)), box('moov', Buffer.concat([mvhd(0, 1000, 2500n), box('trak', Buffer.alloc(40))])))).toBe(2.5);
    expect(await durationOf(ftyp, box('mdat', Buffer.alloc(100), { largeSize: true }), box('moov', mvhd(1, 90_000, 2n ** 33n)))).toBeCloseTo(2 ** 33 / 90_000);
  });

  it('is null without a movie header, with an unknown duration, or when a box runs past the end', async () => {
    expect(await durationOf(ftyp, box('mdat', Buffer.alloc(100)))).toBeNull();
    expect(await durationOf(ftyp, box('moov', box('trak', Buffer.alloc(40))))).toBeNull();
    expect(await durationOf(ftyp, box('moov', mvhd(0, 1000, 0xffff_ffffn)))).toBeNull();
    expect(await durationOf(ftyp, box('moov', mvhd(1, 1000, 2n ** 64n - 1n)))).toBeNull();
    expect(await durationOf(ftyp, box('moov', mvhd(0, 0, 100n)))).toBeNull();
    expect(await durationOf(ftyp, box('moov', mvhd(0, 1000, 2500n)).subarray(0, 40))).toBeNull();
  });
});

describe('LocalDiskStorage', () => {
  const key = () => `uploads/${randomUUID()}/source`;

  /** A source that never ends by itself, counting what it produced. */
  function endless(chunkBytes: number) {
    const state = { produced: 0 };
    const stream = new Readable({
      read() {
        state.produced += chunkBytes;
        this.push(Buffer.alloc(chunkBytes, 1));
      },
    });
    return { stream, state };
  }

  it('streams to the key and reports the size and sha256 of the bytes', async () => {
    const k = key();
    const bytes = Buffer.from('framelog'.repeat(10_000));
    const written = await storage.writeStream(k, Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)]), { maxBytes: bytes.length });
    const sha256 = (await exec('sha256sum', [storage.localPath(k)])).stdout.split(' ')[0];
    expect(written).toEqual({ sizeBytes: bytes.length, sha256 });
    expect(await readFile(storage.localPath(k))).toEqual(bytes);
    expect(await storage.stat(k)).toMatchObject({ sizeBytes: bytes.length });
    expect(await tempFilesUnder(path.dirname(storage.localPath(k)))).toEqual([]);
  });

  it('stops reading as soon as more than maxBytes arrive: UPLOAD_TOO_LARGE, nothing left', async () => {
    const k = key();
    const { stream, state } = endless(64 * 1024);
    const maxBytes = 1024 * 1024;
    await failure(storage.writeStream(k, stream, { maxBytes }), ErrorCode.UPLOAD_TOO_LARGE);
    expect(stream.destroyed).toBe(true);
    // The source never ends by itself, so finishing at all proves the abort; read-ahead stays small.
    expect(state.produced).toBeLessThan(maxBytes + 4 * 64 * 1024);
    expect(await storage.exists(k)).toBe(false);
    // Not even the upload's own directory is left behind.
    await expect(stat(path.dirname(storage.localPath(k)))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses an empty upload with UPLOAD_EMPTY and leaves nothing', async () => {
    const k = key();
    await failure(storage.writeStream(k, Readable.from([]), { maxBytes: 10 }), ErrorCode.UPLOAD_EMPTY);
    await expect(stat(path.dirname(storage.localPath(k)))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses a source that fails midway with UPLOAD_FAILED, naming the cause, and leaves nothing', async () => {
    const k = key();
    let sent = false;
    const failing = new Readable({
      read() {
        if (sent) this.destroy(new Error('client went away'));
        else this.push(Buffer.alloc(1000));
        sent = true;
      },
    });
    const error = await failure(storage.writeStream(k, failing, { maxBytes: 10_000 }), ErrorCode.UPLOAD_FAILED);
    expect(error.retryable).toBe(true);
    expect(error.message).toContain('client went away');
    await expect(stat(path.dirname(storage.localPath(k)))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('leaves nothing when the source fails after part of the file was already written back to disk', async () => {
    const k = key();
    // Past two write-backs (every 64 MiB), so one may still be in flight when the write stream closes.
    const failAfter = 150 * 1024 * 1024;
    let produced = 0;
    const failing = new Readable({
      read() {
        if (produced >= failAfter) this.destroy(new Error('client went away'));
        else this.push(Buffer.alloc(1024 * 1024, 3));
        produced += 1024 * 1024;
      },
    });
    expect((await failure(storage.writeStream(k, failing, { maxBytes: 1024 ** 3 }), ErrorCode.UPLOAD_FAILED)).message).toContain('client went away');
    await expect(stat(path.dirname(storage.localPath(k)))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('streams 1 GiB with bounded memory', async () => {
    const k = key();
    const total = 1024 ** 3;
    const chunk = 1024 * 1024;
    let produced = 0;
    let peakRss = 0;
    const before = process.memoryUsage().rss;
    const source = new Readable({
      read() {
        peakRss = Math.max(peakRss, process.memoryUsage().rss);
        if (produced >= total) {
          this.push(null);
          return;
        }
        produced += chunk;
        this.push(Buffer.alloc(chunk, produced % 251)); // a fresh buffer each time, as a socket gives
      },
    });
    const written = await storage.writeStream(k, source, { maxBytes: total });
    expect(written.sizeBytes).toBe(total);
    // Buffering the upload would grow RSS by ~1 GiB; streaming stays within a few chunks plus GC slack.
    expect(peakRss - before).toBeLessThan(200 * 1024 * 1024);
    await storage.remove(k);
    expect(await storage.exists(k)).toBe(false);
  }, 120_000);

  it('refuses keys that could leave the media root, before touching the disk', async () => {
    const outside = path.join(dir, 'outside.txt');
    const attempts = ['../outside.txt', '/etc/passwd', 'uploads/../../outside.txt', 'uploads//x', '', 'uploads/.hidden'];
    for (const bad of attempts) {
      const source = Readable.from([Buffer.from('x')]);
      await failure(storage.writeStream(bad, source, { maxBytes: 10 }), ErrorCode.BAD_USER_INPUT);
      expect(source.destroyed).toBe(true);
      expect(() => storage.localPath(bad)).toThrow(FramelogError);
      await failure(storage.openOutputSet(bad), ErrorCode.BAD_USER_INPUT);
      await failure(storage.stat(bad), ErrorCode.BAD_USER_INPUT);
      await failure(storage.read(bad), ErrorCode.BAD_USER_INPUT);
      await failure(storage.remove(bad), ErrorCode.BAD_USER_INPUT);
      await failure(storage.removePrefix(bad), ErrorCode.BAD_USER_INPUT);
      await failure(storage.exists(bad), ErrorCode.BAD_USER_INPUT);
    }
    await expect(stat(outside)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
