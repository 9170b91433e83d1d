/**
 * Tracks the attempt in flight (the handling of the delivery in hand) so shutdown can wait for it, then
 * abort it (killing ffmpeg) once the grace period is over.
 */
export interface AttemptTracker {
  run<T>(attempt: (signal: AbortSignal) => Promise<T>): Promise<T>;
  /** Waits up to `graceMs` for running attempts, then aborts them and waits for them to unwind. */
  drain(graceMs: number): Promise<void>;
}

export function createAttemptTracker(): AttemptTracker {
  const running = new Map<Promise<unknown>, AbortController>();
  return {
    run(attempt) {
      const controller = new AbortController();
      const promise = attempt(controller.signal);
      const settled = promise.then(() => undefined, () => undefined);
      running.set(settled, controller);
      void settled.then(() => running.delete(settled));
      return promise;
    },
    async drain(graceMs) {
      if (running.size === 0) return;
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), graceMs);
      });
      const all = Promise.all(running.keys()).then(() => 'done' as const);
      if ((await Promise.race([all, graceOver])) === 'timeout') {
        for (const controller of running.values()) controller.abort();
        await all;
      }
      clearTimeout(timer);
    },
  };
}
