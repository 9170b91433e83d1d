import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { open, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { readMp4Boxes } from '../../services/media/mp4Duration.js';

/**
 * Test media made at test time with ffmpeg's lavfi sources: the repository holds no binary media.
 * Clips are small and short by default and encoded with `ultrafast`, so generating one takes ~0.1 s.
 */

const exec = promisify(execFile);

export type ClipFormat = 'mp4' | 'mov' | 'webm' | 'mkv' | 'avi' | 'ts' | 'flv';

export interface ClipSpec {
  width: number;
  height: number;
  durationSeconds: number;
  /** An audio track (default false): see audioContent. */
  audio?: boolean;
  /**
   * What the audio track holds (default `tone`): `tone`, a mono 440 Hz sine; `noisy`, that sine under pink
   * noise in stereo, which costs the AAC encoder what recorded sound does. ffmpeg 5.1's AAC encoder spends
   * ~4x longer on the bare tone (~17 s of CPU for 120 s upmixed to stereo, against ~4 s for `noisy`), so a
   * benchmark that times a whole video wants `noisy`.
   */
  audioContent?: 'tone' | 'noisy';
  /** Clockwise display rotation stored as metadata (mp4/mov only); the pixels stay as generated. */
  rotation?: 0 | 90 | 180 | 270;
  format?: ClipFormat;
  /** ffmpeg encoder name; defaults to a fast encoder the container accepts. */
  videoCodec?: string;
  /** ffmpeg audio encoder name (with `audio`); defaults to one the container accepts. */
  audioCodec?: string;
  fps?: number;
  /** File name inside `dir` (default: unique). */
  name?: string;
  /**
   * Instead of the test pattern: a solid blue frame whose stored top-left quarter is red, so a test can
   * tell where that corner ends up after rotation (see pixelRgb).
   */
  marker?: boolean;
}

interface Container {
  muxer: string;
  videoCodec: string;
  videoOptions: string[];
  audioCodec: string;
}

const CONTAINERS: Record<ClipFormat, Container> = {
  mp4: { muxer: 'mp4', videoCodec: 'libx264', videoOptions: [], audioCodec: 'aac' },
  mov: { muxer: 'mov', videoCodec: 'libx264', videoOptions: [], audioCodec: 'aac' },
  mkv: { muxer: 'matroska', videoCodec: 'libx264', videoOptions: [], audioCodec: 'aac' },
  ts: { muxer: 'mpegts', videoCodec: 'libx264', videoOptions: [], audioCodec: 'aac' },
  flv: { muxer: 'flv', videoCodec: 'libx264', videoOptions: [], audioCodec: 'aac' },
  avi: { muxer: 'avi', videoCodec: 'mpeg4', videoOptions: ['-q:v', '5'], audioCodec: 'libmp3lame' },
  webm: { muxer: 'webm', videoCodec: 'libvpx-vp9', videoOptions: [], audioCodec: 'libopus' },
};

/** Options that make slow encoders fast enough for test clips (quality does not matter here). */
const ENCODER_OPTIONS: Record<string, string[]> = {
  libx264: ['-preset', 'ultrafast'],
  libx265: ['-preset', 'ultrafast', '-x265-params', 'log-level=error'],
  libvpx: ['-deadline', 'realtime', '-cpu-used', '8', '-b:v', '500k'],
  'libvpx-vp9': ['-deadline', 'realtime', '-cpu-used', '8', '-row-mt', '1', '-b:v', '500k'],
};

/** Runs the ffmpeg CLI quietly; rejects with its stderr. */
export async function ffmpegCli(args: string[]): Promise<void> {
  await exec('ffmpeg', ['-v', 'error', '-nostdin', '-y', ...args], { maxBuffer: 16 * 1024 * 1024 });
}

/** Generates a clip in `dir` and returns its absolute path. */
export async function makeClip(dir: string, spec: ClipSpec): Promise<string> {
  const format = spec.format ?? 'mp4';
  const container = CONTAINERS[format];
  const fps = spec.fps ?? 25;
  const rotation = spec.rotation ?? 0;
  const file = path.resolve(dir, spec.name ?? `clip-${spec.width}x${spec.height}-${randomUUID().slice(0, 8)}.${format}`);
  const videoCodec = spec.videoCodec ?? container.videoCodec;
  const odd = spec.width % 2 === 1 || spec.height % 2 === 1;

  // The lavfi sources make even sizes only: draw at the next even size, then scale to the exact one.
  const size = `${spec.width + (spec.width % 2)}x${spec.height + (spec.height % 2)}`;
  const filters = [
    spec.marker
      ? `color=c=blue:size=${size}:rate=${fps}:duration=${spec.durationSeconds},drawbox=x=0:y=0:w=iw/2:h=ih/2:color=red:t=fill`
      : `testsrc2=size=${size}:rate=${fps}:duration=${spec.durationSeconds}`,
    ...(odd ? [`scale=${spec.width}:${spec.height}`, 'setsar=1'] : []),
    // x264 cannot encode odd sizes in 4:2:0; 4:4:4 can, and makes the pipeline convert.
    ...(odd && videoCodec === 'libx264' ? ['format=yuv444p'] : []),
  ];
  const args = [
    '-f', 'lavfi', '-i', filters.join(','),
    ...(spec.audio ? ['-f', 'lavfi', '-i', audioSource(spec.audioContent ?? 'tone', spec.durationSeconds)] : []),
    '-map', '0:v', ...(spec.audio ? ['-map', '1:a', '-c:a', spec.audioCodec ?? container.audioCodec] : []),
    '-c:v', videoCodec,
    ...(ENCODER_OPTIONS[videoCodec] ?? []),
    ...(videoCodec === 'libx264' && !odd ? ['-pix_fmt', 'yuv420p'] : []),
    ...(videoCodec === 'libx265' ? ['-pix_fmt', 'yuv420p'] : []),
    ...container.videoOptions,
    '-f', container.muxer,
  ];

  if (rotation === 0) {
    await ffmpegCli([...args, file]);
    return file;
  }
  if (format !== 'mp4' && format !== 'mov') throw new Error(`makeClip: rotation needs mp4 or mov, not ${format}`);
  const plain = `${file}.plain.${format}`;
  await ffmpegCli([...args, plain]);
  try {
    // ffmpeg versions disagree on the direction the `rotate` tag is written in (5.1 stores it
    // counter-clockwise); try both and keep the one ffprobe reads back as the clockwise angle asked for.
    for (const tag of [(360 - rotation) % 360, rotation]) {
      await ffmpegCli(['-i', plain, '-map', '0', '-c', 'copy', '-metadata:s:v:0', `rotate=${tag}`, '-f', container.muxer, file]);
      if ((await clockwiseRotationOf(file)) === rotation) return file;
    }
    throw new Error(`makeClip: could not store a clockwise rotation of ${rotation} degrees with this ffmpeg`);
  } finally {
    await rm(plain, { force: true });
  }
}

/** The lavfi graph of ClipSpec.audioContent, `seconds` long. */
function audioSource(content: 'tone' | 'noisy', seconds: number): string {
  const tone = `sine=frequency=440:sample_rate=48000:duration=${seconds}`;
  if (content === 'tone') return tone;
  return `${tone}[t];anoisesrc=color=pink:sample_rate=48000:duration=${seconds}:amplitude=0.1[n];[t][n]amerge=inputs=2,pan=stereo|c0=c0+0.3*c1|c1=0.7*c0+c1[out0]`;
}

export interface ProbeStream {
  index: number;
  codec_type?: string;
  codec_name?: string;
  profile?: string;
  /** H.264 level_idc (31 for 3.1). */
  level?: number;
  pix_fmt?: string;
  width?: number;
  height?: number;
  channels?: number;
  avg_frame_rate?: string;
  disposition?: Record<string, number>;
  tags?: Record<string, string>;
  side_data_list?: { side_data_type?: string; rotation?: number }[];
  [key: string]: unknown;
}

export interface ProbeJson {
  streams: ProbeStream[];
  format: { format_name?: string; duration?: string; tags?: Record<string, string>; [key: string]: unknown };
}

/** ffprobe's JSON description of a file (streams and format), for assertions. */
export async function ffprobeJson(file: string): Promise<ProbeJson> {
  const { stdout } = await exec('ffprobe', ['-v', 'error', '-print_format', 'json', '-show_streams', '-show_format', file], {
    maxBuffer: 16 * 1024 * 1024,
  });
  return JSON.parse(stdout) as ProbeJson;
}

/** Clockwise display rotation ffprobe reads from the first video stream (0 when none). */
export async function clockwiseRotationOf(file: string): Promise<number> {
  const video = (await ffprobeJson(file)).streams.find((stream) => stream.codec_type === 'video');
  const matrix = video?.side_data_list?.find((side) => side.side_data_type === 'Display Matrix');
  const ccw = matrix?.rotation ?? -Number(video?.tags?.rotate ?? 0);
  return (((-ccw % 360) + 360) % 360);
}

/** The types of an ISO-BMFF (mp4) file's top-level boxes, in file order. */
export async function topLevelBoxes(file: string): Promise<string[]> {
  const handle = await open(file, 'r');
  try {
    const { size: fileSize } = await handle.stat();
    const types: string[] = [];
    let reached = 0;
    for await (const box of readMp4Boxes(handle, 0, fileSize)) {
      types.push(box.type);
      reached = box.end;
    }
    if (reached !== fileSize) throw new Error(`topLevelBoxes: corrupt box at ${reached} in ${file}`);
    return types;
  } finally {
    await handle.close();
  }
}

/**
 * The RGB colour at (x, y) of a video's or image's first frame, after ffmpeg applies its rotation.
 * Reads a 2x2 block (4:2:0 chroma cannot be cropped to one pixel) and returns its top-left pixel.
 */
export async function pixelRgb(file: string, x: number, y: number): Promise<[number, number, number]> {
  const { stdout } = await exec(
    'ffmpeg',
    ['-v', 'error', '-nostdin', '-i', file, '-frames:v', '1', '-vf', `crop=2:2:${x}:${y}`, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'],
    { encoding: 'buffer' },
  );
  if (stdout.length < 3) throw new Error(`pixelRgb: no pixel read from ${file}`);
  return [stdout[0]!, stdout[1]!, stdout[2]!];
}

/** Every file under `dir`, as paths relative to it (dot-files included), sorted. */
export async function listFiles(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { recursive: true, withFileTypes: true });
    return entries
      .filter((entry) => entry.isFile())
      .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
      .sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}
