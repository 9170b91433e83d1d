import { z } from 'zod';
import { ErrorCode, FramelogError } from '../domain/errors.js';

/** Boundary validation: every message tells the caller what to send instead. */

// Built once: a zod schema costs more to build than to run, and every video(id) parses an id.
const Uuid = z.uuid();

export function parseId(value: string, name = 'id'): string {
  if (!Uuid.safeParse(value).success) throw new FramelogError(ErrorCode.BAD_USER_INPUT, `${name} must be a UUID, got ${JSON.stringify(value)}.`);
  return value;
}

export function parsePosition(value: string, name: string): bigint {
  if (!/^\d{1,19}$/.test(value)) throw new FramelogError(ErrorCode.BAD_USER_INPUT, `${name} must be a log position (a non-negative integer as a string).`);
  return BigInt(value);
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
