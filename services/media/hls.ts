import { ErrorCode, FramelogError } from '../domain/errors.js';

/**
 * HLS playlists as framelog writes them (DESIGN §10). Pure: text in, text out, no I/O.
 *
 * ffmpeg's dash muxer (`-hls_playlist 1`) writes media playlists over the CMAF segments, but without
 * #EXT-X-INDEPENDENT-SEGMENTS or #EXT-X-PLAYLIST-TYPE and with wall-clock PROGRAM-DATE-TIME lines, and its
 * master playlist takes BANDWIDTH from configured bitrates (under CRF: the audio bitrate). So framelog reads
 * only the segment list from ffmpeg's media playlists and writes every playlist itself, with bandwidths
 * measured from the segments' sizes.
 */

export interface Segment {
  uri: string;
  /** EXTINF duration in seconds. */
  durationSeconds: number;
}

export interface SegmentList {
  /** URI of the fMP4 initialization segment (#EXT-X-MAP). */
  initUri: string;
  segments: Segment[];
}

export interface SizedSegment extends Segment {
  sizeBytes: number;
}

export interface Bandwidth {
  /** Highest bitrate of any one segment, bits per second (HLS BANDWIDTH). */
  peakBitsPerSecond: number;
  /** Bits of all segments over their total duration, bits per second (HLS AVERAGE-BANDWIDTH). */
  averageBitsPerSecond: number;
}

export interface VideoVariant {
  uri: string;
  width: number;
  height: number;
  /** Frames per second as the stream declares it (FRAME-RATE, three decimals). */
  frameRate: number | null;
  /** RFC 6381 codec of the video stream, e.g. `avc1.64001f` (avcCodecString). */
  videoCodec: string;
  bandwidth: Bandwidth;
}

export interface AudioRendition {
  uri: string;
  /** e.g. `mp4a.40.2` (aacCodecString). */
  codec: string;
  bandwidth: Bandwidth;
}

/** ffmpeg wrote something framelog cannot package: TRANSCODE_FAILED, retried like any failed run. */
const packagingFailed = (message: string): FramelogError =>
  new FramelogError(ErrorCode.TRANSCODE_FAILED, `Packaging failed: ${message}`, { retryable: true });

/**
 * The init segment and segments of a media playlist (ffmpeg's). Only #EXT-X-MAP, #EXTINF and URI lines
 * matter; other tags are skipped. Throws TRANSCODE_FAILED when there is no map, no segment, or an EXTINF
 * without a URI after it.
 */
export function readSegmentList(text: string): SegmentList {
  let initUri: string | null = null;
  let pending: number | null = null;
  const segments: Segment[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith('#EXT-X-MAP:')) initUri = /URI="([^"]+)"/.exec(line)?.[1] ?? null;
    else if (line.startsWith('#EXTINF:')) pending = Number.parseFloat(line.slice('#EXTINF:'.length));
    else if (line !== '' && !line.startsWith('#')) {
      if (pending === null || !Number.isFinite(pending)) throw packagingFailed(`Segment ${line} has no EXTINF duration.`);
      segments.push({ uri: line, durationSeconds: pending });
      pending = null;
    }
  }
  if (initUri === null) throw packagingFailed('The media playlist has no #EXT-X-MAP.');
  if (segments.length === 0) throw packagingFailed('The media playlist has no segments.');
  return { initUri, segments };
}

/** A VOD media playlist over fMP4 segments: every segment starts with a keyframe (INDEPENDENT-SEGMENTS). */
export function writeMediaPlaylist(list: SegmentList): string {
  const target = Math.max(...list.segments.map((segment) => Math.round(segment.durationSeconds)));
  return lines([
    '#EXTM3U',
    '#EXT-X-VERSION:7',
    `#EXT-X-TARGETDURATION:${target}`,
    '#EXT-X-MEDIA-SEQUENCE:0',
    '#EXT-X-PLAYLIST-TYPE:VOD',
    '#EXT-X-INDEPENDENT-SEGMENTS',
    `#EXT-X-MAP:URI="${list.initUri}"`,
    ...list.segments.flatMap((segment) => [`#EXTINF:${segment.durationSeconds.toFixed(6)},`, segment.uri]),
    '#EXT-X-ENDLIST',
  ]);
}

/**
 * Peak and average bitrate of a rendition's segments. A segment shorter than 0.5 s (the tail) is measured
 * over 0.5 s, so that a few bytes in a few milliseconds cannot claim an absurd peak.
 */
