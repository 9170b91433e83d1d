import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { FFMPEG_LAUNCHER } from './launchers.js';

const exec = promisify(execFile);

/**
 * The codecs the system ffmpeg can decode, by ffprobe's `codec_name`, read once per process from
 * `ffmpeg -codecs` (the first flag column is D for "decoding supported"). A stream whose codec is not in
 * it (MPEG-H audio, H.266/VVC in ffmpeg 5.1, or one ffprobe calls "unknown") can be remuxed but never
 * transcoded. ffmpeg's set is fixed for the life of its binary, so the answer is cached.
 */
let cached: Promise<ReadonlySet<string>> | undefined;

export function decodableCodecs(ffmpegPath = FFMPEG_LAUNCHER): Promise<ReadonlySet<string>> {
  cached ??= exec(ffmpegPath, ['-hide_banner', '-codecs'], { maxBuffer: 4 * 1024 * 1024 }).then(
    ({ stdout }) => parseDecodableCodecs(stdout),
    (error: unknown) => {
      cached = undefined; // a missing ffmpeg is a deployment problem; ask again next time
      throw error;
    },
  );
  return cached;
}

/** ` DEV.LS h264   H.264 / AVC ...` lines → the names whose first flag is D. */
export function parseDecodableCodecs(listing: string): ReadonlySet<string> {
  const names = new Set<string>();
  for (const line of listing.split('\n')) {
    const match = /^ ([D.])([E.])([VASDT.])\S* (\S+)/.exec(line);
    if (match?.[1] === 'D' && match[4] !== undefined && match[4] !== '=') names.add(match[4]);
  }
  return names;
}
