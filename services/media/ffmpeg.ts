import ffmpeg from 'fluent-ffmpeg';
import { ErrorCode, FramelogError } from '../domain/errors.js';
import { abortError } from './abort.js';
import { fileUrl, OWN_CONCAT_INPUT_OPTIONS, SAFE_INPUT_OPTIONS } from './inputPolicy.js';
import { FFMPEG_LAUNCHER } from './launchers.js';

/**
 * The one place that runs ffmpeg (through fluent-ffmpeg, which is archived upstream: replacing this file
 * replaces it). Callers describe a run; this turns timeouts, aborts and failures into typed errors and
 * only settles once the ffmpeg process has exited, so callers may clean up its files right after.
 */

export interface FfmpegOutput {
  /** Absolute local path the output is written to. */
  path: string;
  /** Output options, one argument per element (fluent-ffmpeg splits elements that contain one space). */
  options: string[];
}

export interface FfmpegRun {
  /** Absolute local path of the (untrusted) input. */
  input: string;
  /** Extra input options such as `-ss`; the safety options of inputPolicy.ts are always added. */
  inputOptions?: string[];
  /**
   * The input is a concat list framelog wrote over its own intermediate MP4s (stitch.ts), never an upload:
   * read with the concat demuxer under inputPolicy.OWN_CONCAT_INPUT_OPTIONS.
   */
  concatList?: boolean;
  /** Further inputs (our own intermediate files), each read under the same input policy. */
  extraInputs?: readonly string[];
  complexFilter?: string;
  outputs: FfmpegOutput[];
  /** Wall-clock limit; past it ffmpeg is SIGKILLed and the run fails with JOB_TIMEOUT (retryable). */
  timeoutMs: number;
  /** Aborting SIGKILLs ffmpeg and fails the run with an error named 'AbortError'. */
  signal?: AbortSignal;
  /** Length of the media being written, to turn ffmpeg's time mark into a percentage (onProgress needs it). */
  durationSeconds?: number;
  onProgress?: (percent: number) => void;
}

export async function runFfmpeg(run: FfmpegRun): Promise<{ stderr: string }> {
  const { signal } = run;
  if (signal?.aborted) throw abortError(signal);
  if (run.outputs.length === 0) throw new Error('runFfmpeg needs at least one output');

  const command = commandOf(run);
  const reportProgress = progressReporter(run);

  return new Promise((resolve, reject) => {
    let stopReason: 'timeout' | 'abort' | null = null;
    let started = false;

    const stop = (reason: 'timeout' | 'abort'): void => {
      if (stopReason !== null) return;
      stopReason = reason;
      // Before 'start' there is no process yet (fluent-ffmpeg is still checking capabilities);
      // the 'start' handler kills it as soon as it exists.
      if (started) command.kill('SIGKILL');
    };
    const onAbort = (): void => stop('abort');
    const timer = setTimeout(() => stop('timeout'), run.timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });

    // A stop requested before the outcome wins even if ffmpeg managed to finish: the caller has given up.
    const stoppedError = (): Error =>
      stopReason === 'abort'
        ? abortError(signal)
        : new FramelogError(ErrorCode.JOB_TIMEOUT, `ffmpeg did not finish within ${run.timeoutMs} ms.`, {
            retryable: true,
            details: { timeoutMs: run.timeoutMs },
          });
    const settle = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };

    command
      .on('start', () => {
        started = true;
        if (stopReason !== null) command.kill('SIGKILL');
      })
      // Progress from stderr lines, not fluent-ffmpeg's 'progress' event (see progressReporter).
      .on('stderr', (line: string) => {
        if (stopReason === null) reportProgress(line);
      })
      .on('end', (_stdout: string | null, stderr: string | null) => {
        settle();
        if (stopReason !== null) reject(stoppedError());
        else resolve({ stderr: stderr ?? '' });
      })
      .on('error', (error: Error, _stdout: string | null, stderr: string | null) => {
        settle();
        reject(stopReason !== null ? stoppedError() : ffmpegFailed(error, stderr ?? ''));
      });
    try {
      command.run();
    } catch (error) {
      // fluent-ffmpeg throws synchronously for an invalid command (no process was started).
      settle();
      reject(ffmpegFailed(error instanceof Error ? error : new Error(String(error)), ''));
    }
  });
}

