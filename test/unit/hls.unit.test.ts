import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../services/domain/errors.js';
import { VideoProcessedData } from '../../services/domain/events.js';
import { latestStreaming } from '../../services/domain/video.js';
import {
  aacCodecString,
  avcCodecString,
  measureBandwidth,
  readSegmentList,
  writeMasterPlaylist,
  writeMediaPlaylist,
  type AudioRendition,
  type VideoVariant,
} from '../../services/media/hls.js';
import { rateCap } from '../../services/media/ladder.js';
import { parseM3u8 } from '../helpers/playlists.js';

// What ffmpeg 5.1's dash muxer writes with -hls_playlist 1 (wall-clock PROGRAM-DATE-TIME included).
const FFMPEG_MEDIA_PLAYLIST = `#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:4
#EXT-X-MEDIA-SEQUENCE:1
#EXT-X-MAP:URI="init-0.m4s"
#EXTINF:4.000000,
#EXT-X-PROGRAM-DATE-TIME:2026-11-30T15:13:53.000+0000
seg-0-00001.m4s
#EXTINF:4.000000,
#EXT-X-PROGRAM-DATE-TIME:2026-11-30T15:13:57.000+0000
seg-0-00002.m4s
#EXTINF:2.040000,
seg-0-00003.m4s
#EXT-X-ENDLIST
`;

describe('readSegmentList + writeMediaPlaylist', () => {
  it("keeps ffmpeg's segments and map and writes a VOD playlist of independent segments", () => {
    const list = readSegmentList(FFMPEG_MEDIA_PLAYLIST);
    expect(list).toEqual({
      initUri: 'init-0.m4s',
      segments: [
        { uri: 'seg-0-00001.m4s', durationSeconds: 4 },
        { uri: 'seg-0-00002.m4s', durationSeconds: 4 },
        { uri: 'seg-0-00003.m4s', durationSeconds: 2.04 },
      ],
    });
    const text = writeMediaPlaylist(list);
    expect(text).not.toContain('PROGRAM-DATE-TIME');
    const parsed = parseM3u8(text);
    expect(parsed).toMatchObject({ playlistType: 'VOD', independentSegments: true, endList: true, targetDuration: 4 });
    expect(parsed.segments.map((segment) => [segment.uri, segment.duration, segment.map?.uri])).toEqual([
      ['seg-0-00001.m4s', 4, 'init-0.m4s'],
      ['seg-0-00002.m4s', 4, 'init-0.m4s'],
      ['seg-0-00003.m4s', 2.04, 'init-0.m4s'],
    ]);
  });

  it.each([
    ['no map', '#EXTM3U\n#EXTINF:4,\nseg.m4s\n'],
    ['no segment', '#EXTM3U\n#EXT-X-MAP:URI="init.m4s"\n#EXT-X-ENDLIST\n'],
    ['a segment without EXTINF', '#EXTM3U\n#EXT-X-MAP:URI="init.m4s"\nseg.m4s\n'],
  ])('refuses a playlist with %s as TRANSCODE_FAILED', (_what, text) => {
    expect(() => readSegmentList(text)).toThrow(expect.objectContaining({ code: ErrorCode.TRANSCODE_FAILED }));
  });
});

describe('measureBandwidth', () => {
  it('takes the busiest segment as the peak and all bytes over all seconds as the average', () => {
    const bandwidth = measureBandwidth([
      { uri: 'a', durationSeconds: 4, sizeBytes: 500_000 },
      { uri: 'b', durationSeconds: 4, sizeBytes: 1_000_000 },
      { uri: 'c', durationSeconds: 2, sizeBytes: 100_000 },
    ]);
    expect(bandwidth).toEqual({ peakBitsPerSecond: 2_000_000, averageBitsPerSecond: 1_280_000 });
  });

  it('measures a very short tail segment over half a second', () => {
    expect(measureBandwidth([{ uri: 'a', durationSeconds: 0.04, sizeBytes: 1000 }]).peakBitsPerSecond).toBe(16_000);
  });
});

const variant = (width: number, height: number, peak: number, average: number): VideoVariant => ({
  uri: `${height}p.m3u8`,
  width,
  height,
  frameRate: 29.97,
  videoCodec: 'avc1.64001f',
  bandwidth: { peakBitsPerSecond: peak, averageBitsPerSecond: average },
});
const audio: AudioRendition = { uri: 'audio.m3u8', codec: 'mp4a.40.2', bandwidth: { peakBitsPerSecond: 140_000, averageBitsPerSecond: 130_000 } };

