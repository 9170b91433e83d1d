/** How `npm start` waits before restarting a process that died. */
export const RESTART_DELAY = {
  /** After a healthy run (the process reached ready), and before the first restart. */
  firstMs: 1_000,
  /** Doubling stops here. */
  maxMs: 30_000,
} as const;

/**
 * The wait before restarting a process that exited. A run that reached ready (the API listening, a
 * worker subscribed) was healthy: the next restart comes after `firstMs` again, however often it
 * crashed before. A process that dies before it is ready (it cannot start) waits twice as long each
 * time, up to `maxMs`, so it does not spin.
 */
export function nextRestartDelay(previousMs: number | undefined, reachedReady: boolean): number {
  if (previousMs === undefined || reachedReady) return RESTART_DELAY.firstMs;
  return Math.min(previousMs * 2, RESTART_DELAY.maxMs);
}
