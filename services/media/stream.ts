import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Rendition, Streaming, StreamVariant } from '../domain/events.js';
import { runFfmpeg } from './ffmpeg.js';
import { runFfprobe } from './ffprobe.js';
import {
  aacCodecString,
  avcCodecString,
  measureBandwidth,
  readSegmentList,
  writeMasterPlaylist,
  writeMediaPlaylist,
  type AudioRendition,
  type Bandwidth,
  type SegmentList,
  type VideoVariant,
} from './hls.js';
import { renditionName } from './keys.js';
import type { RenditionPlan } from './ladder.js';
import { parseRate } from './probe.js';
import type { OutputSet } from './storage.js';

/** What the one encode left in its work directory (transcode.ts). */
export interface EncodedLadder {
  workDir: string;
  /** One video-only MP4 per rung, largest first. */
  videos: { rung: RenditionPlan; path: string }[];
  /** The AAC stereo MP4, or null for a source without audio. */
  audioPath: string | null;
}

export interface LadderOutputs {
  /** The progressive MP4 downloads, one per rung. */
  renditions: Rendition[];
  streaming: Streaming;
}

/** Target duration of a CMAF segment: two GOPs (transcode.GOP_SECONDS), within Apple's 4-6 s. */
export const SEGMENT_SECONDS = 4;

export const MASTER_PLAYLIST = 'master.m3u8';
export const DASH_MANIFEST = 'manifest.mpd';
const AUDIO_PLAYLIST = 'audio.m3u8';
/** ffmpeg's own master playlist: written (the muxer insists) but never published. */
const FFMPEG_MASTER = 'ffmpeg-master.m3u8';

interface PackagedRendition {
  name: string;
  list: SegmentList;
  bandwidth: Bandwidth;
}

interface PackagedLadder {
  videos: (PackagedRendition & { rung: RenditionPlan; codec: string; frameRate: number | null })[];
  audio: (PackagedRendition & { codec: string }) | null;
}

export interface PackageOptions {
  timeoutMs: number;
  signal?: AbortSignal;
}

/** Name of the stream's folder in the output set: `<set>/<version>/stream/master.m3u8`, segments beside it. */
export const STREAM_DIR = 'stream';

/**
 * Packages the encoded streams into the (uncommitted) output set without re-encoding, in one ffmpeg run:
 * CMAF fMP4 segments of SEGMENT_SECONDS with a DASH MPD (all rungs in one adaptation set, so players
 * switch between them) under STREAM_DIR, and the faststart MP4 downloads as `<label>.mp4`. Then measures
 * every rendition's segments and writes the HLS playlists beside them; ffmpeg's own playlists are removed
 * so that only framelog's are published.
 */
export async function packageLadder(encoded: EncodedLadder, outputs: OutputSet, options: PackageOptions): Promise<LadderOutputs> {
  const dir = await outputs.localDir(STREAM_DIR);
  const inputs = [...encoded.videos.map((video) => video.path), ...(encoded.audioPath === null ? [] : [encoded.audioPath])];
  const audioInput = encoded.audioPath === null ? null : encoded.videos.length;
  const downloads = await Promise.all(
    encoded.videos.map(async ({ rung }) => ({ rung, name: renditionName(rung.label), path: await outputs.localPath(renditionName(rung.label)) })),
  );
  await runFfmpeg({
    input: inputs[0] ?? '',
    extraInputs: inputs.slice(1),
    outputs: [
      { path: path.join(dir, DASH_MANIFEST), options: dashOutputOptions(encoded.videos.map(({ rung }) => rung), audioInput) },
      ...downloads.map((download, index) => ({ path: download.path, options: downloadOutputOptions(index, audioInput) })),
    ],
    timeoutMs: options.timeoutMs,
    signal: options.signal,
  });
  const videos = await Promise.all(
    encoded.videos.map(async ({ rung, path: encodedPath }, index) => {
      const packaged = await measureRendition(dir, index, `${rung.label}.m3u8`);
      const codec = avcCodecString(await readFile(path.join(dir, packaged.list.initUri)));
      return { ...packaged, rung, codec, frameRate: await frameRateOf(encodedPath, options) };
    }),
  );
  const audio =
    encoded.audioPath === null || audioInput === null
      ? null
      : { ...(await measureRendition(dir, audioInput, AUDIO_PLAYLIST)), codec: await aacCodecOf(encoded.audioPath, options) };
  await writeFile(path.join(dir, MASTER_PLAYLIST), writeMasterPlaylist(videos.map(toVariant), audio === null ? null : toAudio(audio)));
  await rm(path.join(dir, FFMPEG_MASTER), { force: true });
  const packaged = { videos, audio };
  const renditions = await Promise.all(
    downloads.map(async ({ rung, name, path: file }) => ({
      label: rung.label, width: rung.width, height: rung.height, sizeBytes: (await stat(file)).size, storageKey: outputs.keyOf(name),
    })),
  );
  return { renditions, streaming: streamingRecord(outputs, packaged) };
}

