import type { MediaInfo } from '../domain/events.js';

/** One output of the ladder, in display pixels (both even, as yuv420p requires). */
export interface RenditionPlan {
  /** "1080p", "720p", …; for a source below the lowest rung, its own short side ("240p"). */
  label: string;
  width: number;
  height: number;
}

/** Rungs, largest first. */
export const LADDER_RUNGS: readonly number[] = [1080, 720, 480, 360];

/**
 * The renditions to produce for a source of the given display size. Pure.
 *
 * A rung names the SHORTER side, as "1080p" conventionally does for phones too: a portrait 1080x1920
 * gets 1080x1920, 720x1280, 480x854, 360x640. Rungs above the source's shorter side are skipped (never
 * upscale); a source whose shorter side is below the lowest rung gets exactly one rendition at its own
 * size. The longer side follows the source aspect ratio, rounded to an even number and never larger
 * than the source.
 */
export function planLadder(media: Pick<MediaInfo, 'width' | 'height'>): RenditionPlan[] {
  const shortSide = Math.min(media.width, media.height);
  const longSide = Math.max(media.width, media.height);
  const fitting = LADDER_RUNGS.filter((rung) => rung <= shortSide);
  const shorts = fitting.length > 0 ? fitting : [floorEven(shortSide)];
  return shorts.map((short) => {
    const long = Math.min(roundEven((short * longSide) / shortSide), floorEven(longSide));
    const [width, height] = media.width >= media.height ? [long, short] : [short, long];
    return { label: `${short}p`, width, height };
  });
}

/** The poster's size: the largest rendition whose shorter side is at most 720 (posters need no more). */
export function posterSize(plan: readonly RenditionPlan[]): RenditionPlan | undefined {
  return plan.find((rung) => Math.min(rung.width, rung.height) <= 720) ?? plan.at(-1);
}

// Both floors to 2: a 1-pixel side cannot be encoded in yuv420p, so it is the one place we upscale.
const roundEven = (value: number): number => Math.max(2, 2 * Math.round(value / 2));
const floorEven = (value: number): number => Math.max(2, 2 * Math.floor(value / 2));

/** Rate cap of one rung for capped-CRF encoding, in kbit/s. */
export interface RateCap {
  maxrateKbps: number;
  bufsizeKbps: number;
}

/**
 * Apple's HLS Authoring Specification for Apple Devices (2.0, "Video encoding requirements", the example
 * ladder for 30 fps H.264): its average bitrate per row, keyed by the row's shorter side. The first row
 * at least as tall as the rung applies; 480p falls between the spec's 432p (1100) and 540p (2000) rows.
 */
const APPLE_LADDER_KBPS: readonly (readonly [shortSide: number, kbps: number])[] = [
  [234, 145],
  [360, 365],
  [432, 1100],
  [480, 1500],
  [540, 2000],
  [720, 3000],
  [1080, 6000],
];

/**
 * `-maxrate`/`-bufsize` of a rung. CRF decides the quality and the cap only bites on hard scenes: maxrate is
 * Apple's average for that size and the VBV buffer holds two seconds of it (one GOP), which keeps every
 * 2 s stretch within 2x the average, the spec's limit for a VOD peak. Pure.
 */
export function rateCap(rung: Pick<RenditionPlan, 'width' | 'height'>): RateCap {
  const short = Math.min(rung.width, rung.height);
  const row = APPLE_LADDER_KBPS.find(([side]) => side >= short) ?? APPLE_LADDER_KBPS[APPLE_LADDER_KBPS.length - 1]!;
  return { maxrateKbps: row[1], bufsizeKbps: row[1] * 2 };
}
