import { execFile } from 'node:child_process';
import { chmod, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** One ffmpeg invocation as the processor made it: its arguments and, when timed, when it ran. */
export interface RecordedCall {
  args: string[];
  /** Epoch nanoseconds at start and at exit (exit only with `timed`). */
  startedNs: bigint;
  endedNs: bigint | null;
}

export interface FfmpegRecorder {
  /** Give it to fluent-ffmpeg as FFMPEG_PATH (this process's env, or a worker's). */
  executable: string;
  /** Every call so far with an input (`-i`): the media commands, not capability queries. */
  calls(): Promise<RecordedCall[]>;
}

/**
 * A stand-in ffmpeg for fluent-ffmpeg (FFMPEG_PATH) that records each invocation's arguments, then runs
 * the real one: the command lines the processor builds, taken as built, without touching services/media.
 * Untimed, the shell execs ffmpeg (~2 ms per invocation). `timed` also records when each one exits so
 * that a replay can run concurrently what ran concurrently; the shell then waits for ffmpeg instead of
 * becoming it, so a signal to it does not reach ffmpeg (the benchmarks abort no job).
 */
export async function installRecorder(dir: string, options: { timed?: boolean } = {}): Promise<FfmpegRecorder> {
  const callsDir = path.join(dir, 'calls');
  await mkdir(callsDir, { recursive: true });
  const executable = path.join(dir, 'ffmpeg-recorder.sh');
  const record = `f='${callsDir}'/"$(date +%s%N)-$$"\nprintf '%s\\0' "$@" > "$f.args"\n`;
  const body = options.timed ? `ffmpeg "$@"\nrc=$?\ndate +%s%N > "$f.end"\nexit $rc\n` : 'exec ffmpeg "$@"\n';
  await writeFile(executable, `#!/bin/sh\n${record}${body}`);
  await chmod(executable, 0o755);
  return {
    executable,
    async calls() {
      const names = (await readdir(callsDir)).filter((f) => f.endsWith('.args')).sort();
      const calls = await Promise.all(
        names.map(async (name): Promise<RecordedCall> => {
          const base = name.slice(0, -'.args'.length);
          const args = (await readFile(path.join(callsDir, name), 'utf8')).split('\0').slice(0, -1);
          const end = await readFile(path.join(callsDir, `${base}.end`), 'utf8').catch(() => null);
          return { args, startedNs: BigInt(base.split('-')[0] ?? '0'), endedNs: end === null ? null : BigInt(end.trim()) };
        }),
      );
      return calls.filter((c) => c.args.includes('-i'));
    },
  };
}

/**
 * Consecutive calls whose recorded runs overlapped, grouped: a replay runs the groups one after another
 * and the calls of a group at the same time, as the processor did (one group per call when it runs
 * them one by one). Untimed calls each make a group of their own.
 */
export function concurrentGroups(calls: readonly RecordedCall[]): RecordedCall[][] {
  const groups: RecordedCall[][] = [];
  let groupEnd = -1n;
  for (const call of [...calls].sort((a, b) => (a.startedNs < b.startedNs ? -1 : 1))) {
    const last = groups.at(-1);
    if (last && call.startedNs < groupEnd) last.push(call);
    else groups.push([call]);
    if (call.endedNs === null) groupEnd = -1n;
    else if (call.endedNs > groupEnd) groupEnd = call.endedNs;
  }
  return groups;
}

/** Runs the recorded command lines with the real ffmpeg, group by group (see concurrentGroups). */
async function replayCalls(calls: readonly RecordedCall[]): Promise<void> {
  for (const group of concurrentGroups(calls)) {
    await Promise.all(group.map((call) => run('ffmpeg', call.args, { maxBuffer: 64 * 1024 * 1024 })));
  }
}

/**
 * Creates the missing parent directories of every absolute path in the calls' arguments (`file:` URLs
 * included): a worker writes its outputs into a staging directory that its commit renames away, so the
 * outputs' directories are gone by the time the commands are replayed. Returns the directories created.
 */
async function recreateDirectories(calls: readonly RecordedCall[]): Promise<string[]> {
  const paths = calls.flatMap((c) => c.args).map((arg) => arg.replace(/^file:/, '')).filter((arg) => path.isAbsolute(arg));
  const created = await Promise.all([...new Set(paths.map((p) => path.dirname(p)))].map((dir) => mkdir(dir, { recursive: true })));
  return created.filter((dir): dir is string => dir !== undefined);
}

/**
 * Milliseconds to replay the recorded command lines with the real ffmpeg, as the processor ran them
 * (see concurrentGroups), on the same inputs. Only the commands are timed: the output directories are
 * made before and removed after, with what the replay wrote into them.
 */
export async function timedReplay(calls: readonly RecordedCall[]): Promise<number> {
  const created = await recreateDirectories(calls);
  try {
    const started = performance.now();
    await replayCalls(calls);
    return performance.now() - started;
  } finally {
    await Promise.all(created.map((dir) => rm(dir, { recursive: true, force: true })));
  }
}
