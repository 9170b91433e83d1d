import { describe, expect, it } from 'vitest';
import { parseProgressNotice, throttleProgress } from '../../services/eventstore/notifications.js';

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
