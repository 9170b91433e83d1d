import { describe, expect, it } from 'vitest';
import { parseDecodableCodecs } from '../../services/media/codecs.js';
import { needsPacketScan, PacketLengthCounter, type PacketTimes } from '../../services/media/contentLength.js';
import { parsePacketLine } from '../../services/media/packetScan.js';
import { frameRateCapFilters, pictureTraits } from '../../services/media/videoFilters.js';

/** Packets of one stream at `rate` per second from `from` to `to` seconds (dts = pts, no reordering). */
const packets = (streamIndex: number, from: number, to: number, rate: number): PacketTimes[] =>
  Array.from({ length: Math.round((to - from) * rate) }, (_, i) => ({ streamIndex, pts: from + i / rate, dts: from + i / rate, duration: 1 / rate }));

function lengthOf(formatName: string, all: PacketTimes[]): number {
  const counter = new PacketLengthCounter(formatName);
  for (const packet of all) counter.add(packet);
  return counter.result().contentSeconds.get(0) ?? 0;
}

describe('PacketLengthCounter', () => {
  it('bridges a timestamp jump in MPEG-TS and counts a restart as more content', () => {
    expect(lengthOf('mpegts', [...packets(0, 1.4, 6.4, 30), ...packets(0, 1001.4, 1006.4, 30)])).toBeCloseTo(10, 5);
    expect(lengthOf('mpegts', [...packets(0, 1.4, 6.4, 30), ...packets(0, 1.4, 6.4, 30)])).toBeCloseTo(10, 5);
  });

  it('keeps a forward gap where ffmpeg keeps it (Matroska), and B-frame reordering is not a restart', () => {
    expect(lengthOf('matroska,webm', [...packets(0, 0, 2, 10), ...packets(0, 30, 32, 10)])).toBeCloseTo(32, 5);
    const reordered = [0, 0.3, 0.1, 0.2, 0.6, 0.4, 0.5].map((pts) => ({ streamIndex: 0, pts, dts: null, duration: 0.1 }));
    expect(lengthOf('matroska,webm', reordered)).toBeCloseTo(0.7, 5);
  });

  it('reports the latest packet end of any stream', () => {
    const counter = new PacketLengthCounter('matroska,webm');
    for (const packet of [...packets(0, 0, 4, 10), { streamIndex: 2, pts: 10, dts: 10, duration: 2 }]) counter.add(packet);
    expect(counter.result().lastEndSeconds).toBe(12);
    expect(counter.secondsOf(0)).toBeCloseTo(4, 5);
  });
});

describe('needsPacketScan', () => {
  const stream = (duration: string | undefined, duration_ts?: number) => ({ index: 0, codec_type: 'video', duration, duration_ts });
  it('trusts MP4 track durations unless one says "unknown"; scans every other container', () => {
    expect(needsPacketScan({ format: { format_name: 'mov,mp4,m4a,3gp,3g2,mj2' }, streams: [stream('4')] })).toBe(false);
    expect(needsPacketScan({ format: { format_name: 'mov,mp4,m4a,3gp,3g2,mj2' }, streams: [stream('279620.27', 0xffff_ffff)] })).toBe(true);
    expect(needsPacketScan({ format: { format_name: 'matroska,webm' }, streams: [stream(undefined)] })).toBe(true);
    expect(needsPacketScan({ format: { format_name: 'mpegts' }, streams: [stream('4')] })).toBe(true);
  });
});

describe('parsePacketLine', () => {
  it("reads ffprobe's compact packet lines, N/A as null, and skips anything else", () => {
    expect(parsePacketLine('stream_index=1|pts_time=1.4|dts_time=N/A|duration_time=0.033333|')).toEqual({ streamIndex: 1, pts: 1.4, dts: null, duration: 0.033333 });
    expect(parsePacketLine('')).toBeNull();
    expect(parsePacketLine('side_data|side_data_type=MPEGTS Stream ID')).toBeNull();
  });
});

describe('parseDecodableCodecs', () => {
  it('keeps codecs whose first flag is D, not the legend', () => {
    const listing = ' D..... = Decoding supported\n -------\n DEV.LS h264                 H.264\n ..V.L. vvc                  H.266\n ..A.L. mpegh_3d_audio       MPEG-H\n DEAIL. aac                  AAC\n';
    expect([...parseDecodableCodecs(listing)].sort()).toEqual(['aac', 'h264']);
  });
});

describe('pictureTraits and frameRateCapFilters', () => {
  it('reads PQ, HLG (also from a Dolby Vision record without tags) and interlacing', () => {
    expect(pictureTraits({ index: 0, color_transfer: 'smpte2084', field_order: 'progressive', r_frame_rate: '30/1' })).toEqual({ hdr: 'pq', interlaced: false, maxFrameRate: 30 });
    expect(pictureTraits({ index: 0, color_transfer: 'arib-std-b67' }).hdr).toBe('hlg');
    expect(pictureTraits({ index: 0, side_data_list: [{ side_data_type: 'DOVI configuration record', dv_profile: 8, dv_bl_signal_compatibility_id: 4 }] }).hdr).toBe('hlg');
    expect(pictureTraits({ index: 0, color_transfer: 'bt709', field_order: 'tt' })).toMatchObject({ hdr: null, interlaced: true });
  });

  it('caps at 60 fps above 480p and 30 at 480p and below, only when the source exceeds the cap', () => {
    const at = (maxFrameRate: number | null) => ({ hdr: null, interlaced: false, maxFrameRate });
    expect(frameRateCapFilters(at(59.94), 720)).toEqual([]);
    expect(frameRateCapFilters(at(120), 720)).toEqual(['select=expr=isnan(prev_selected_t)+gte(t-prev_selected_t\\,0.015667)']);
    expect(frameRateCapFilters(at(60), 480)).toEqual(['select=expr=isnan(prev_selected_t)+gte(t-prev_selected_t\\,0.032333)']);
    expect(frameRateCapFilters(at(30), 360)).toEqual([]);
    expect(frameRateCapFilters(at(null), 360)).toHaveLength(1);
  });
});
