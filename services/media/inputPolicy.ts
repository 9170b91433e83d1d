/**
 * What ffprobe and ffmpeg may open when they read an upload. Uploads are hostile input: an HLS playlist
 * or ffconcat script renamed to .mp4 would make the demuxer open other files or URLs. So both tools run
 * with the same options, and probe.ts checks the detected format again.
 */

/** ffprobe `format_name` values we accept (one demuxer may answer with several names). */
export const ALLOWED_FORMAT_NAMES: readonly string[] = [
  'mov,mp4,m4a,3gp,3g2,mj2',
  'matroska,webm',
  'avi',
  'mpegts',
  'flv',
  'ogg',
  // MPEG program stream (.mpg, .vob: DVDs, camcorders), ASF (.wmv, .asf), MXF (broadcast cameras).
  'mpeg',
  'asf',
  'mxf',
];

/** How the accepted containers are named to users (keep the README's list of accepted inputs the same). */
export const ACCEPTED_CONTAINERS = 'an MP4, MOV, MKV, WebM, AVI, MPEG-TS, MPEG-PS (.mpg/.vob), WMV/ASF, MXF, FLV or Ogg video';

/**
 * Input options for every ffprobe/ffmpeg run on an upload.
 * - `-protocol_whitelist file`: no network, pipes or `concat:`/`subfile:` protocols, also for nested opens.
 * - `-format_whitelist`: the demuxer is refused before it reads its header, so a playlist or concat
 *   script never gets to open what it references (the protocol whitelist alone still allows local files).
 */
export const SAFE_INPUT_OPTIONS: readonly string[] = [
  '-protocol_whitelist',
  'file',
  '-format_whitelist',
  'mov,matroska,avi,mpegts,flv,ogg,mpeg,asf,mxf',
];

/** A path as an explicit file URL, so a name containing ':' can never select another protocol. */
export const fileUrl = (absolutePath: string): string => `file:${absolutePath}`;

/**
 * Input options, after SAFE_INPUT_OPTIONS, for a concat list that framelog itself wrote over its own
 * intermediate MP4s (split and stitch, stitch.ts); an upload is never read this way (issue 19: "the concat
 * demuxer runs only on framelog's own intermediate files"). The later `-format_whitelist` replaces the
 * upload one for this input: the concat demuxer and the `mov` demuxer of the files it names (the whitelists
 * are handed down to those nested opens). `-safe 1`, the default, spelled out: the list may only name
 * files by relative names without special characters, resolved beside the list.
 */
export const OWN_CONCAT_INPUT_OPTIONS: readonly string[] = ['-f', 'concat', '-safe', '1', '-format_whitelist', 'concat,mov'];
