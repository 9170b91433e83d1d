import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ErrorCode, FramelogError } from '../../services/domain/errors.js';
import { sourceKey } from '../../services/media/keys.js';
import type { ProcessResult } from '../../services/media/processVideo.js';
import { useScratchMedia } from '../helpers/scratchMedia.js';
import { ffprobeJson, type ProbeStream } from '../helpers/media.js';
import {
  fragmentedUnknownDuration,
  hdrHevc,
  highFrameRate,
  INTERLACED_TRUTH,
  interlacedTff,
  leadingEmptyEdit,
  longerSecondAudio,
  otherContainer,
  subtitleOutlastsVideo,
  tsTimestampDiscontinuity,
  undecodableTrack,
  vfrScreenRecording,
  webmWithoutDuration,
} from '../helpers/mediaCases.js';

/**
 * The media cases of ../shared/cases/README.md (m01-m14 and the two kinds without a file), each made at
 * test time (helpers/mediaCases.ts) and run through the whole media processor.
 */

const exec = promisify(execFile);
const scratch = useScratchMedia('framelog-media-cases-');

const clips = () => path.join(scratch.dir, 'clips');

async function processFile(file: string): Promise<{ videoId: string; result: ProcessResult }> {
  const videoId = randomUUID();
  await scratch.storage.writeStream(sourceKey(videoId), createReadStream(file), { maxBytes: 100 * 1024 * 1024 });
  return { videoId, result: await scratch.processor.process({ videoId, sourceKey: sourceKey(videoId) }) };
}

async function refusal(file: string): Promise<FramelogError> {
  const videoId = randomUUID();
  await scratch.storage.writeStream(sourceKey(videoId), createReadStream(file), { maxBytes: 100 * 1024 * 1024 });
  const error: unknown = await scratch.processor.process({ videoId, sourceKey: sourceKey(videoId) }).then(() => null, (caught: unknown) => caught);
  expect(error, 'expected a refusal').toBeInstanceOf(FramelogError);
  return error as FramelogError;
}

interface RenditionFacts {
  label: string;
  seconds: number;
  frames: number;
  video: ProbeStream;
  audioCodecs: string[];
}

async function renditionFacts(result: ProcessResult): Promise<RenditionFacts[]> {
  return Promise.all(
    result.renditions.map(async (rendition) => {
      const probe = await ffprobeJson(scratch.storage.localPath(rendition.storageKey));
      const video = probe.streams.find((stream) => stream.codec_type === 'video');
      if (video === undefined) throw new Error(`${rendition.label} has no video`);
      return {
        label: rendition.label,
        seconds: Number(probe.format.duration),
        frames: Number(video.nb_frames),
        video,
        audioCodecs: probe.streams.filter((stream) => stream.codec_type === 'audio').map((stream) => stream.codec_name ?? ''),
      };
    }),
  );
}

/** PROCESSED with `seconds` of content: media.durationSeconds and every rendition within 0.1 s of it. */
async function expectContent(result: ProcessResult, seconds: number): Promise<RenditionFacts[]> {
  expect(Math.abs(result.media.durationSeconds - seconds), `durationSeconds ${result.media.durationSeconds}`).toBeLessThan(0.1);
  const facts = await renditionFacts(result);
  expect(facts.length).toBeGreaterThan(0);
  for (const rendition of facts) expect(Math.abs(rendition.seconds - seconds), `${rendition.label} lasts ${rendition.seconds} s`).toBeLessThan(0.1);
  return facts;
}

