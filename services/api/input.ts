import { z } from 'zod';
import { ErrorCode, FramelogError } from '../domain/errors.js';

/** Boundary validation: every message tells the caller what to send instead. */

// Built once: a zod schema costs more to build than to run, and every video(id) parses an id.
const Uuid = z.uuid();

export function parseId(value: string, name = 'id'): string {
  if (!Uuid.safeParse(value).success) throw new FramelogError(ErrorCode.BAD_USER_INPUT, `${name} must be a UUID, got ${JSON.stringify(value)}.`);
  return value;
}

/** The largest position PostgreSQL's bigint (the log's `position`) holds. */
const MAX_POSITION = 2n ** 63n - 1n;

export function parsePosition(value: string, name: string): bigint {
  const position = /^\d{1,19}$/.test(value) ? BigInt(value) : -1n;
  if (position < 0n || position > MAX_POSITION) {
    throw new FramelogError(ErrorCode.BAD_USER_INPUT, `${name} must be a log position (a non-negative integer as a string, at most ${MAX_POSITION}).`);
  }
  return position;
}

export function parseFirst(value: number | null | undefined, fallback: number, max: number): number {
  const first = value ?? fallback;
  if (!Number.isInteger(first) || first < 1 || first > max) throw new FramelogError(ErrorCode.BAD_USER_INPUT, `first must be between 1 and ${max}.`);
  return first;
}

const VIDEO_CURSOR_PREFIX = 'video:';

/** Opaque cursor for `videos`: the upload's log position. */
export const encodeVideoCursor = (createdPosition: bigint): string => Buffer.from(`${VIDEO_CURSOR_PREFIX}${createdPosition}`).toString('base64url');

export function decodeVideoCursor(cursor: string): bigint {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!text.startsWith(VIDEO_CURSOR_PREFIX)) throw new FramelogError(ErrorCode.BAD_USER_INPUT, 'after is not a cursor returned by videos; pass pageInfo.endCursor as it is.');
  return parsePosition(text.slice(VIDEO_CURSOR_PREFIX.length), 'after');
}

// A NUL (the one character PostgreSQL text refuses), or a UTF-16 surrogate without its other half (half
// of an emoji, as a string cut in the middle).
// eslint-disable-next-line no-control-regex
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Why PostgreSQL could not store `text` (in text or jsonb), or null when it can: a NUL character, or a
 * lone UTF-16 surrogate, which has no UTF-8 encoding.
 */
export function unstorableText(text: string): string | null {
  const found = UNSTORABLE.exec(text)?.[0];
  if (found === undefined) return null;
  return found === '\u0000' ? 'contains a NUL character (\\u0000)' : 'contains half of a character (a lone UTF-16 surrogate); send whole characters';
}

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * Characters as a reader counts them: grapheme clusters (Unicode UAX #29, Intl.Segmenter), so an emoji,
 * a flag or a letter with its accents is one, whatever its length in UTF-16 units or code points.
 */
export function countCharacters(text: string, upTo = Number.POSITIVE_INFINITY): number {
  let count = 0;
  for (const _ of graphemes.segment(text)) {
    count += 1;
    if (count >= upTo) break;
  }
  return count;
}

function countCodePoints(text: string): number {
  let count = 0;
  for (const _ of text) count += 1;
  return count;
}

/** The first `max` characters of `text` (grapheme clusters), never cutting one in half. */
export function truncateCharacters(text: string, max: number): string {
  let end = 0;
  let count = 0;
  for (const { segment } of graphemes.segment(text)) {
    if (count === max) return text.slice(0, end);
    end += segment.length;
    count += 1;
  }
  return text;
}

/** Title limit, in characters as a reader counts them (grapheme clusters). */
export const MAX_TITLE_CHARACTERS = 500;
/** Combining marks make one character arbitrarily long: the title is also capped in code points. */
export const MAX_TITLE_CODE_POINTS = 5_000;
/** The client's filename is kept for display, cut to this many characters. */
export const MAX_FILENAME_CHARACTERS = 1_000;

/**
 * The client's text of an upload as it is recorded: the title (trimmed; empty is none), the filename
 * (cut for display) and the file part's content type; BAD_USER_INPUT says what to change.
 */
export function parseUploadText(input: { title: string | null; filename: string; mimetype: string }): { title: string | null; originalFilename: string; contentType: string } {
  for (const [name, text] of [['title', input.title ?? ''], ['filename', input.filename], ['content type', input.mimetype]] as const) {
    const problem = unstorableText(text);
    if (problem !== null) throw new FramelogError(ErrorCode.BAD_USER_INPUT, `The ${name} ${problem}.`);
  }
  const title = input.title?.trim() || null;
  if (title !== null && countCharacters(title, MAX_TITLE_CHARACTERS + 1) > MAX_TITLE_CHARACTERS) {
    throw new FramelogError(ErrorCode.BAD_USER_INPUT, `The title is longer than ${MAX_TITLE_CHARACTERS} characters.`);
  }
  if (title !== null && countCodePoints(title) > MAX_TITLE_CODE_POINTS) {
    throw new FramelogError(ErrorCode.BAD_USER_INPUT, `The title has more than ${MAX_TITLE_CODE_POINTS} code points (accents or emoji sequences); shorten it.`);
  }
  return { title, originalFilename: truncateCharacters(input.filename, MAX_FILENAME_CHARACTERS), contentType: input.mimetype };
}
