import { open, type FileHandle } from 'node:fs/promises';

/**
 * The duration an MP4/MOV file declares in its movie header (`moov/mvhd`): what ffprobe reports as
 * its format duration, read from a few box headers instead of starting an ffprobe process. Used on
 * the renditions ffmpeg has just written (faststart puts moov first, so this reads the file's first
 * few hundred bytes). null when the file has no readable movie header or its duration is unknown.
 */
export async function mp4DurationSeconds(path: string): Promise<number | null> {
  const handle = await open(path, 'r');
  try {
    const { size: fileSize } = await handle.stat();
    const moov = await findBox(handle, 0, fileSize, 'moov');
    if (moov === null) return null;
    const mvhd = await findBox(handle, moov.contentStart, moov.end, 'mvhd');
    return mvhd === null ? null : await readMvhdSeconds(handle, mvhd);
  } finally {
    await handle.close();
  }
}

/**
 * Samples (frames, for video) of the first track of an MP4 written by ffmpeg: the sample count of
 * `moov/trak/mdia/minf/stbl/stsz`, what `ffprobe -count_packets` counts, without reading the media. null
 * when the file has no such box (a fragmented MP4 keeps its samples in fragments).
 */
export async function mp4SampleCount(path: string): Promise<number | null> {
  const handle = await open(path, 'r');
  try {
    let box: Mp4Box | null = { type: '', contentStart: 0, end: (await handle.stat()).size };
    for (const type of ['moov', 'trak', 'mdia', 'minf', 'stbl', 'stsz']) {
      box = box === null ? null : await findBox(handle, box.contentStart, box.end, type);
    }
    if (box === null || box.end - box.contentStart < 12) return null;
    // stsz: version and flags (4 bytes), a common sample size (4), then the sample count (4).
    const content = Buffer.alloc(12);
    await handle.read(content, 0, 12, box.contentStart);
    return content.readUInt32BE(8);
  } finally {
    await handle.close();
  }
}

/** One box of an ISO-BMFF (MP4/MOV) file. */
export interface Mp4Box {
  type: string;
  /** Offset of the box's content, after its header. */
  contentStart: number;
  /** Offset just past the box. */
  end: number;
}

// A file written by ffmpeg has a handful of top-level boxes and moov's first child is mvhd; the cap
// only stops a damaged file from walking forever.
const MAX_BOXES = 1_000;

/**
 * The boxes that tile [start, end) of an open MP4 file, in order. Stops at the first header that is
 * cut short or claims more than is left: a caller that needs the whole range compares the last box's
 * `end` with `end`.
 */
export async function* readMp4Boxes(handle: FileHandle, start: number, end: number): AsyncGenerator<Mp4Box> {
  const header = Buffer.alloc(16);
  let offset = start;
  for (let i = 0; i < MAX_BOXES && offset + 8 <= end; i += 1) {
    const { bytesRead } = await handle.read(header, 0, 16, offset);
    if (bytesRead < 8) return;
    let size = header.readUInt32BE(0);
    let headerSize = 8;
    if (size === 1) {
      // 64-bit size follows the type.
      if (bytesRead < 16) return;
      size = Number(header.readBigUInt64BE(8));
      headerSize = 16;
    } else if (size === 0) {
      size = end - offset; // the box runs to the end of its parent (or of the file)
    }
    if (size < headerSize || offset + size > end) return;
    yield { type: header.toString('latin1', 4, 8), contentStart: offset + headerSize, end: offset + size };
    offset += size;
  }
}

/** The first box of `type` among the boxes that tile [start, end), or null. */
async function findBox(handle: FileHandle, start: number, end: number, type: string): Promise<Mp4Box | null> {
  for await (const box of readMp4Boxes(handle, start, end)) if (box.type === type) return box;
  return null;
}

/** mvhd: version, flags, then creation and modification times, timescale and duration (32 or 64 bits). */
async function readMvhdSeconds(handle: FileHandle, mvhd: Mp4Box): Promise<number | null> {
  const content = Buffer.alloc(32);
  const { bytesRead } = await handle.read(content, 0, Math.min(32, mvhd.end - mvhd.contentStart), mvhd.contentStart);
  const version = content.readUInt8(0);
  let timescale: number;
  let duration: number;
  if (version === 1 && bytesRead >= 32) {
    timescale = content.readUInt32BE(20);
    const raw = content.readBigUInt64BE(24);
    if (raw === 0xffff_ffff_ffff_ffffn) return null; // "unknown"
    duration = Number(raw);
  } else if (version === 0 && bytesRead >= 20) {
    timescale = content.readUInt32BE(12);
    duration = content.readUInt32BE(16);
    if (duration === 0xffff_ffff) return null; // "unknown"
  } else {
    return null;
  }
  return timescale > 0 ? duration / timescale : null;
}
