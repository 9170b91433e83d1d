import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { ErrorCode, FramelogError } from '../domain/errors.js';
import { abortError } from './abort.js';
import { PacketLengthCounter, type PacketLengths, type PacketTimes } from './contentLength.js';
import { fileUrl, SAFE_INPUT_OPTIONS } from './inputPolicy.js';
import { FFPROBE_LAUNCHER } from './launchers.js';

export interface PacketScanOptions {
  /** ffprobe's format_name for the file (decides whether timestamp jumps are bridged). */
  formatName: string;
  timeoutMs: number;
  /** The scan stops once any stream holds more than this: the file is over the limit either way. */
  stopAfterSeconds: number;
  signal?: AbortSignal;
  ffprobePath?: string;
}

/**
 * Reads every packet's timestamps (demuxing only, no decoding) with ffprobe and folds them into content
 * lengths per stream (contentLength.ts), line by line: memory does not grow with the file. Used when the
 * container's header cannot say how long the streams are. Fails like the probe: JOB_TIMEOUT past
 * `timeoutMs` (retryable), an AbortError when `signal` fires.
 */
export async function scanPacketLengths(path: string, options: PacketScanOptions): Promise<PacketLengths> {
  const { signal, timeoutMs } = options;
  if (signal?.aborted) throw abortError(signal);
  const args = [
    '-v', 'error', '-hide_banner',
    '-show_entries', 'packet=stream_index,pts_time,dts_time,duration_time',
    '-of', 'compact=p=0',
    ...SAFE_INPUT_OPTIONS,
    '-i', fileUrl(path),
  ];
  const child = spawn(options.ffprobePath ?? FFPROBE_LAUNCHER, args, { stdio: ['ignore', 'pipe', 'ignore'] });
  const counter = new PacketLengthCounter(options.formatName);
  let stopped: 'timeout' | 'abort' | 'enough' | null = null;
  const stop = (reason: 'timeout' | 'abort' | 'enough'): void => {
    stopped ??= reason;
    child.kill('SIGKILL');
  };
  const timer = setTimeout(() => stop('timeout'), timeoutMs);
  const onAbort = (): void => stop('abort');
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const exited = new Promise<void>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', () => resolve());
    });
    exited.catch(() => undefined); // awaited below; this only keeps an early failure from going unhandled
    for await (const line of createInterface({ input: child.stdout })) {
      const packet = parsePacketLine(line);
      if (packet === null) continue;
      counter.add(packet);
      if (counter.secondsOf(packet.streamIndex) > options.stopAfterSeconds) stop('enough');
    }
    await exited;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
  if (stopped === 'abort') throw abortError(signal);
  if (stopped === 'timeout') {
    throw new FramelogError(ErrorCode.JOB_TIMEOUT, `Reading the packet timestamps took more than ${timeoutMs} ms.`, {
      retryable: true,
      details: { timeoutMs },
    });
  }
  return { ...counter.result(), complete: stopped === null };
}

/** `stream_index=0|pts_time=1.4|dts_time=N/A|duration_time=0.033333|` → PacketTimes; null for other lines. */
export function parsePacketLine(line: string): PacketTimes | null {
  const fields = new Map(
    line
      .split('|')
      .map((field) => field.split('='))
      .filter((pair): pair is [string, string] => pair.length === 2),
  );
  const streamIndex = Number(fields.get('stream_index') ?? NaN);
  if (!Number.isInteger(streamIndex)) return null;
  return { streamIndex, pts: seconds(fields.get('pts_time')), dts: seconds(fields.get('dts_time')), duration: seconds(fields.get('duration_time')) };
}

function seconds(value: string | undefined): number | null {
  const number = value === undefined || value === 'N/A' ? NaN : Number(value);
  return Number.isFinite(number) ? number : null;
}
