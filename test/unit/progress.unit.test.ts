import { describe, expect, it } from 'vitest';
import { parseProgressNotice, throttleProgress } from '../../services/eventstore/notifications.js';
import { nextProgress } from '../../services/api/subscriptions/videoProgress.js';

describe('progress throttle', () => {
  it('sends the first tick, then only after the interval or a big enough step, and always 100', () => {
    let now = 0;
    const sent: number[] = [];
    const report = throttleProgress((p) => sent.push(p), { minIntervalMs: 1_000, minStepPercent: 5, now: () => now });
    report(1); // first: sent
    now = 100;
    report(2); // 100 ms, +1 %: dropped
    report(6.5); // +5.5 %: sent
    now = 1_200;
    report(7); // 1.1 s later: sent
    now = 1_300;
    report(8); // dropped
    report(100); // the end: sent
    report(100); // the same again: dropped
    expect(sent).toEqual([1, 6.5, 7, 100]);
  });
});

describe('progress notice', () => {
  it('parses and clamps a payload, and ignores a malformed one', () => {
    expect(parseProgressNotice('{"videoId":"v","percent":140}')).toEqual({ videoId: 'v', percent: 100 });
    expect(parseProgressNotice('{"videoId":"v","percent":"12"}')).toBeNull();
    expect(parseProgressNotice('not json')).toBeNull();
  });
});

describe('a split video\'s progress (parts)', () => {
  it('is the weighted sum over parts, each at the most it reached: never going back', () => {
    const part = (key: string, weight: number, percent: number) => ({ videoId: 'v', percent, part: { key, weight } });
    let p = nextProgress(undefined, part('segment:0', 0.45, 50));
    expect(p.percent).toBe(22.5);
    p = nextProgress(p, part('segment:1', 0.45, 100));
    expect(p.percent).toBe(67.5);
    // Segment 0 retried from 0: its share keeps the most it reached.
    p = nextProgress(p, part('segment:0', 0.45, 10));
    expect(p.percent).toBe(67.5);
    p = nextProgress(p, part('segment:0', 0.45, 100));
    p = nextProgress(p, part('stitch', 0.1, 100));
    expect(p.percent).toBe(100);
    expect(parseProgressNotice(JSON.stringify(part('stitch', 0.1, 40)))).toEqual(part('stitch', 0.1, 40));
    expect(parseProgressNotice(JSON.stringify(part('stitch', 2, 40)))).toBeNull();
  });
  it('a whole transcode reports the video\'s percent as before', () => {
    expect(nextProgress(undefined, { videoId: 'v', percent: 40 }).percent).toBe(40);
  });
});