describe('writeMasterPlaylist', () => {
  it('lists every variant, largest first, with measured bandwidth plus audio, codecs, resolution and frame rate', () => {
    const text = writeMasterPlaylist([variant(640, 360, 500_000, 400_000), variant(1280, 720, 2_500_000, 2_000_000)], audio);
    const parsed = parseM3u8(text);
    expect(parsed.independentSegments).toBe(true);
    expect(parsed.mediaGroups?.AUDIO?.audio?.audio).toMatchObject({ uri: 'audio.m3u8', default: true });
    expect(parsed.playlists?.map((playlist) => ({ uri: playlist.uri, ...playlist.attributes }))).toEqual([
      {
        uri: '720p.m3u8', BANDWIDTH: 2_640_000, 'AVERAGE-BANDWIDTH': '2130000', CODECS: 'avc1.64001f,mp4a.40.2',
        RESOLUTION: { width: 1280, height: 720 }, 'FRAME-RATE': 29.97, AUDIO: 'audio',
      },
      {
        uri: '360p.m3u8', BANDWIDTH: 640_000, 'AVERAGE-BANDWIDTH': '530000', CODECS: 'avc1.64001f,mp4a.40.2',
        RESOLUTION: { width: 640, height: 360 }, 'FRAME-RATE': 29.97, AUDIO: 'audio',
      },
    ]);
  });

  it('has no audio group, audio codec or audio bandwidth for a video without audio', () => {
    const text = writeMasterPlaylist([variant(640, 360, 500_000, 400_000)], null);
    expect(text).not.toMatch(/EXT-X-MEDIA|AUDIO|mp4a/);
    expect(parseM3u8(text).playlists?.[0]?.attributes).toMatchObject({ BANDWIDTH: 500_000, CODECS: 'avc1.64001f' });
  });
});

describe('codec strings', () => {
  it('reads avc1.PPCCLL from the avcC box of an init segment', () => {
    // size, 'avcC', version 1, profile 100 (High), constraints 0, level 31 (3.1), …
    const avcC = Buffer.from([0, 0, 0, 20, ...Buffer.from('avcC'), 1, 100, 0, 31, 0xff, 0xe1, 0, 0, 0, 0, 0, 0]);
    const segment = Buffer.concat([Buffer.from([0, 0, 0, 8, ...Buffer.from('ftyp')]), avcC]);
    expect(avcCodecString(segment)).toBe('avc1.64001f');
    expect(() => avcCodecString(Buffer.from('no box here'))).toThrow(expect.objectContaining({ code: ErrorCode.TRANSCODE_FAILED }));
  });

  it('maps AAC profiles to mp4a.40.N', () => {
    expect(aacCodecString('LC')).toBe('mp4a.40.2');
    expect(aacCodecString('HE-AAC')).toBe('mp4a.40.5');
    expect(() => aacCodecString('Main')).toThrow(expect.objectContaining({ code: ErrorCode.TRANSCODE_FAILED }));
  });
});

describe('rateCap', () => {
  it.each([
    [1920, 1080, 6000], [1280, 720, 3000], [854, 480, 1500], [480, 854, 1500], [640, 360, 365], [160, 120, 145],
  ])('%ix%i is capped at %i kbit/s with a two-second buffer', (width, height, kbps) => {
    expect(rateCap({ width, height })).toEqual({ maxrateKbps: kbps, bufsizeKbps: 2 * kbps });
  });
});

describe('VideoProcessed without streaming (recorded before adaptive streaming)', () => {
  const old = {
    taskId: '7f1c1a8e-2d7b-4c1e-9d1a-0b8f6c2e4a10',
    attempt: 1,
    media: { durationSeconds: 1, width: 160, height: 120, videoCodec: 'h264', audioCodec: null, frameRate: 25, rotation: 0 },
    renditions: [],
    poster: null,
    elapsedMs: 10,
  };

  it('still parses, and has no streaming outputs', () => {
    const data = VideoProcessedData.parse(old);
    expect(data.streaming).toBeUndefined();
    expect(latestStreaming([{ type: 'VideoProcessed', data }])).toBeNull();
  });

  it('the latest VideoProcessed decides', () => {
    const streaming = {
      hlsKey: 'renditions/v/stream/master.m3u8', dashKey: 'renditions/v/stream/manifest.mpd', segmentCount: 1, segmentSeconds: 4,
      variants: [{ label: '120p', width: 160, height: 120, frameRate: 25, codecs: 'avc1.64000c', bandwidth: 1, averageBandwidth: 1, playlistKey: 'renditions/v/stream/120p.m3u8' }],
      audioPlaylistKey: null,
    };
    const newer = VideoProcessedData.parse({ ...old, streaming });
    expect(latestStreaming([{ type: 'VideoProcessed', data: old }, { type: 'VideoProcessed', data: newer }])).toEqual(streaming);
    expect(latestStreaming([{ type: 'VideoProcessed', data: newer }, { type: 'VideoProcessed', data: old }])).toBeNull();
  });
});
