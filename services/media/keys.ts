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

/** Everything one video's processing wrote (renditions and poster); removed as a whole on cleanup. */
export const renditionsPrefix = (videoId: string): string => `renditions/${assertId(videoId)}`;

export function renditionKey(videoId: string, label: string): string {
  if (!LABEL.test(label)) {
    throw new FramelogError(ErrorCode.BAD_USER_INPUT, `Invalid rendition label ${JSON.stringify(label)}.`);
  }
  return `${renditionsPrefix(videoId)}/${label}.mp4`;
}

export const posterKey = (videoId: string): string => `${renditionsPrefix(videoId)}/poster.jpg`;
