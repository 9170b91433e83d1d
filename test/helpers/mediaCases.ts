import { execFile } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { ffmpegCli } from './media.js';

/**
 * The inputs of ../shared/cases/README.md (section Media, m01-m14, and the two kinds without a file),
 * made at test time with ffmpeg's lavfi sources the way ../shared/cases/make-media-cases.sh makes them,
 * but smaller and shorter so the suite stays fast. Each returns the absolute path of the file it wrote.
 */

const exec = promisify(execFile);

const x264 = ['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p'];
const pattern = (size: string, seconds: number, rate = 30) => ['-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=${rate}:duration=${seconds}`];
const tone = (seconds: number, frequency = 440) => ['-f', 'lavfi', '-i', `sine=frequency=${frequency}:sample_rate=48000:duration=${seconds}`];

/** m01: fragmented MP4 whose mvhd/tkhd/mdhd durations say "unknown" (all ones) and whose mehd is voided. */
export async function fragmentedUnknownDuration(dir: string, seconds: number): Promise<string> {
  const plain = path.join(dir, 'm01.plain.mp4');
  await ffmpegCli([...pattern('320x240', seconds), ...tone(seconds), ...x264, '-g', '30', '-c:a', 'aac',
    '-movflags', 'frag_keyframe+empty_moov+default_base_moof', '-f', 'mp4', plain]);
  const bytes = await readFile(plain);
  const walk = (start: number, end: number): void => {
    for (let p = start; p + 8 <= end; ) {
      const size = bytes.readUInt32BE(p);
      const type = bytes.toString('latin1', p + 4, p + 8);
      if (size < 8) break;
      if (['moov', 'trak', 'mdia', 'mvex'].includes(type)) walk(p + 8, p + size);
      if (bytes[p + 8] === 0) {
        if (type === 'mvhd' || type === 'mdhd') bytes.writeUInt32BE(0xffffffff, p + 24);
        if (type === 'tkhd') bytes.writeUInt32BE(0xffffffff, p + 28);
      }
      if (type === 'mehd') bytes.write('free', p + 4, 'latin1');
      p += size;
    }
  };
  walk(0, bytes.length);
  return written(dir, 'm01-fragmented-unknown-duration.mp4', bytes, plain);
}

/** An MP4 whose only track starts after a leading empty edit of `delay` seconds (the movie lasts delay + seconds). */
export async function leadingEmptyEdit(dir: string, seconds: number, delay: number): Promise<string> {
  const file = path.join(dir, 'leading-empty-edit.mp4');
  await ffmpegCli([...pattern('320x240', seconds, 25), ...x264, '-output_ts_offset', String(delay), '-use_editlist', '1', '-f', 'mp4', file]);
  return file;
}

/** m02: audio/video Matroska of `seconds` plus a subtitle cue at 10-12 s (the container says 12 s). */
export async function subtitleOutlastsVideo(dir: string, seconds: number): Promise<string> {
  const av = path.join(dir, 'm02.av.mkv');
  const srt = path.join(dir, 'm02.srt');
  await ffmpegCli([...pattern('320x240', seconds), ...tone(seconds), ...x264, '-c:a', 'aac', '-f', 'matroska', av]);
  await writeFile(srt, '1\n00:00:01,000 --> 00:00:02,000\nhello\n\n2\n00:00:10,000 --> 00:00:12,000\nlate cue\n');
  const file = path.join(dir, 'm02-subtitle-outlasts-video.mkv');
  await ffmpegCli(['-i', av, '-i', srt, '-map', '0', '-map', '1', '-c', 'copy', '-f', 'matroska', file]);
  await Promise.all([rm(av), rm(srt)]);
  return file;
}

/** m03: WebM written to a pipe (no Duration element, as a browser's MediaRecorder writes it), element voided. */
export async function webmWithoutDuration(dir: string, seconds: number): Promise<string> {
  const { stdout } = await exec('ffmpeg', ['-v', 'error', '-nostdin', ...pattern('320x240', seconds), ...tone(seconds),
    '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '300k', '-c:a', 'libopus', '-f', 'webm', 'pipe:1'],
  { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 });
  const bytes = Buffer.from(stdout);
  const at = bytes.indexOf(Buffer.from([0x44, 0x89])); // Segment Info > Duration, a float of 4 or 8 bytes
  if (at > 0) {
    const total = 3 + ((bytes[at + 2] ?? 0) & 0x7f);
    bytes[at] = 0xec; // Void
    bytes[at + 1] = 0x80 | (total - 2);
    bytes.fill(0, at + 2, at + total);
  }
  return written(dir, 'm03-webm-without-duration.webm', bytes);
}

/** A `seconds`-long 320x240 MPEG-TS with audio, its timestamps shifted by `offset` seconds. */
async function tsSegment(dir: string, name: string, seconds: number, offset: number): Promise<string> {
  const file = path.join(dir, name);
  await ffmpegCli([...pattern('320x240', seconds), ...tone(seconds), ...x264, '-c:a', 'aac', '-output_ts_offset', String(offset), '-f', 'mpegts', file]);
  return file;
}

/** m04 (`restart` false): two recordings joined, the second's timestamps 1000 s later; m05 (true): one segment twice. */
export async function tsTimestampDiscontinuity(dir: string, seconds: number, restart: boolean): Promise<string> {
  const first = await tsSegment(dir, 'ts.a.ts', seconds, 0);
  const second = restart ? first : await tsSegment(dir, 'ts.b.ts', seconds, 1000);
  const bytes = Buffer.concat([await readFile(first), await readFile(second)]);
  await rm(second, { force: true });
  return written(dir, restart ? 'm05-ts-timestamp-restart.ts' : 'm04-ts-timestamp-jump.ts', bytes, first);
}

/** m06 (`pq`) and m07 (`hlg`): 10-bit HEVC tagged BT.2020 with the PQ or HLG transfer, as phones record. */
export async function hdrHevc(dir: string, transfer: 'pq' | 'hlg', seconds: number): Promise<string> {
  const trc = transfer === 'pq' ? 'smpte2084' : 'arib-std-b67';
  const file = path.join(dir, `${transfer === 'pq' ? 'm06-hdr10-pq' : 'm07-hdr-hlg'}.mp4`);
  // Brightened so the frame reaches highlights that tone-mapping visibly compresses: plain testsrc2 stays near
  // 100 nits, where the mapped and unmapped frames differed by less than m06's tolerance (ffmpeg 5.1.9).
  await ffmpegCli([...pattern('640x360', seconds), '-vf', 'eq=brightness=0.2', '-c:v', 'libx265', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p10le',
    '-x265-params', `log-level=error:colorprim=bt2020:transfer=${trc}:colormatrix=bt2020nc`,
    '-color_primaries', 'bt2020', '-color_trc', trc, '-colorspace', 'bt2020nc', '-tag:v', 'hvc1', '-f', 'mp4', file]);
  return file;
}

/** The lavfi source of m08's ground truth: progressive 50 fps frames, of which m08 interleaves pairs. */
export const INTERLACED_TRUTH = (seconds: number) => `testsrc2=size=720x576:rate=50:duration=${seconds}`;

/** m08: interlaced PAL, top field first, MPEG-2 in MPEG-TS (25 frames/s of 50 fields/s from INTERLACED_TRUTH). */
export async function interlacedTff(dir: string, seconds: number): Promise<string> {
  const file = path.join(dir, 'm08-interlaced-tff.ts');
  await ffmpegCli(['-f', 'lavfi', '-i', INTERLACED_TRUTH(seconds), '-vf', 'tinterlace=mode=interleave_top,setfield=tff',
    '-c:v', 'mpeg2video', '-flags', '+ilme+ildct', '-top', '1', '-b:v', '8M', '-r', '25', '-f', 'mpegts', file]);
  return file;
}

/** Frames m09 keeps of a 60 fps pattern: every 9th, frame 4, and frames 120-130 (a burst). */
export const VFR_SELECT = "not(mod(n\\,9))+eq(n\\,4)+between(n\\,120\\,130)";

/** m09: variable frame rate screen recording (few frames over `seconds` at nominal 60 fps, 90 kHz timescale). */
export async function vfrScreenRecording(dir: string, seconds: number): Promise<string> {
  const file = path.join(dir, 'm09-vfr-screen-recording.mp4');
  await ffmpegCli([...pattern('1280x720', seconds, 60), '-vf', `select='${VFR_SELECT}'`, '-fps_mode', 'vfr', ...x264,
    '-video_track_timescale', '90000', '-f', 'mp4', file]);
  return file;
}

/** m10: a 120 fps phone clip with audio. */
export async function highFrameRate(dir: string, seconds: number): Promise<string> {
  const file = path.join(dir, 'm10-120fps.mp4');
  await ffmpegCli([...pattern('1280x720', seconds, 120), ...tone(seconds), ...x264, '-c:a', 'aac', '-f', 'mp4', file]);
  return file;
}

/** m11: Matroska with a default audio track of `seconds` and a non-default commentary track twice as long. */
export async function longerSecondAudio(dir: string, seconds: number): Promise<string> {
  const file = path.join(dir, 'm11-longer-second-audio.mkv');
  await ffmpegCli([...pattern('320x240', seconds), ...tone(seconds), ...tone(seconds * 2, 880), '-map', '0:v', '-map', '1:a', '-map', '2:a',
    ...x264, '-c:a:0', 'aac', '-c:a:1', 'libopus', '-disposition:a:0', 'default', '-disposition:a:1', '0', '-f', 'matroska', file]);
  return file;
}

/** m12-m14: MPEG program stream (.mpg), ASF (.wmv) and MXF, each with its usual codecs. */
export async function otherContainer(dir: string, kind: 'mpg' | 'wmv' | 'mxf', seconds: number): Promise<string> {
  const file = path.join(dir, `container.${kind}`);
  const codecs = {
    mpg: ['-c:v', 'mpeg2video', '-b:v', '2M', '-c:a', 'mp2', '-f', 'vob'],
    wmv: ['-c:v', 'wmv2', '-c:a', 'wmav2', '-f', 'asf'],
    mxf: ['-c:v', 'mpeg2video', '-b:v', '10M', '-pix_fmt', 'yuv422p', '-c:a', 'pcm_s16le', '-f', 'mxf'],
  }[kind];
  await ffmpegCli([...pattern('320x240', seconds, 25), ...tone(seconds), ...codecs, file]);
  return file;
}

/**
 * An H.264/AAC MP4 whose audio (`audio`) or video sample entry is renamed to a codec ffmpeg 5.1 knows how to
 * remux but not decode: MPEG-H 3D audio (`mhm1`, its AAC config box voided) or H.266/VVC (`vvc1`).
 */
export async function undecodableTrack(dir: string, track: 'audio' | 'video', seconds: number): Promise<string> {
  const plain = path.join(dir, `undecodable-${track}.plain.mp4`);
  await ffmpegCli([...pattern('320x240', seconds, 25), ...tone(seconds), ...x264, '-c:a', 'aac', '-f', 'mp4', plain]);
  const bytes = await readFile(plain);
  const [from, to] = track === 'audio' ? ['mp4a', 'mhm1'] : ['avc1', 'vvc1'];
  let renamed = 0;
  for (let at = bytes.indexOf('stsd'); at >= 0; at = bytes.indexOf('stsd', at + 4)) {
    const entry = at + 16; // stsd type, version/flags, entry count, then the entry's size
    if (bytes.toString('latin1', entry, entry + 4) !== from) continue;
    bytes.write(to, entry, 'latin1');
    if (track === 'audio') bytes.write('free', bytes.indexOf('esds', entry), 'latin1');
    renamed += 1;
  }
  if (renamed !== 1) throw new Error(`undecodableTrack: found ${renamed} ${from} sample entries`);
  return written(dir, `undecodable-${track}.mp4`, bytes, plain);
}

async function written(dir: string, name: string, bytes: Buffer, ...remove: string[]): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, bytes);
  await Promise.all(remove.map((leftover) => rm(leftover, { force: true })));
  return file;
}
