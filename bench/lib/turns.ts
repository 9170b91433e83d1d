/**
 * Runs framelog and its baseline `runs` times each, taking turns and alternating which goes first (load
 * drifts on a shared machine); returns every figure of each side in run order.
 */
export async function takeTurns(runs: number, framelogRun: () => Promise<number>, baselineRun: () => Promise<number>): Promise<{ framelog: number[]; baseline: number[] }> {
  const framelog: number[] = [];
  const baseline: number[] = [];
  for (let i = 0; i < runs; i += 1) {
    if (i % 2 === 0) {
      framelog.push(await framelogRun());
      baseline.push(await baselineRun());
    } else {
      baseline.push(await baselineRun());
      framelog.push(await framelogRun());
    }
  }
  return { framelog, baseline };
}
