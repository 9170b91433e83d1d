import type { Request, RequestHandler, Response } from 'express';
import { pipeline } from 'node:stream/promises';
import { ErrorCode, FramelogError } from '../domain/errors.js';
import { isValidKey } from '../media/keys.js';
import type { ByteRange, MediaStorage, StoredObject } from '../media/storage.js';
import { CORS_HEADERS, cacheControlOf, contentTypeOf, decideRange } from '../media/storage/httpPolicy.js';
import { PublishedOutputs } from '../media/storage/published.js';
import { notFoundHandler, respondWithError } from './errors.js';

/**
 * GET/HEAD /media/<key>: outputs served from storage (any backend), with the headers httpPolicy.ts
 * decides: content type, Cache-Control, CORS, ETag/Last-Modified (304), Range (206/416). A path that is
 * not a valid key (traversal, dot segments) is 403 BAD_USER_INPUT; a key that is not published
 * (published.ts: sources, manifests, versions not committed) or not there is 404 NOT_FOUND. Mount it at
 * `/media`.
 */
export function mediaRoute(storage: MediaStorage): RequestHandler {
  const published = new PublishedOutputs(storage);
  return async (req, res, next) => {
    if (req.method === 'OPTIONS') {
      res.set(CORS_HEADERS).status(204).end();
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      next();
      return;
    }
    const key = keyOfPath(req.path);
    if (key === null) {
      respondWithError(res, 403, new FramelogError(ErrorCode.BAD_USER_INPUT, 'Forbidden: a media path is a storage key of [A-Za-z0-9._-] segments.'));
      return;
    }
    const stored = await published.stat(key);
    if (stored === null) {
      notFoundHandler(req, res, next);
      return;
    }
    await answer(req, res, { storage, key, stored });
  };
}

/** The key a request path names, or null when it is not one (malformed escapes included). */
function keyOfPath(requestPath: string): string | null {
  try {
    const key = requestPath.replace(/^\//, '').split('/').map(decodeURIComponent).join('/');
    return isValidKey(key) ? key : null;
  } catch {
    return null;
  }
}

interface Target {
  storage: MediaStorage;
  key: string;
  stored: StoredObject;
}

async function answer(req: Request, res: Response, { storage, key, stored }: Target): Promise<void> {
  const decision = notModified(req, stored) ? null : decideRange(rangeHeader(req, stored), stored.sizeBytes);
  const range: ByteRange | undefined = decision?.kind === 'partial' ? decision.range : undefined;
  const wantsBody = decision !== null && decision.kind !== 'unsatisfiable' && req.method === 'GET' && stored.sizeBytes > 0;
  const body = wantsBody ? await storage.read(key, range) : undefined;
  if (body === null) {
    // Removed between stat and read (a rerun replaced the set): nothing was sent yet.
    notFoundHandler(req, res, () => undefined);
    return;
  }
  res.set({
    ...CORS_HEADERS,
    'Content-Type': contentTypeOf(key),
    'Cache-Control': cacheControlOf(key),
    ETag: stored.etag,
    'Last-Modified': stored.modifiedAt.toUTCString(),
    'Accept-Ranges': 'bytes',
    'X-Content-Type-Options': 'nosniff',
  });
  if (decision === null) {
    res.status(304).end();
    return;
  }
  if (decision.kind === 'unsatisfiable') {
    res.status(416).set('Content-Range', `bytes */${stored.sizeBytes}`).end();
    return;
  }
  if (range !== undefined) res.status(206).set('Content-Range', `bytes ${range.start}-${range.end}/${stored.sizeBytes}`);
  res.set('Content-Length', String(range === undefined ? stored.sizeBytes : range.end - range.start + 1));
  if (body === undefined) {
    res.end();
    return;
  }
  // A client that goes away mid-body ends the pipeline with an error; the response is over either way.
  await pipeline(body, res).catch(() => undefined);
}

/** If-None-Match (RFC 9110 §13.1.2), or If-Modified-Since when no ETag is asked about. */
function notModified(req: Request, stored: StoredObject): boolean {
  const noneMatch = req.get('if-none-match');
  if (noneMatch !== undefined) return noneMatch.split(',').some((tag) => tag.trim().replace(/^W\//, '') === stored.etag || tag.trim() === '*');
  const since = req.get('if-modified-since');
  return since !== undefined && Math.floor(stored.modifiedAt.getTime() / 1000) <= Math.floor(Date.parse(since) / 1000);
}

/** The Range header, unless If-Range names another version of the bytes (then the whole object is sent). */
function rangeHeader(req: Request, stored: StoredObject): string | undefined {
  const ifRange = req.get('if-range');
  if (ifRange === undefined) return req.get('range');
  const matches = ifRange.startsWith('"') ? ifRange === stored.etag : Date.parse(ifRange) === Math.floor(stored.modifiedAt.getTime() / 1000) * 1000;
  return matches ? req.get('range') : undefined;
}
