import { ErrorCode, FramelogError } from '../domain/errors.js';

/**
 * Storage keys: slash-separated relative paths, the same on local disk and in an S3-compatible bucket.
 * Every key is built here from ids we generated; a client's filename never becomes part of one.
 */

const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;
const MAX_KEY_LENGTH = 512;

/**
 * Throws unless `key` is a safe relative key: non-empty segments of `[A-Za-z0-9._-]` joined by `/`,
 * no `.`/`..`, nothing absolute. Segments may not start with a dot, which also keeps keys apart from
 * the hidden temp names that storage writes beside them.
 */
export function assertValidKey(key: string): string {
  const segments = key.split('/');
  const valid =
    key.length > 0 && key.length <= MAX_KEY_LENGTH && segments.every((segment) => SEGMENT.test(segment));
  if (!valid) {
    throw new FramelogError(
      ErrorCode.BAD_USER_INPUT,
      `Invalid storage key ${JSON.stringify(key.slice(0, 100))}: use relative segments of [A-Za-z0-9._-] ` +
        'separated by "/", not starting with "." and with no empty segments.',
      { details: { key: key.slice(0, MAX_KEY_LENGTH) } },
    );
  }
  return key;
}

export function isValidKey(key: string): boolean {
  try {
    assertValidKey(key);
    return true;
  } catch {
    return false;
  }
}

const ID = /^[A-Za-z0-9_-]{1,128}$/;
const LABEL = /^[0-9]{1,5}p$/;

function assertId(videoId: string): string {
  if (!ID.test(videoId)) {
    throw new FramelogError(ErrorCode.BAD_USER_INPUT, `Invalid video id ${JSON.stringify(videoId.slice(0, 140))}.`);
  }
  return videoId;
}

/** Where an upload's bytes live; no extension, since the container is only known after probing. */
export const sourceKey = (videoId: string): string => `uploads/${assertId(videoId)}/source`;

/**
 * Where a resumable upload's bytes accumulate (tus) and stay once complete: VideoUploaded names this key.
 * The tus file store keeps its `<id>.json` offset record beside it, so the directory is its own.
 */
export const resumableKey = (videoId: string): string => `${RESUMABLE_PREFIX}/${assertId(videoId)}`;
export const RESUMABLE_PREFIX = 'resumable';

/**
 * Everything one video's processing wrote: its output set (MediaStorage.openOutputSet), whose versions
 * live at `renditions/<id>/<version>/…` and whose manifest at `renditions/<id>/manifest.json`. Removed
 * as a whole on cleanup. (`renditions/` stays the public URL prefix: /media/renditions/….)
 */
export const renditionsPrefix = (videoId: string): string => `renditions/${assertId(videoId)}`;

/** The output set of a video: MP4 renditions, poster, and the HLS/DASH packaging share one set. */
export const outputSetKey = renditionsPrefix;

/**
 * Intermediate outputs of split and stitch (DESIGN §11): one output set per range of a split video, at
 * `ranges/<id>/<index>`, holding one video-only MP4 per rung. Outside `renditions/`, so never public
 * (isPublicOutputKey) and untouched when the video's own set is committed; removed as a whole once the
 * video is terminal (SplitMediaProcessor.removeTemps).
 */
export const rangesPrefix = (videoId: string): string => `ranges/${assertId(videoId)}`;

/** The output set of range `index` (0-based, at most 99 999) of a split video. */
export function rangeSetKey(videoId: string, index: number): string {
  if (!Number.isInteger(index) || index < 0 || index > 99_999) {
    throw new FramelogError(ErrorCode.BAD_USER_INPUT, `Invalid range index ${index}.`, { details: { index } });
  }
  return `${rangesPrefix(videoId)}/${index}`;
}

/** File name of a rendition within the output set: `<label>.mp4`. */
export function renditionName(label: string): string {
  if (!LABEL.test(label)) {
    throw new FramelogError(ErrorCode.BAD_USER_INPUT, `Invalid rendition label ${JSON.stringify(label)}.`);
  }
  return `${label}.mp4`;
}

export const POSTER_NAME = 'poster.jpg';

const MANIFEST_NAME = 'manifest.json';

/** Where the committed manifest of the output set at `setKey` lives (written last by commit). */
export const manifestKey = (setKey: string): string => `${assertValidKey(setKey)}/${MANIFEST_NAME}`;

/** An output set version id: `v` + milliseconds since the epoch in base 36 + `-` + 12 random hex digits. */
export const OUTPUT_VERSION = /^v[0-9a-z]{1,12}-[0-9a-f]{12}$/;

/** The set and version of `renditions/<id>/<version>/<name…>`, a file of an output set version; else null. */
export function outputVersionOf(key: string): { setKey: string; version: string } | null {
  const [top, id, version, ...name] = key.split('/');
  const versioned = top === 'renditions' && id !== undefined && ID.test(id) && version !== undefined && OUTPUT_VERSION.test(version) && name.length > 0;
  return versioned ? { setKey: `${top}/${id}`, version } : null;
}

/** Whether `key` is a file of an output set version, whose bytes never change once committed. */
export const isVersionedOutputKey = (key: string): boolean => outputVersionOf(key) !== null;

/**
 * Keys the public /media route may serve: valid keys under `renditions/` except manifests (bookkeeping,
 * not output). Uploaded sources (`uploads/`) are never public.
 */
export function isPublicOutputKey(key: string): boolean {
  const segments = key.split('/');
  return isValidKey(key) && segments[0] === 'renditions' && segments.length >= 3 && !(segments.length === 3 && segments[2] === MANIFEST_NAME);
}
