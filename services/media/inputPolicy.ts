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
