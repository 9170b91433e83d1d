import type { FfprobeOutput, FfprobeStream } from './ffprobe.js';

/**
 * How long a video's content lasts, measured on the streams framelog outputs (the video and the chosen
 * audio track), never on the container's header duration: that one is the longest of ALL streams
 * (subtitles, data, commentary tracks), "unknown" in fragmented MP4 and browser WebM, and spans timestamp
 * jumps in MPEG-TS. Pure; the packet scan that feeds PacketLengths is packetScan.ts.
 */

/** Per-stream lengths from a scan of the file's packet timestamps. */
export interface PacketLengths {
  /** Seconds of content per ffprobe stream index: the sum of its continuous timestamp runs. */
  contentSeconds: ReadonlyMap<number, number>;
  /** The latest packet end of any stream, in the file's timestamps (seconds); null without timestamps. */
  lastEndSeconds: number | null;
  /** False when the scan stopped early (a stream already exceeded the duration limit). */
  complete?: boolean;
}

/** MP4/MOV headers are exact (per-track durations in the movie box) unless they say "unknown". */
const HEADER_TRUSTED_FORMATS = new Set(['mov,mp4,m4a,3gp,3g2,mj2']);

/**
 * Formats whose timestamps may jump or restart (broadcast recordings, joined files); ffmpeg bridges a jump
 * of more than 10 s or any step back in them (`-dts_delta_threshold`, AVFMT_TS_DISCONT), so the
 * renditions hold only the content. Elsewhere a forward gap is kept by ffmpeg and counts as length.
 */
const DISCONTINUOUS_FORMATS = new Set(['mpegts', 'mpeg']);
const FORWARD_JUMP_SECONDS = 10;
/** A step back larger than B-frame reordering can explain starts a new run (a restarted recording). */
const BACKWARD_JUMP_SECONDS = 0.5;

const UNKNOWN_32 = 0xffff_ffff;

/** A stream's header duration in seconds; null when absent, "unknown" (all ones) or not a positive number. */
export function headerSeconds(stream: Pick<FfprobeStream, 'duration' | 'duration_ts'>): number | null {
  const ts = stream.duration_ts;
  if (ts !== undefined && (ts === UNKNOWN_32 || ts >= 2 ** 63)) return null;
  const seconds = Number(stream.duration ?? NaN);
  return Number.isFinite(seconds) && seconds > 0 ? seconds : null;
}

/** Whether the headers cannot be trusted for `output`, so that its packet timestamps must be scanned. */
export function needsPacketScan(output: FfprobeOutput): boolean {
  if (!HEADER_TRUSTED_FORMATS.has(output.format.format_name ?? '')) return true;
  return output.streams.some(
    (stream) => (stream.codec_type === 'video' || stream.codec_type === 'audio') && headerSeconds(stream) === null,
  );
}

/**
 * Seconds of content of the output streams (video, and audio when one is kept): the longer of the two.
 * From the headers where they are trusted (see LAST_FRAME_SLACK_SECONDS: a track's own duration also
 * includes encoder priming the edit list trims); otherwise from `packets`. null when neither says.
 */
export function contentSeconds(
  output: FfprobeOutput,
  streams: readonly FfprobeStream[],
  packets: PacketLengths | undefined,
): number | null {
  const lengths = streams.map((stream) =>
    packets === undefined ? headerSeconds(stream) : (packets.contentSeconds.get(stream.index) ?? null),
  );
  if (lengths.some((length) => length === null || length <= 0)) return null;
  const longest = Math.max(...(lengths as number[]));
  const container = Number(output.format.duration ?? NaN);
  if (packets !== undefined || !Number.isFinite(container) || container <= 0) return longest;
  return container > longest + LAST_FRAME_SLACK_SECONDS ? longest : container;
}

/**
 * An MP4 track's media duration can end before its last frame does (a variable-rate video's last frame
 * lasts as long as the movie's edit says), while the movie's duration also covers longer tracks and any
 * leading empty edit: the movie's duration counts unless it exceeds the output tracks by more than this,
 * and then the tracks' own durations do.
 */
const LAST_FRAME_SLACK_SECONDS = 0.25;

/**
 * Seconds the header promises beyond the last packet in the file: a cut-off upload (a Matroska or TS file
 * whose end is missing) has packets up to where the bytes stop, while its header still states the whole
 * length. 0 when the header states no length (or an unknown one) or the packets reach it.
 */
export function missingSeconds(output: FfprobeOutput, packets: PacketLengths): number {
  // An MP4 is only scanned when its header says "unknown": then its stated length means nothing.
  if (HEADER_TRUSTED_FORMATS.has(output.format.format_name ?? '')) return 0;
  if (packets.complete === false) return 0;
  const declared = Number(output.format.duration ?? NaN);
  const start = Number(output.format.start_time ?? 0);
  if (!Number.isFinite(declared) || packets.lastEndSeconds === null) return 0;
  return Math.max(0, (Number.isFinite(start) ? start : 0) + declared - packets.lastEndSeconds);
}

/** One packet of a scan: its timestamps and duration in seconds (null when ffprobe says N/A). */
export interface PacketTimes {
  streamIndex: number;
  pts: number | null;
  dts: number | null;
  duration: number | null;
}

interface Run {
  start: number;
  end: number;
  lastKey: number;
  closed: number;
}

/**
 * Folds packets, in file order, into per-stream content lengths: each stream's timestamps form runs
 * that a discontinuity (a step back, or a jump forward in formats whose timestamps may jump) ends, and
 * its length is the sum of the runs. Memory is one small record per stream, whatever the file's length.
 */
export class PacketLengthCounter {
  private readonly runs = new Map<number, Run>();
  private lastEnd: number | null = null;
  private readonly jumpsForward: boolean;

  constructor(formatName: string) {
    this.jumpsForward = DISCONTINUOUS_FORMATS.has(formatName);
  }

  add(packet: PacketTimes): void {
    const key = packet.dts ?? packet.pts;
    const time = packet.pts ?? packet.dts;
    if (key === null || time === null) return;
    const end = time + Math.max(0, packet.duration ?? 0);
    this.lastEnd = this.lastEnd === null ? end : Math.max(this.lastEnd, end);
    const run = this.runs.get(packet.streamIndex);
    if (run === undefined) {
      this.runs.set(packet.streamIndex, { start: time, end, lastKey: key, closed: 0 });
      return;
    }
    const jumped = key < run.lastKey - BACKWARD_JUMP_SECONDS || (this.jumpsForward && key > run.lastKey + FORWARD_JUMP_SECONDS);
    if (jumped) {
      run.closed += run.end - run.start;
      run.start = time;
      run.end = end;
    } else {
      run.start = Math.min(run.start, time);
      run.end = Math.max(run.end, end);
    }
    run.lastKey = key;
  }

  /** Seconds of content of `streamIndex` so far (0 if it had no packet). */
  secondsOf(streamIndex: number): number {
    const run = this.runs.get(streamIndex);
    return run === undefined ? 0 : run.closed + run.end - run.start;
  }

  result(): PacketLengths {
    const contentSeconds = new Map<number, number>();
    for (const index of this.runs.keys()) contentSeconds.set(index, this.secondsOf(index));
    return { contentSeconds, lastEndSeconds: this.lastEnd };
  }
}