/** The fluent-ffmpeg command of a run: its inputs under the input policy, filter graph and outputs. */
function commandOf(run: FfmpegRun): ffmpeg.FfmpegCommand {
  const command = ffmpeg({ stdoutLines: 200 })
    .setFfmpegPath(FFMPEG_LAUNCHER)
    .input(fileUrl(run.input))
    // Global options ride along with the input ones. `-y`: fluent-ffmpeg adds it only for targets it
    // recognises as files, and our `file:` URLs are not among them; outputs are our own temp names.
    .inputOptions(['-nostdin', '-hide_banner', '-y', ...SAFE_INPUT_OPTIONS, ...(run.concatList === true ? OWN_CONCAT_INPUT_OPTIONS : []), ...(run.inputOptions ?? [])]);
  for (const extra of run.extraInputs ?? []) command.input(fileUrl(extra)).inputOptions([...SAFE_INPUT_OPTIONS]);
  if (run.complexFilter !== undefined) command.complexFilter(run.complexFilter);
  for (const output of run.outputs) command.output(fileUrl(output.path)).outputOptions(output.options);
  return command;
}

/**
 * Turns ffmpeg's stderr lines into the run's onProgress calls. Progress comes from stderr lines, not
 * fluent-ffmpeg's 'progress' event: listening to that one makes fluent-ffmpeg run an ffprobe of the
 * input beside every ffmpeg run, only to compute a percentage we compute ourselves (and without the
 * input policy's protocol whitelist).
 */
function progressReporter(run: FfmpegRun): (line: string) => void {
  const { onProgress, durationSeconds } = run;
  let lastPercent = -1;
  return (line) => {
    if (!onProgress || durationSeconds === undefined || !(durationSeconds > 0)) return;
    const seconds = progressSeconds(line);
    if (seconds === null) return;
    const percent = Math.min(100, (seconds / durationSeconds) * 100);
    // Monotonic and at most one call per whole percent: listeners usually publish it.
    if (Math.floor(percent) > lastPercent) {
      lastPercent = Math.floor(percent);
      onProgress(percent);
    }
  };
}

/**
 * Input options that bound the decoder's and the filter graph's threads (FFMPEG_THREADS; encoders take
 * `-threads` among their output options). 0 leaves all three to ffmpeg, which uses every core.
 */
export function threadInputOptions(threads: number): string[] {
  if (threads <= 0) return [];
  const n = String(threads);
  return ['-threads', n, '-filter_threads', n, '-filter_complex_threads', n];
}

/** ffmpeg's wording when the input, not the machine, is the problem: retrying cannot help. */
const CORRUPT_INPUT =
  /Invalid data found when processing input|moov atom not found|Format not on whitelist|Protocol not on whitelist|corrupt (decoded frame|input packet)|Packet corrupt|could not find codec parameters|Decoder \(codec [^)]*\) not found|Error while opening decoder/i;

/** The machine's wording: these win over CORRUPT_INPUT, since a damaged file may also fill a disk. */
const MACHINE_TROUBLE = /No space left on device|Cannot allocate memory|Resource temporarily unavailable|killed with signal/i;

export function ffmpegFailed(error: Error, stderr: string): FramelogError {
  const text = `${error.message}\n${stderr}`;
  const corrupt = CORRUPT_INPUT.test(text) && !MACHINE_TROUBLE.test(text);
  // One code, one meaning: MEDIA_CORRUPT is never retried, TRANSCODE_FAILED always is.
  return new FramelogError(
    corrupt ? ErrorCode.MEDIA_CORRUPT : ErrorCode.TRANSCODE_FAILED,
    corrupt
      ? 'ffmpeg could not decode the video; the file is damaged or not supported.'
      : `ffmpeg failed: ${error.message.split('\n')[0] ?? 'unknown error'}`,
    { retryable: !corrupt, details: { stderr: stderr.slice(-2000) }, cause: error },
  );
}

/**
 * The `time=` of one of ffmpeg's progress reports (`frame= … time=00:00:09.98 …`, or `size= …` without
 * video), null for any other stderr line. Only lines that start with the report count: ffmpeg also prints
 * the upload's metadata, and a title such as "frame=1 time=99:00:00.00" is indented, never at the start.
 */
export function progressSeconds(line: string): number | null {
  if (!/^(frame|size)=/.test(line)) return null;
  return parseTimemark(/\stime=\s*(\S+)/.exec(line)?.[1]);
}

/** "01:02:03.45" → 3723.45; null for "N/A" and negative marks ffmpeg prints at the start. */
export function parseTimemark(timemark: string | undefined): number | null {
  const match = /^(\d+):(\d{2}):(\d{2}(?:\.\d+)?)$/.exec(timemark ?? '');
  if (!match) return null;
  return Number(match[1]) * 3600 + Number(match[2]) * 60 + Number(match[3]);
}
