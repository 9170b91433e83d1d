import type { ByteRange } from './types.js';
import { isVersionedOutputKey } from '../keys.js';

/**
 * How stored outputs are answered over HTTP, decided here once for every backend: content type, caching,
 * CORS and Range. Pure; services/api/media.ts applies it.
 */

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.mp4': 'video/mp4',
  // Init segments are `.mp4` (video/mp4); media segments get the type RFC 8216bis / ISO BMFF registers.
  '.m4s': 'video/iso.segment',
  '.m4a': 'audio/mp4',
  '.m4v': 'video/mp4',
  '.m3u8': 'application/vnd.apple.mpegurl',
  '.mpd': 'application/dash+xml',
  '.ts': 'video/mp2t',
  '.vtt': 'text/vtt; charset=utf-8',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.webp': 'image/webp',
  '.json': 'application/json',
};

/** Content-Type of `key`, by its extension; application/octet-stream for anything unknown. */
export function contentTypeOf(key: string): string {
  const dot = key.lastIndexOf('.');
  const extension = dot > key.lastIndexOf('/') ? key.slice(dot).toLowerCase() : '';
  return CONTENT_TYPES[extension] ?? 'application/octet-stream';
}

/** One year: the longest max-age RFC 9111 caches are expected to honour. */
export const IMMUTABLE_MAX_AGE_SECONDS = 365 * 24 * 3600;
/** Playlists: short, so that a player or CDN picks up a changed playlist URL's bytes within a minute. */
export const PLAYLIST_MAX_AGE_SECONDS = 60;

const PLAYLIST = /\.(m3u8|mpd)$/i;

/**
 * Cache-Control of `key`. Files of a committed output set version never change their bytes (a rerun
 * publishes a new version at new keys), so they are `immutable` for a year, except playlists, which get
 * a short max-age. Unversioned keys (outputs written before output sets) may be replaced in place:
 * caches must revalidate them (ETag / Last-Modified).
 */
export function cacheControlOf(key: string): string {
  if (PLAYLIST.test(key)) return `public, max-age=${PLAYLIST_MAX_AGE_SECONDS}`;
  if (isVersionedOutputKey(key)) return `public, max-age=${IMMUTABLE_MAX_AGE_SECONDS}, immutable`;
  return 'public, max-age=0, must-revalidate';
}

/**
 * CORS for players on other origins (hls.js, dash.js fetch segments with XHR/fetch and Range): any
 * origin may GET/HEAD, send Range, and read the headers a player needs.
 */
export const CORS_HEADERS: Readonly<Record<string, string>> = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Methods': 'GET, HEAD, OPTIONS',
  'Access-Control-Allow-Headers': 'Range, If-None-Match, If-Range, If-Modified-Since',
  'Access-Control-Expose-Headers': 'Content-Length, Content-Range, Accept-Ranges, ETag, Last-Modified',
  'Access-Control-Max-Age': '86400',
};

export type RangeDecision =
  | { kind: 'full' }
  | { kind: 'partial'; range: ByteRange }
  | { kind: 'unsatisfiable' };

const SINGLE_RANGE = /^bytes=(\d*)-(\d*)$/;

/**
 * What a `Range` header asks of an object of `sizeBytes` (RFC 9110 §14): one range `a-b`, `a-` or `-n`
 * is served as 206 (clamped to the size); one that starts past the end is 416; anything else (absent,
 * malformed, several ranges, another unit) is ignored, which the RFC allows, and the whole object sent.
 */
export function decideRange(header: string | undefined, sizeBytes: number): RangeDecision {
  const match = header === undefined ? null : SINGLE_RANGE.exec(header.trim());
  if (match === null) return { kind: 'full' };
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return { kind: 'full' };
  if (first === '') {
    // Suffix range: the last n bytes.
    const length = Number(last);
    if (length === 0 || sizeBytes === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', range: { start: Math.max(0, sizeBytes - length), end: sizeBytes - 1 } };
  }
  const start = Number(first);
  const end = last === '' ? sizeBytes - 1 : Math.min(Number(last), sizeBytes - 1);
  if (last !== '' && Number(last) < start) return { kind: 'full' };
  if (start >= sizeBytes) return { kind: 'unsatisfiable' };
  return { kind: 'partial', range: { start, end } };
}
