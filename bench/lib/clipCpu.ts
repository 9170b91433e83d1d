import { startEntry } from '../../test/helpers/processes.js';
import { ticksPerSecond } from './cpuTime.js';

/** CPU time of processing one clip, for judging the pipeline's own cost against the media work it carries. */
export interface ClipCpu {
  /** Length of the 720p30 clip with audio. */
  seconds: number;
  /** CPU milliseconds of the processor's process and its ffmpeg/ffprobe children, all cores together. */
  cpuMs: number;
  wallMs: number;
}

/** Processes one 720p clip of `seconds` with the worker's processor (default settings) in a child process. */
export async function measureClipCpu(seconds: number): Promise<ClipCpu> {
  const child = startEntry('clip-cpu', 'bench/lib/clipCpuMain.ts', { CLIP_SECONDS: String(seconds), CLK_TCK: String(await ticksPerSecond()) });
  try {
    const line = await child.waitForLog((l) => l.msg === 'clip processed', 600_000);
    return { seconds, cpuMs: Number(line.cpuMs), wallMs: Number(line.wallMs) };
  } finally {
    await child.stop('SIGKILL');
  }
}
