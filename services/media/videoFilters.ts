import { parseRate, type FfprobeStream } from './ffprobe.js';

/**
 * The picture work every output shares, as ffmpeg filter chains: deinterlacing, HDR to SDR tone-mapping,
 * the per-rung frame-rate cap and the colour tags. transcode.ts and poster.ts put these around their own
 * scaling, so what a source needs is decided here once. Pure.
 */

/** What the source's picture needs before it can become SDR progressive H.264. */
export interface PictureTraits {
  /** High dynamic range transfer: PQ (HDR10, Dolby Vision 8.1) or HLG (also Dolby Vision 8.4); null for SDR. */
  hdr: 'pq' | 'hlg' | null;
  /** The stream says its frames are interlaced (field_order tt, bb, tb or bt). */
  interlaced: boolean;
  /** The highest frame rate the stream reaches (ffprobe's r_frame_rate), null when unknown. */
  maxFrameRate: number | null;
}

const INTERLACED_FIELD_ORDERS = new Set(['tt', 'bb', 'tb', 'bt']);

/** Reads PictureTraits from ffprobe's description of the video stream. */
export function pictureTraits(stream: FfprobeStream): PictureTraits {
  return {
    hdr: hdrTransfer(stream),
    interlaced: INTERLACED_FIELD_ORDERS.has(stream.field_order ?? ''),
    maxFrameRate: parseRate(stream.r_frame_rate),
  };
}

/**
 * PQ or HLG from the transfer characteristic; failing that, from a Dolby Vision configuration record whose
 * base layer is HDR10-compatible (1) or HLG-compatible (4), which some phones write without colour tags.
 */
function hdrTransfer(stream: FfprobeStream): PictureTraits['hdr'] {
  if (stream.color_transfer === 'smpte2084') return 'pq';
  if (stream.color_transfer === 'arib-std-b67') return 'hlg';
  const dovi = stream.side_data_list?.find((side) => side.dv_profile !== undefined);
  if (dovi?.dv_bl_signal_compatibility_id === 1) return 'pq';
  if (dovi?.dv_bl_signal_compatibility_id === 4) return 'hlg';
  return null;
}

/**
 * Filters applied once to the decoded source, before it is split or scaled: `bwdif` for interlaced
 * sources (one frame per frame, so the frame count and timing stay the source's), then, for HDR, a
 * tone-map to BT.709 SDR (zscale to linear light, Hable curve, back to BT.709 limited range). The tone-map
 * also resizes to `fit` (the largest output) first, so a 4K HDR source is not tone-mapped at 4K.
 */
export function sourceFilters(traits: PictureTraits, fit?: { width: number; height: number }): string[] {
  const filters: string[] = [];
  if (traits.interlaced) filters.push('bwdif=mode=send_frame:parity=auto:deint=all');
  if (traits.hdr !== null) filters.push(...toneMapFilters(traits.hdr, fit));
  return filters;
}

function toneMapFilters(hdr: 'pq' | 'hlg', fit?: { width: number; height: number }): string[] {
  const size = fit === undefined ? '' : `w=${fit.width}:h=${fit.height}:`;
  const transferIn = hdr === 'pq' ? 'smpte2084' : 'arib-std-b67';
  return [
    // The input's properties are stated, not read from the frames: a Dolby Vision source may not tag them.
    `zscale=${size}tin=${transferIn}:pin=bt2020:min=bt2020nc:t=linear:npl=100`,
    'format=gbrpf32le',
    'zscale=p=bt709',
    'tonemap=tonemap=hable:desat=0',
    'zscale=t=bt709:m=bt709:r=tv',
    'format=yuv420p',
  ];
}

/**
 * Colour tags of every output of a tone-mapped source: BT.709 primaries, transfer and matrix, limited
 * range, so players do not treat the SDR pixels as PQ or HLG. SDR sources keep what they had.
 */
export function colourTagFilters(traits: PictureTraits): string[] {
  return traits.hdr === null ? [] : ['setparams=range=tv:color_primaries=bt709:color_trc=bt709:colorspace=bt709'];
}

/** The poster's `-vf`: the source filters (deinterlaced, tone-mapped), its size, square pixels, colour tags. */
export function posterFilters(traits: PictureTraits, size: { width: number; height: number }): string {
  return [...sourceFilters(traits, size), `scale=${size.width}:${size.height}`, 'setsar=1', ...colourTagFilters(traits)].join(',');
}

/**
 * Highest frame rate of a rendition whose shorter side is `shortSide` pixels: 60 fps above 480p, 30 fps at
 * 480p and below, where higher rates cost bits that small screens do not show.
 */
export function frameRateCap(shortSide: number): number {
  return shortSide > 480 ? 60 : 30;
}

/**
 * Drops frames, never duplicates them, so that no two kept frames are closer than 1/cap (less 1 ms for
 * timestamp rounding): a 120 fps source becomes 60 or 30 fps, 50 fps becomes 25 at the small rungs, and a
 * variable-rate source keeps its timing and never gains frames. Empty when the source never exceeds the cap.
 */
export function frameRateCapFilters(traits: PictureTraits, shortSide: number): string[] {
  const cap = frameRateCap(shortSide);
  if (traits.maxFrameRate !== null && traits.maxFrameRate <= cap + 0.01) return [];
  const minGap = (1 / cap - 0.001).toFixed(6);
  return [`select=expr=isnan(prev_selected_t)+gte(t-prev_selected_t\\,${minGap})`];
}

/**
 * Output options that keep each frame's own timestamp (variable frame rate) instead of ffmpeg's default
 * for MP4, a constant rate that duplicates frames to fill the gaps of a VFR source.
 */
export const FRAME_TIMING_OPTIONS: readonly string[] = ['-fps_mode', 'vfr'];
