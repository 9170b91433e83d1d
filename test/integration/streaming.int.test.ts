import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ParsedManifest } from 'm3u8-parser';
import { StreamingSchema, type Streaming } from '../../services/domain/events.js';
import { sourceKey } from '../../services/media/keys.js';
import type { ProcessResult } from '../../services/media/processVideo.js';
import { useScratchMedia } from '../helpers/scratchMedia.js';
import { ffprobeJson, makeClip, type ClipSpec } from '../helpers/media.js';
import { parseM3u8 } from '../helpers/playlists.js';

/**
 * The adaptive-streaming outputs of one real encode, checked from the outside: the playlists framelog
 * wrote are read back with m3u8-parser, and every segment with ffprobe/ffmpeg (DESIGN §10).
 */

const exec = promisify(execFile);
const scratch = useScratchMedia('framelog-streaming-');

async function processClip(spec: ClipSpec): Promise<{ videoId: string; result: ProcessResult; streaming: Streaming }> {
  const videoId = randomUUID();
  const file = await makeClip(path.join(scratch.dir, 'clips'), spec);
  await scratch.storage.writeStream(sourceKey(videoId), createReadStream(file), { maxBytes: 100 * 1024 * 1024 });
  const result = await scratch.processor.process({ videoId, sourceKey: sourceKey(videoId) });
  return { videoId, result, streaming: StreamingSchema.parse(result.streaming) };
}

const local = (key: string) => scratch.storage.localPath(key);
const readPlaylist = async (key: string): Promise<ParsedManifest> => parseM3u8(await readFile(local(key), 'utf8'));
const sumExtinf = (playlist: ParsedManifest) => playlist.segments.reduce((sum, segment) => sum + segment.duration, 0);

/** A segment as a player sees it: its init segment followed by the segment's bytes, in one file. */
async function joined(streamDir: string, initUri: string, uri: string): Promise<string> {
  const file = path.join(scratch.dir, `${randomUUID()}.mp4`);
  await writeFile(file, Buffer.concat([await readFile(path.join(streamDir, initUri)), await readFile(path.join(streamDir, uri))]));
  return file;
}

/** The first packet of a segment's `kind` stream: its presentation time and whether it is a keyframe. */
async function firstPacket(file: string, kind: 'v' | 'a'): Promise<{ seconds: number; keyframe: boolean }> {
  const { stdout } = await exec('ffprobe', [
    '-v', 'error', '-select_streams', `${kind}:0`, '-read_intervals', '%+#1',
    '-show_entries', 'packet=pts_time,flags', '-of', 'json', file,
  ]);
  const packet = (JSON.parse(stdout) as { packets: { pts_time: string; flags: string }[] }).packets[0];
  return { seconds: Number(packet?.pts_time), keyframe: packet?.flags.startsWith('K') ?? false };
}

/** Rejects unless ffmpeg decodes every frame of `file` without an error. */
const decodes = (file: string) => exec('ffmpeg', ['-v', 'error', '-xerror', '-nostdin', '-i', file, '-f', 'null', '-']);

/** CODECS as a segment's own stream (init plus first segment) describes itself to ffprobe. */
async function codecsFromProbe(streamDir: string, playlist: ParsedManifest): Promise<string> {
  const first = playlist.segments[0]!;
  const stream = (await ffprobeJson(await joined(streamDir, first.map!.uri, first.uri))).streams[0];
  if (stream?.codec_name === 'aac') return stream.profile === 'LC' ? 'mp4a.40.2' : `unexpected AAC ${stream.profile}`;
  expect(stream).toMatchObject({ codec_name: 'h264', profile: 'High' });
  return `avc1.64..${(stream?.level ?? 0).toString(16).padStart(2, '0')}`;
}

