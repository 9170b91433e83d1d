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
