import { readFile } from 'node:fs/promises';

/** Resident set size of a process in bytes, from /proc (Linux). */
export async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!match?.[1]) throw new Error(`No VmRSS for process ${pid}`);
  return Number(match[1]) * 1024;
}

export interface RssSampler {
  /** Stops sampling; returns the largest RSS seen. */
  stop(): Promise<number>;
}

/** Samples a process's RSS every `intervalMs` and keeps the peak. */
export function sampleRss(pid: number, intervalMs = 50): RssSampler {
  let peak = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      peak = Math.max(peak, await rssBytes(pid).catch(() => 0));
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return Math.max(peak, await rssBytes(pid).catch(() => 0));
    },
  };
}
