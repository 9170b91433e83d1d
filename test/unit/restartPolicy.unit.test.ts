import { describe, expect, it } from 'vitest';
import { RESTART_DELAY, nextRestartDelay } from '../../services/main/restartPolicy.js';

describe('npm start restart delay', () => {
  it('doubles while a process dies before it is ready, up to the maximum', () => {
    const delays: number[] = [];
    let previous: number | undefined;
    for (let i = 0; i < 8; i += 1) delays.push((previous = nextRestartDelay(previous, false)));
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
  });

  it('starts again from the first delay after a run that reached ready', () => {
    expect(nextRestartDelay(RESTART_DELAY.maxMs, true)).toBe(RESTART_DELAY.firstMs);
    expect(nextRestartDelay(8_000, true)).toBe(1_000);
  });
});