describe('lengths come from the streams that are output, not from the container header', () => {
  it('m01: a fragmented MP4 whose header durations say "unknown" is processed at its real length', async () => {
    const file = await fragmentedUnknownDuration(clips(), 3);
    expect(Number((await ffprobeJson(file)).format.duration)).toBeGreaterThan(10_000); // what the header claims
    const { result } = await processFile(file);
    const facts = await expectContent(result, 3);
    for (const rendition of facts) expect(rendition.audioCodecs).toEqual(['aac']);
  });

  it('m02: a subtitle cue that outlasts the video does not count toward the length', async () => {
    const file = await subtitleOutlastsVideo(clips(), 2);
    expect(Number((await ffprobeJson(file)).format.duration)).toBe(12);
    await expectContent((await processFile(file)).result, 2);
  });

  it('m03: a WebM without a Duration element (MediaRecorder) is measured from its packets', async () => {
    const file = await webmWithoutDuration(clips(), 2);
    expect((await ffprobeJson(file)).format.duration).toBeUndefined();
    const { result } = await processFile(file);
    expect(result.media).toMatchObject({ videoCodec: 'vp8', audioCodec: 'opus' });
    await expectContent(result, 2);
  });

  it('m04: an MPEG-TS whose timestamps jump 1000 s between two recordings holds only their content', async () => {
    const file = await tsTimestampDiscontinuity(clips(), 2, false);
    expect(Number((await ffprobeJson(file)).format.duration)).toBeGreaterThan(1000);
    await expectContent((await processFile(file)).result, 4);
  });

  it('m05: an MPEG-TS whose timestamps restart: durationSeconds says what was produced', async () => {
    const file = await tsTimestampDiscontinuity(clips(), 2, true);
    expect(Number((await ffprobeJson(file)).format.duration)).toBeLessThan(2.2);
    await expectContent((await processFile(file)).result, 4);
  });

  it('m11: the default audio track is kept and a longer non-default commentary track does not count', async () => {
    const file = await longerSecondAudio(clips(), 2);
    expect(Number((await ffprobeJson(file)).format.duration)).toBeGreaterThan(3.9);
    const { result } = await processFile(file);
    expect(result.media.audioCodec).toBe('aac');
    const facts = await expectContent(result, 2);
    for (const rendition of facts) expect(rendition.audioCodecs).toEqual(['aac']);
  });

  it('a leading empty edit in an MP4 does not count toward the length', async () => {
    const file = await leadingEmptyEdit(clips(), 2, 1);
    expect(Number((await ffprobeJson(file)).format.duration)).toBe(3);
    await expectContent((await processFile(file)).result, 2);
  });

  it('still refuses a Matroska file cut off midway (its header states more than its packets hold) as MEDIA_CORRUPT', async () => {
    const file = await subtitleOutlastsVideo(clips(), 4);
    const bytes = await readFile(file);
    const cut = path.join(clips(), 'cut.mkv');
    await writeFile(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const error = await refusal(cut);
    expect(error.code, error.message).toBe(ErrorCode.MEDIA_CORRUPT);
    expect(error.retryable).toBe(false);
  });
});

/** Mean luma (Y, 8-bit limited range) and saturation of an image's first frame, by ffmpeg's signalstats. */
async function lumaAndSaturation(file: string, filters: string[] = [], seekSeconds = 0): Promise<{ luma: number; saturation: number }> {
  const graph = [...filters, 'scale=out_range=tv', 'format=yuv420p', 'signalstats', 'metadata=print:file=-'].join(',');
  const seek = seekSeconds > 0 ? ['-ss', String(seekSeconds)] : [];
  const { stdout } = await exec('ffmpeg', ['-v', 'error', '-nostdin', ...seek, '-i', file, '-frames:v', '1', '-vf', graph, '-f', 'null', '-']);
  const value = (key: string) => Number(new RegExp(`${key}=([\\d.]+)`).exec(stdout)?.[1] ?? NaN);
  return { luma: value('YAVG'), saturation: value('SATAVG') };
}

/** The textbook zscale + Hable tone-map of a PQ/HLG frame to BT.709, written independently of the code under test. */
const REFERENCE_TONE_MAP = ['zscale=t=linear:npl=100', 'format=gbrpf32le', 'zscale=p=bt709', 'tonemap=tonemap=hable:desat=0', 'zscale=t=bt709:m=bt709:r=tv', 'format=yuv420p'];

describe('HDR sources become SDR BT.709', () => {
  it.each(['pq', 'hlg'] as const)('m06/m07: %s HEVC: renditions tagged BT.709, a poster that looks like the tone-mapped frame', async (transfer) => {
    const file = await hdrHevc(clips(), transfer, 1);
    const { result } = await processFile(file);
    const facts = await expectContent(result, 1);
    for (const { video } of facts) {
      expect(video).toMatchObject({ pix_fmt: 'yuv420p', color_transfer: 'bt709', color_primaries: 'bt709', color_space: 'bt709' });
    }

    // The source frame at the poster's position (10 % of 1 s), tone-mapped by the reference, and left as is.
    const reference = await lumaAndSaturation(file, REFERENCE_TONE_MAP, 0.1);
    const untouched = await lumaAndSaturation(file, [], 0.1);
    const poster = await lumaAndSaturation(scratch.storage.localPath(result.poster!.storageKey));
    const tolerance = { luma: 8, saturation: 15 };
    expect(Math.abs(poster.luma - reference.luma), `poster ${JSON.stringify(poster)} vs ${JSON.stringify(reference)}`).toBeLessThan(tolerance.luma);
    expect(Math.abs(poster.saturation - reference.saturation)).toBeLessThan(tolerance.saturation);
    // The test tells the two apart: the frame without tone-mapping (what posters were) is outside the tolerance.
    expect(Math.abs(untouched.luma - reference.luma) > tolerance.luma || Math.abs(untouched.saturation - reference.saturation) > tolerance.saturation).toBe(true);
  });
});

describe('interlaced and frame rates', () => {
  it('m08: interlaced TFF MPEG-2 is deinterlaced: each rendition frame within 35 dB PSNR of the true progressive frame', async () => {
    const file = await interlacedTff(clips(), 1);
    expect(videoOf((await ffprobeJson(file)).streams)?.field_order).toBe('tt');
    const { result } = await processFile(file);
    await expectContent(result, 1);
    const rendition = result.renditions[0]!;
    expect(rendition).toMatchObject({ label: '480p', width: 600, height: 480 });
    // Ground truth: the 50 fps progressive frames the fields were taken from (frame k of 25 fps is truth frame
    // 2k), scaled as the ladder scales.
    const truth = `${INTERLACED_TRUTH(1)},select=not(mod(n\\,2)),setpts=N/25/TB,scale=${rendition.width}:${rendition.height}`;
    const { stderr } = await exec('ffmpeg', [
      '-nostdin', '-hide_banner', '-i', scratch.storage.localPath(rendition.storageKey), '-f', 'lavfi', '-i', truth,
      '-lavfi', '[0:v]setpts=PTS-STARTPTS[a];[a][1:v]psnr', '-f', 'null', '-',
    ]);
    const psnr = Number(/PSNR .*average:([\d.]+)/.exec(stderr)?.[1] ?? NaN);
    expect(psnr, stderr.slice(-500)).toBeGreaterThanOrEqual(35);
  });

  it('m09: a VFR screen recording keeps its frame timing: as many frames as the source at 720p, never more', async () => {
    const file = await vfrScreenRecording(clips(), 5);
    const sourceFrames = Number(videoOf((await ffprobeJson(file)).streams)?.nb_frames);
    expect(sourceFrames).toBe(45);
    const { result } = await processFile(file);
    const facts = await expectContent(result, result.media.durationSeconds);
    expect(Math.abs(result.media.durationSeconds - 5)).toBeLessThan(0.2);
    for (const rendition of facts) expect(rendition.frames, rendition.label).toBeLessThanOrEqual(sourceFrames);
    expect(facts.find((rendition) => rendition.label === '720p')?.frames).toBe(sourceFrames);
  });

  it('m10: 120 fps is capped at 60 fps above 480p and 30 fps at 480p and below', async () => {
    const { result } = await processFile(await highFrameRate(clips(), 1));
    expect(result.media.frameRate).toBe(120);
    const facts = await expectContent(result, 1);
    expect(facts.map(({ label }) => label)).toEqual(['720p', '480p', '360p']);
    for (const rendition of facts) {
      const cap = rendition.label === '720p' ? 60 : 30;
      expect(rendition.frames, rendition.label).toBeGreaterThanOrEqual(cap - 1);
      expect(rendition.frames, rendition.label).toBeLessThanOrEqual(cap + 1);
    }
  });
});

describe('containers and codecs', () => {
  it.each([
    { kind: 'mpg', formatName: 'mpeg', videoCodec: 'mpeg2video', audioCodec: 'mp2' },
    { kind: 'wmv', formatName: 'asf', videoCodec: 'wmv2', audioCodec: 'wmav2' },
    { kind: 'mxf', formatName: 'mxf', videoCodec: 'mpeg2video', audioCodec: 'pcm_s16le' },
  ] as const)('m12-m14: accepts $kind ($formatName)', async ({ kind, formatName, videoCodec, audioCodec }) => {
    const { result } = await processFile(await otherContainer(clips(), kind, 1));
    expect(result.media).toMatchObject({ formatName, videoCodec, audioCodec, width: 320, height: 240 });
    const facts = await expectContent(result, 1);
    for (const rendition of facts) expect(rendition.audioCodecs).toEqual(['aac']);
  });

  it('processes a video whose only audio cannot be decoded without audio, and says why', async () => {
    const file = await undecodableTrack(clips(), 'audio', 1);
    expect((await ffprobeJson(file)).streams.map((stream) => stream.codec_name)).toEqual(['h264', 'mpegh_3d_audio']);
    const { result } = await processFile(file);
    expect(result.warnings).toEqual([{ code: 'AUDIO_NOT_DECODABLE', message: expect.stringContaining('mpegh_3d_audio') as string }]);
    expect(result.media.audioCodec).toBeNull();
    const facts = await expectContent(result, 1);
    for (const rendition of facts) expect(rendition.audioCodecs).toEqual([]);
  });

  it('refuses a video codec ffmpeg cannot decode with UNSUPPORTED_CODEC naming it, not MEDIA_CORRUPT', async () => {
    const error = await refusal(await undecodableTrack(clips(), 'video', 1));
    expect(error.code, error.message).toBe(ErrorCode.UNSUPPORTED_CODEC);
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('vvc1');
    expect(error.details).toMatchObject({ codec: 'vvc1' });
  });
});

const videoOf = (streams: ProbeStream[]) => streams.find((stream) => stream.codec_type === 'video');