describe('one encode packaged as HLS, DASH and MP4 downloads', () => {
  let fixture: Awaited<ReturnType<typeof processClip>>;
  let master: ParsedManifest;
  let streamDir: string;
  /** Key of the folder holding the playlists and segments (inside the committed output set version). */
  let streamKeyDir: string;

  beforeAll(async () => {
    fixture = await processClip({ width: 1280, height: 720, durationSeconds: 9, audio: true, fps: 25 });
    master = await readPlaylist(fixture.streaming.hlsKey);
    streamKeyDir = path.posix.dirname(fixture.streaming.hlsKey);
    streamDir = local(streamKeyDir);
  });

  it('lists every rung of the ladder in the master playlist, with one audio rendition', () => {
    const labels = fixture.result.renditions.map((rendition) => rendition.label);
    expect(labels).toEqual(['720p', '480p', '360p']);
    expect(master.playlists?.map((variant) => variant.uri)).toEqual(labels.map((label) => `${label}.m3u8`));
    expect(master.playlists?.map((variant) => variant.attributes.RESOLUTION)).toEqual(
      fixture.result.renditions.map(({ width, height }) => ({ width, height })),
    );
    expect(master.playlists?.every((variant) => variant.attributes['FRAME-RATE'] === 25 && variant.attributes.AUDIO === 'audio')).toBe(true);
    expect(master.mediaGroups?.AUDIO?.audio?.audio?.uri).toBe('audio.m3u8');
  });

  it('declares CODECS equal to what ffprobe reads from the segments', async () => {
    const audioPlaylist = await readPlaylist(`${streamKeyDir}/audio.m3u8`);
    const audioCodec = await codecsFromProbe(streamDir, audioPlaylist);
    for (const variant of master.playlists ?? []) {
      const media = await readPlaylist(`${streamKeyDir}/${variant.uri}`);
      const [video, audio] = (variant.attributes.CODECS ?? '').split(',');
      expect(video).toMatch(new RegExp(`^${await codecsFromProbe(streamDir, media)}$`));
      expect(audio).toBe(audioCodec);
    }
  });

  it('declares a BANDWIDTH at least the peak segment bitrate (video plus audio), AVERAGE-BANDWIDTH below it', async () => {
    const peakOf = async (playlist: ParsedManifest) =>
      Math.max(...(await Promise.all(playlist.segments.map(async (s) => ((await stat(path.join(streamDir, s.uri))).size * 8) / s.duration))));
    const audioPeak = await peakOf(await readPlaylist(`${streamKeyDir}/audio.m3u8`));
    for (const variant of master.playlists ?? []) {
      const videoPeak = await peakOf(await readPlaylist(`${streamKeyDir}/${variant.uri}`));
      expect(variant.attributes.BANDWIDTH).toBeGreaterThanOrEqual(Math.floor(videoPeak + audioPeak));
      expect(Number(variant.attributes['AVERAGE-BANDWIDTH'])).toBeLessThanOrEqual(variant.attributes.BANDWIDTH ?? 0);
    }
  });

  it('writes VOD media playlists of independent 4 s segments whose EXTINF add up to the content within 0.1 s', async () => {
    const names = [...(master.playlists ?? []).map((variant) => variant.uri), 'audio.m3u8'];
    for (const name of names) {
      const playlist = await readPlaylist(`${streamKeyDir}/${name}`);
      expect(playlist, name).toMatchObject({ playlistType: 'VOD', independentSegments: true, endList: true, targetDuration: 4 });
      expect(playlist.segments.every((segment) => segment.map !== undefined), name).toBe(true);
      expect(Math.abs(sumExtinf(playlist) - fixture.result.media.durationSeconds), name).toBeLessThanOrEqual(0.1);
    }
    expect(fixture.streaming.segmentCount).toBe(3);
  });

  it('starts every segment of every rung with a keyframe at the same time, and every segment decodes', async () => {
    const starts: number[][] = [];
    for (const variant of master.playlists ?? []) {
      const playlist = await readPlaylist(`${streamKeyDir}/${variant.uri}`);
      const rung: number[] = [];
      for (const segment of playlist.segments) {
        const file = await joined(streamDir, segment.map!.uri, segment.uri);
        const first = await firstPacket(file, 'v');
        expect(first.keyframe, `${segment.uri} starts with a keyframe`).toBe(true);
        await decodes(file);
        rung.push(first.seconds);
      }
      starts.push(rung);
    }
    expect(starts[0]).toEqual([0, 4, 8]);
    for (const rung of starts) expect(rung).toEqual(starts[0]);
    const audio = await readPlaylist(`${streamKeyDir}/audio.m3u8`);
    for (const segment of audio.segments) await decodes(await joined(streamDir, segment.map!.uri, segment.uri));
  });

  it('writes a DASH MPD over the same segments: one video adaptation set holding every rung, one audio set', async () => {
    const mpd = await readFile(local(fixture.streaming.dashKey), 'utf8');
    expect(mpd.match(/<AdaptationSet /g)).toHaveLength(2);
    expect(mpd.match(/contentType="video"/g)).toHaveLength(1);
    expect([...mpd.matchAll(/<Representation id="(\d+)"/g)].map((match) => match[1])).toEqual(['0', '1', '2', '3']);
    expect(mpd).toContain('initialization="init-$RepresentationID$.m4s" media="seg-$RepresentationID$-$Number%05d$.m4s"');
    const firstRung = await readPlaylist(`${streamKeyDir}/720p.m3u8`);
    expect(firstRung.segments.map((segment) => segment.uri)).toEqual(['seg-0-00001.m4s', 'seg-0-00002.m4s', 'seg-0-00003.m4s']);
  });

  it('remuxes the MP4 downloads from the same encode: faststart, same video and audio', async () => {
    for (const rendition of fixture.result.renditions) {
      const probe = await ffprobeJson(local(rendition.storageKey));
      expect(probe.streams.map((stream) => stream.codec_name)).toEqual(['h264', 'aac']);
      expect(probe.streams[0]).toMatchObject({ width: rendition.width, height: rendition.height, profile: 'High' });
      const head = await readFile(local(rendition.storageKey));
      expect(head.indexOf('moov')).toBeLessThan(head.indexOf('mdat'));
    }
  });
});

describe('a source without audio', () => {
  it('has no audio in the master playlist, the MPD or the downloads', async () => {
    const { result, streaming } = await processClip({ width: 640, height: 360, durationSeconds: 3, audio: false });
    const masterText = await readFile(local(streaming.hlsKey), 'utf8');
    expect(masterText).not.toMatch(/EXT-X-MEDIA|mp4a|AUDIO=/);
    expect(parseM3u8(masterText).playlists?.map((variant) => variant.attributes.CODECS)).toEqual([expect.stringMatching(/^avc1\.[0-9a-f]{6}$/)]);
    expect(streaming.audioPlaylistKey).toBeNull();
    expect(await readFile(local(streaming.dashKey), 'utf8')).not.toContain('audio');
    for (const rendition of result.renditions) {
      expect((await ffprobeJson(local(rendition.storageKey))).streams.map((stream) => stream.codec_type)).toEqual(['video']);
    }
  });
});
