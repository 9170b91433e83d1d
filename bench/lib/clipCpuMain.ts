import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { clipProcessor } from './clipProcessor.js';

// Run by clipCpu.ts in a process of its own: processes one 720p clip with the worker's processor and
// prints the CPU milliseconds it took, this process's plus its children's (ffmpeg, ffprobe). A process
// of its own because fluent-ffmpeg reads FFMPEG_PATH once per process, which the ffmpeg benchmark sets.
const seconds = Number(process.env.CLIP_SECONDS ?? '10');
const hz = Number(process.env.CLK_TCK ?? '100');

/** User + system time of this process's waited-for children (cutime + cstime, stat(5) fields 16-17), in ms. */
async function childrenCpuMs(): Promise<number> {
  const stat = await readFile('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[13]) + Number(fields[14])) * 1000) / hz;
}

const dir = await mkdtemp(path.join(tmpdir(), 'framelog-bench-clip-cpu-'));
try {
  const processOnce = await clipProcessor(dir, { width: 1280, height: 720, seconds });
  const childrenBefore = await childrenCpuMs();
  const ownBefore = process.cpuUsage();
  const started = performance.now();
  await processOnce();
  const wallMs = performance.now() - started;
  const own = process.cpuUsage(ownBefore);
  const cpuMs = (await childrenCpuMs()) - childrenBefore + (own.user + own.system) / 1000;
  console.log(JSON.stringify({ msg: 'clip processed', seconds, cpuMs, wallMs }));
} finally {
  await rm(dir, { recursive: true, force: true });
}