/**
 * Options of the DASH output over the video inputs (one per rung, largest first) and the audio input (if
 * any). The HLS media playlists it writes beside the MPD (`media_<n>.m3u8`) are only read for their
 * segment lists. `-adaptation_sets` separates its sets with two spaces: fluent-ffmpeg splits an option
 * holding exactly one space into two arguments, and the muxer skips any number of spaces.
 *
 * The muxer refuses an adaptation set whose streams differ in display aspect, which even rounding makes
 * them do (854x480 beside 1280x720), so every segment stream declares the largest rung's aspect in its
 * container (`-aspect` on a copied stream sets the sample aspect of the track, not of the bitstream): a
 * pixel aspect within a fraction of a percent of square. The downloads keep square pixels.
 */
export function dashOutputOptions(rungs: readonly Pick<RenditionPlan, 'width' | 'height'>[], audioInput: number | null): string[] {
  const aspect = rungs[0] === undefined ? [] : [`${rungs[0].width}:${rungs[0].height}`];
  const videos = rungs.flatMap((_, index) => ['-map', `${index}:v:0`, ...aspect.flatMap((value) => [`-aspect:v:${index}`, value])]);
  return [
    ...videos,
    ...(audioInput === null ? [] : ['-map', `${audioInput}:a:0`]),
    '-c', 'copy', '-map_metadata', '-1',
    '-f', 'dash', '-dash_segment_type', 'mp4',
    '-seg_duration', String(SEGMENT_SECONDS), '-use_template', '1', '-use_timeline', '1',
    '-adaptation_sets', audioInput === null ? 'id=0,streams=v' : 'id=0,streams=v  id=1,streams=a',
    '-init_seg_name', 'init-$RepresentationID$.m4s',
    '-media_seg_name', 'seg-$RepresentationID$-$Number%05d$.m4s',
    '-hls_playlist', '1', '-hls_master_name', FFMPEG_MASTER,
  ];
}

/** Options of the progressive download of video input `index`: the same streams, moov first. */
export function downloadOutputOptions(index: number, audioInput: number | null): string[] {
  return [
    '-map', `${index}:v:0`,
    ...(audioInput === null ? [] : ['-map', `${audioInput}:a:0`]),
    '-c', 'copy', '-map_metadata', '-1', '-movflags', '+faststart', '-f', 'mp4',
  ];
}

/** Reads (and removes) ffmpeg's playlist of output stream `streamIndex`, measures its segments and writes ours as `name`. */
async function measureRendition(dir: string, streamIndex: number, name: string): Promise<PackagedRendition> {
  const ffmpegPlaylist = path.join(dir, `media_${streamIndex}.m3u8`);
  const list = readSegmentList(await readFile(ffmpegPlaylist, 'utf8'));
  await rm(ffmpegPlaylist);
  const sized = await Promise.all(
    list.segments.map(async (segment) => ({ ...segment, sizeBytes: (await stat(path.join(dir, segment.uri))).size })),
  );
  await writeFile(path.join(dir, name), writeMediaPlaylist(list));
  return { name, list, bandwidth: measureBandwidth(sized) };
}

async function frameRateOf(file: string, options: PackageOptions): Promise<number | null> {
  const probed = await runFfprobe(file, options);
  return parseRate(probed.streams.find((stream) => stream.codec_type === 'video')?.avg_frame_rate);
}

async function aacCodecOf(file: string, options: PackageOptions): Promise<string> {
  const probed = await runFfprobe(file, options);
  return aacCodecString(probed.streams.find((stream) => stream.codec_type === 'audio')?.profile);
}

const toVariant = (video: PackagedLadder['videos'][number]): VideoVariant => ({
  uri: video.name,
  width: video.rung.width,
  height: video.rung.height,
  frameRate: video.frameRate,
  videoCodec: video.codec,
  bandwidth: video.bandwidth,
});

const toAudio = (audio: NonNullable<PackagedLadder['audio']>): AudioRendition => ({ uri: audio.name, codec: audio.codec, bandwidth: audio.bandwidth });

function streamingRecord(outputs: OutputSet, { videos, audio }: Pick<PackagedLadder, 'videos' | 'audio'>): Streaming {
  const keyOf = (name: string): string => outputs.keyOf(`${STREAM_DIR}/${name}`);
  const variants: StreamVariant[] = videos.map((video) => ({
    label: video.rung.label,
    width: video.rung.width,
    height: video.rung.height,
    frameRate: video.frameRate,
    codecs: audio === null ? video.codec : `${video.codec},${audio.codec}`,
    bandwidth: video.bandwidth.peakBitsPerSecond + (audio?.bandwidth.peakBitsPerSecond ?? 0),
    averageBandwidth: video.bandwidth.averageBitsPerSecond + (audio?.bandwidth.averageBitsPerSecond ?? 0),
    playlistKey: keyOf(video.name),
  }));
  return {
    hlsKey: keyOf(MASTER_PLAYLIST),
    dashKey: keyOf(DASH_MANIFEST),
    segmentCount: videos[0]?.list.segments.length ?? 0,
    segmentSeconds: SEGMENT_SECONDS,
    variants,
    audioPlaylistKey: audio === null ? null : keyOf(audio.name),
  };
}