export function measureBandwidth(segments: readonly SizedSegment[]): Bandwidth {
  if (segments.length === 0) throw packagingFailed('Cannot measure the bandwidth of no segments.');
  const peak = Math.max(...segments.map((s) => (s.sizeBytes * 8) / Math.max(s.durationSeconds, 0.5)));
  const bits = segments.reduce((sum, s) => sum + s.sizeBytes * 8, 0);
  const seconds = segments.reduce((sum, s) => sum + s.durationSeconds, 0);
  return { peakBitsPerSecond: Math.ceil(peak), averageBitsPerSecond: Math.ceil(bits / Math.max(seconds, 0.5)) };
}

const AUDIO_GROUP = 'audio';

/**
 * The master playlist: one #EXT-X-STREAM-INF per video variant, largest first, and the audio (if any) as
 * one #EXT-X-MEDIA rendition every variant refers to. A variant's BANDWIDTH is its video peak plus the
 * audio peak (the two play together), AVERAGE-BANDWIDTH likewise (RFC 8216 §4.3.4.2).
 */
export function writeMasterPlaylist(variants: readonly VideoVariant[], audio: AudioRendition | null): string {
  if (variants.length === 0) throw packagingFailed('A master playlist needs at least one variant.');
  const media = audio === null ? [] : [`#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="${AUDIO_GROUP}",NAME="audio",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="${audio.uri}"`];
  const sorted = [...variants].sort((a, b) => b.bandwidth.peakBitsPerSecond - a.bandwidth.peakBitsPerSecond);
  const streams = sorted.flatMap((variant) => {
    const attributes = [
      `BANDWIDTH=${variant.bandwidth.peakBitsPerSecond + (audio?.bandwidth.peakBitsPerSecond ?? 0)}`,
      `AVERAGE-BANDWIDTH=${variant.bandwidth.averageBitsPerSecond + (audio?.bandwidth.averageBitsPerSecond ?? 0)}`,
      `CODECS="${audio === null ? variant.videoCodec : `${variant.videoCodec},${audio.codec}`}"`,
      `RESOLUTION=${variant.width}x${variant.height}`,
      ...(variant.frameRate === null ? [] : [`FRAME-RATE=${variant.frameRate.toFixed(3)}`]),
      ...(audio === null ? [] : [`AUDIO="${AUDIO_GROUP}"`]),
    ];
    return [`#EXT-X-STREAM-INF:${attributes.join(',')}`, variant.uri];
  });
  return lines(['#EXTM3U', '#EXT-X-VERSION:7', '#EXT-X-INDEPENDENT-SEGMENTS', ...media, ...streams]);
}

/**
 * `avc1.PPCCLL` (RFC 6381) from an H.264 init segment: the three bytes after the `avcC` box's version
 * byte are profile_idc, the constraint flags and level_idc (ISO/IEC 14496-15 §5.3.3.1). Throws
 * TRANSCODE_FAILED when the segment holds no avcC box.
 */
export function avcCodecString(initSegment: Uint8Array): string {
  const tag = Buffer.from('avcC', 'latin1');
  const at = Buffer.from(initSegment.buffer, initSegment.byteOffset, initSegment.byteLength).indexOf(tag);
  if (at < 0 || at + 8 > initSegment.length) throw packagingFailed('The init segment has no avcC box (not H.264).');
  const hex = (offset: number): string => (initSegment[at + offset] ?? 0).toString(16).padStart(2, '0');
  return `avc1.${hex(5)}${hex(6)}${hex(7)}`;
}

/** AAC object types by ffprobe's profile name (ISO/IEC 14496-3 Table 1.1). */
const AAC_OBJECT_TYPES: Record<string, number> = { LC: 2, 'HE-AAC': 5, 'HE-AACv2': 29 };

/** `mp4a.40.N` from ffprobe's AAC profile name; throws TRANSCODE_FAILED for anything else. */
export function aacCodecString(profile: string | undefined): string {
  const objectType = profile === undefined ? undefined : AAC_OBJECT_TYPES[profile];
  if (objectType === undefined) throw packagingFailed(`Unknown AAC profile ${JSON.stringify(profile)}.`);
  return `mp4a.40.${objectType}`;
}

const lines = (all: readonly string[]): string => `${all.join('\n')}\n`;
