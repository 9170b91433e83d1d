import { describe, expect, it } from 'vitest';
import { concurrentGroups, type RecordedCall } from '../../bench/lib/ffmpegRecorder.js';
import { absoluteRow, row } from '../../bench/lib/results.js';
import { openLoop } from '../../bench/lib/stats.js';
import { waitFor } from '../helpers/processes.js';

const call = (name: string, startedNs: number, endedNs: number | null): RecordedCall => ({
  args: [name],
  startedNs: BigInt(startedNs),
  endedNs: endedNs === null ? null : BigInt(endedNs),
});
const names = (groups: RecordedCall[][]) => groups.map((g) => g.map((c) => c.args[0]));

describe('concurrentGroups (how recorded ffmpeg calls are replayed)', () => {
  it('replays calls that ran one after another one after another', () => {
    expect(names(concurrentGroups([call('b', 20, 30), call('a', 0, 10)]))).toEqual([['a'], ['b']]);
  });

  it('replays calls whose runs overlapped at the same time', () => {
    const calls = [call('a', 0, 10), call('b', 5, 30), call('c', 20, 25), call('d', 30, 40)];
    expect(names(concurrentGroups(calls))).toEqual([['a', 'b', 'c'], ['d']]);
  });

  it('gives each untimed call a group of its own', () => {
    expect(names(concurrentGroups([call('a', 0, null), call('b', 1, null)]))).toEqual([['a'], ['b']]);
  });
});

describe('openLoop', () => {
  it('starts every call on schedule even while earlier calls have not answered', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let started = 0;
    const done = openLoop(1_000, 20, async () => {
      started += 1;
      await gate;
    });
    // openLoop fixed its schedule before returning: the first call is due at most 50 ms after this.
    const calledAt = performance.now();
    await waitFor(() => started === 20, { timeoutMs: 5_000, message: 'all 20 calls started' });
    const releasedAt = performance.now();
    release();
    const latencies = await done;
    // Counted from each call's scheduled time, so the first one includes all the time it was held.
    expect(latencies).toHaveLength(20);
    expect(Math.max(...latencies)).toBeGreaterThanOrEqual(releasedAt - calledAt - 50);
  });
});

describe('bench rows', () => {
  it('marks a row with an infinite limit report only, never a miss', () => {
    const floor = row({ benchmark: 't', measure: 'm', unit: 'x', framelog: 1, baseline: 4, comparison: '>=', limit: Number.NEGATIVE_INFINITY });
    expect(floor).toMatchObject({ target: 'report only', pass: true, ratio: 0.25 });
    const cpu = absoluteRow({ benchmark: 't', measure: 'm', unit: 'ms', value: 4, comparison: '<=', limit: Number.POSITIVE_INFINITY });
    expect(cpu).toMatchObject({ target: 'report only', pass: true });
  });

  it('says MISS through pass=false when a target is not met', () => {
    expect(row({ benchmark: 't', measure: 'm', unit: 'x', framelog: 1, baseline: 2, comparison: '>=', limit: 0.7 }).pass).toBe(false);
    expect(absoluteRow({ benchmark: 't', measure: 'm', unit: '%', value: 1.5, comparison: '<=', limit: 1 }).pass).toBe(false);
  });
});
