/** Nearest-rank percentile (p in 0..100) of unsorted samples; NaN when there are none. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] ?? Number.NaN;
}

export function median(samples: readonly number[]): number {
  return percentile(samples, 50);
}

/** Runs `task(i)` for i in 0..count-1 with at most `concurrency` in flight. */
export async function runConcurrently(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      const i = next;
      next += 1;
      await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
}

/**
 * An open loop's schedule: calls `start(i, dueAt)` when call i comes due, at `clock()` + 50 ms + i/rate,
 * whether or not earlier calls have settled; resolves once all have. Timers fire late by a millisecond
 * or more, so calls that came due meanwhile start at once.
 */
export async function onSchedule(rate: number, count: number, start: (i: number, dueAt: number) => Promise<void>, clock: () => number = () => performance.now()): Promise<void> {
  const calls: Promise<void>[] = [];
  const startedAt = clock() + 50;
  for (let i = 0; i < count; i += 1) {
    const dueAt = startedAt + (i * 1000) / rate;
    const wait = dueAt - clock();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    calls.push(start(i, dueAt));
  }
  await Promise.all(calls);
}

/**
 * Open loop: each call starts when it comes due (onSchedule) and its latency counts from then, not from
 * when it could be sent, so a stalled server cannot hide latency by slowing the generator down
 * (coordinated omission). Returns every call's latency in ms.
 */
export async function openLoop(rate: number, count: number, call: (i: number) => Promise<void>): Promise<number[]> {
  const latencies: number[] = [];
  await onSchedule(rate, count, (i, dueAt) => call(i).then(() => void latencies.push(performance.now() - dueAt)));
  return latencies;
}

/** Wall-clock milliseconds `fn` takes. */
export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

/**
 * Times both sides `runs` times, taking turns at going first (the baseline on even runs): that cancels what
 * running second gains or loses (cache, load drift). Returns each side's durations in ms, in run order.
 */
export async function takeTurns(
  runs: number,
  framelog: () => Promise<unknown>,
  baseline: () => Promise<unknown>,
): Promise<{ framelogMs: number[]; baselineMs: number[] }> {
  const framelogMs: number[] = [];
  const baselineMs: number[] = [];
  for (let i = 0; i < runs; i += 1) {
    if (i % 2 === 0) {
      baselineMs.push(await timed(baseline));
      framelogMs.push(await timed(framelog));
    } else {
      framelogMs.push(await timed(framelog));
      baselineMs.push(await timed(baseline));
    }
  }
  return { framelogMs, baselineMs };
}
