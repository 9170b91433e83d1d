import { describe, expect, it } from 'vitest';
import { planLadder, posterSize, type RenditionPlan } from '../../services/media/ladder.js';

const sizes = (plan: RenditionPlan[]) => plan.map((rung) => `${rung.label} ${rung.width}x${rung.height}`);

describe('planLadder', () => {
  it('caps a 4K source at 1080p and gives all four rungs', () => {
    expect(sizes(planLadder({ width: 3840, height: 2160 }))).toEqual([
      '1080p 1920x1080',
      '720p 1280x720',
      '480p 854x480', // 853.33 rounds to the nearest even width
      '360p 640x360',
    ]);
  });

  it('starts a 1080p source at its own size', () => {
    expect(sizes(planLadder({ width: 1920, height: 1080 }))[0]).toBe('1080p 1920x1080');
  });

  it('never upscales: a 720p source gets 720/480/360', () => {
    expect(sizes(planLadder({ width: 1280, height: 720 }))).toEqual(['720p 1280x720', '480p 854x480', '360p 640x360']);
  });

  it('skips a rung the source falls just short of (853x479 → only 360p, even dimensions)', () => {
    const plan = planLadder({ width: 853, height: 479 });
    expect(sizes(plan)).toEqual(['360p 642x360']); // 360 × 853/479 = 641.08 → nearest even 642
  });

  it('keeps the source aspect within rounding and makes every dimension even', () => {
    const sources = [
      { width: 3840, height: 2160 },
      { width: 853, height: 479 },
      { width: 1000, height: 999 },
      { width: 2048, height: 858 }, // 2.39:1 scope
      { width: 1440, height: 1080 }, // 4:3
      { width: 607, height: 1079 },
    ];
    for (const source of sources) {
      for (const rung of planLadder(source)) {
        expect(rung.width % 2, `${rung.label} of ${source.width}x${source.height}`).toBe(0);
        expect(rung.height % 2).toBe(0);
        expect(rung.width).toBeLessThanOrEqual(source.width);
        expect(rung.height).toBeLessThanOrEqual(source.height);
        // Rounding to even moves a side by at most one pixel from the exact aspect.
        const exactLong = (Math.min(rung.width, rung.height) * Math.max(source.width, source.height)) / Math.min(source.width, source.height);
        expect(Math.abs(Math.max(rung.width, rung.height) - exactLong)).toBeLessThanOrEqual(1);
      }
    }
  });

  it('names rungs by the shorter side, so portrait 1080x1920 keeps its orientation at every rung', () => {
    expect(sizes(planLadder({ width: 1080, height: 1920 }))).toEqual([
      '1080p 1080x1920',
      '720p 720x1280',
      '480p 480x854',
      '360p 360x640',
    ]);
  });

  it('plans a rotated phone clip (display 720x1280) as portrait renditions', () => {
    const plan = planLadder({ width: 720, height: 1280 });
    expect(sizes(plan)).toEqual(['720p 720x1280', '480p 480x854', '360p 360x640']);
    for (const rung of plan) expect(rung.height).toBeGreaterThan(rung.width);
  });

  it('gives a source below 360 exactly one rendition at its own size', () => {
    expect(sizes(planLadder({ width: 160, height: 120 }))).toEqual(['120p 160x120']);
    expect(sizes(planLadder({ width: 120, height: 160 }))).toEqual(['120p 120x160']);
  });

  it('rounds an odd tiny source down to even instead of upscaling', () => {
    expect(sizes(planLadder({ width: 161, height: 121 }))).toEqual(['120p 160x120']);
  });

  it('treats a square source as landscape (both sides equal)', () => {
    expect(sizes(planLadder({ width: 720, height: 720 }))).toEqual(['720p 720x720', '480p 480x480', '360p 360x360']);
  });

  it('handles extreme aspect ratios without exceeding the source', () => {
    expect(sizes(planLadder({ width: 4000, height: 400 }))).toEqual(['360p 3600x360']);
    expect(sizes(planLadder({ width: 1, height: 1 }))).toEqual(['2p 2x2']);
  });

  it('is a pure function: same input, same plan, input untouched', () => {
    const source = Object.freeze({ width: 1920, height: 1080 });
    expect(planLadder(source)).toEqual(planLadder(source));
  });
});

describe('posterSize', () => {
  it('uses the largest rendition no taller than 720p', () => {
    expect(posterSize(planLadder({ width: 3840, height: 2160 }))).toMatchObject({ width: 1280, height: 720 });
    expect(posterSize(planLadder({ width: 1080, height: 1920 }))).toMatchObject({ width: 720, height: 1280 });
    expect(posterSize(planLadder({ width: 854, height: 480 }))).toMatchObject({ width: 854, height: 480 });
    expect(posterSize(planLadder({ width: 160, height: 120 }))).toMatchObject({ width: 160, height: 120 });
  });

  it('is undefined for an empty plan', () => {
    expect(posterSize([])).toBeUndefined();
  });
});
