import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { ffmpegCli } from './media.js';

/**
 * Test media that can be checked frame by frame after any encode: every frame carries its own source frame
 * number as a row of black and white boxes across the top eighth of the picture (bit b of the number in
 * box b, least significant first), and the audio is silent but for a 1 kHz pulse of 10 ms at the start of
 * every second. Reading them back (frameNumbers, frameTimes, pulseOnsets) shows dropped, duplicated or
 * shifted frames and the audio/video offset at any instant. Made with lavfi only, like media.ts.
 */

const exec = promisify(execFile);

/** Bits of the frame number: 2048 frames, enough for 60 s at 30 fps. */
export const COUNTER_BITS = 11;

export interface CountedClipSpec {
  width: number;
  height: number;
  durationSeconds: number;
  /** Frame rate as ffmpeg takes it: "25", "30000/1001". */
  rate: string;
  format?: 'mp4' | 'mkv';
  /** Keyframe interval of the source in frames (default 250, x264's, so cuts fall inside GOPs). */
  keyint?: number;
}

/** Writes a counted clip (H.264 + AAC) into `dir`; returns its path. */
export async function makeCountedClip(dir: string, spec: CountedClipSpec): Promise<string> {
  const format = spec.format ?? 'mp4';
  const file = path.join(dir, `counted-${randomUUID().slice(0, 8)}.${format}`);
  const bits = Array.from({ length: COUNTER_BITS }, (_, bit) => {
    const period = 2 ** (bit + 1);
    return `drawbox=x=iw*${bit}/${COUNTER_BITS}:y=0:w=iw/${COUNTER_BITS}:h=ih/8:color=white:t=fill:enable='gte(mod(n\\,${period})\\,${period / 2})'`;
  });
  const video = [
    `testsrc2=size=${spec.width}x${spec.height}:rate=${spec.rate}:duration=${spec.durationSeconds}`,
    'drawbox=x=0:y=0:w=iw:h=ih/8:color=black:t=fill',
    ...bits,
  ].join(',');
  const audio = `aevalsrc=exprs='if(lt(mod(t\\,1)\\,0.01)\\,0.8*sin(2*PI*1000*t)\\,0)':s=48000:d=${spec.durationSeconds}`;
  await ffmpegCli([
    '-f', 'lavfi', '-i', video, '-f', 'lavfi', '-i', audio,
    '-map', '0:v', '-map', '1:a',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-g', String(spec.keyint ?? 250),
    '-c:a', 'aac', '-b:a', '128k',
    '-f', format === 'mp4' ? 'mp4' : 'matroska', file,
  ]);
  return file;
}

/** The source frame number drawn into every decoded frame of `file`'s first video stream, in presentation order. */
export async function frameNumbers(file: string): Promise<number[]> {
  const { stdout } = await exec(
    'ffmpeg',
    ['-v', 'error', '-nostdin', '-i', file, '-map', '0:v:0', '-fps_mode', 'passthrough', '-vf', `crop=iw:ih/8:0:0,scale=${COUNTER_BITS}:1:flags=area,format=gray`, '-f', 'rawvideo', '-'],
    { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 },
  );
  const numbers: number[] = [];
  for (let offset = 0; offset + COUNTER_BITS <= stdout.length; offset += COUNTER_BITS) {
    let value = 0;
    for (let bit = 0; bit < COUNTER_BITS; bit += 1) if ((stdout[offset + bit] ?? 0) > 128) value += 2 ** bit;
    numbers.push(value);
  }
  return numbers;
}

/** Presentation time (s) of every video frame of `file`, in presentation order. */
export async function frameTimes(file: string): Promise<number[]> {
  const { stdout } = await exec('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'frame=pts_time', '-of', 'csv=p=0', file], {
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout
    .split('\n')
    .map((line) => line.split(',')[0]?.trim() ?? '')
    .filter((line) => line !== '')
    .map(Number);
}

/**
 * Start times (s, on the file's timeline) of the audio pulses of `file`: the first sample above a third
 * of full scale after at least half a second below it. The first sample's time is the audio stream's
 * start_time, so the onsets and frameTimes share the file's timeline.
 */
export async function pulseOnsets(file: string): Promise<number[]> {
  const rate = 48_000;
  const { stdout } = await exec('ffmpeg', ['-v', 'error', '-nostdin', '-i', file, '-map', '0:a:0', '-ac', '1', '-ar', String(rate), '-f', 's16le', '-'], {
    encoding: 'buffer',
    maxBuffer: 64 * 1024 * 1024,
  });
  const start = await audioStartSeconds(file);
  const onsets: number[] = [];
  let quietSince = -rate;
  for (let index = 0; index + 2 <= stdout.length; index += 2) {
    const sample = index / 2;
    if (Math.abs(stdout.readInt16LE(index)) < 32768 / 3) continue;
    if (sample - quietSince >= rate / 2) onsets.push(start + sample / rate);
    quietSince = sample;
  }
  return onsets;
}

async function audioStartSeconds(file: string): Promise<number> {
  const { stdout } = await exec('ffprobe', ['-v', 'error', '-select_streams', 'a:0', '-show_entries', 'stream=start_time', '-of', 'csv=p=0', file]);
  const start = Number(stdout.trim());
  return Number.isFinite(start) ? start : 0;
}
