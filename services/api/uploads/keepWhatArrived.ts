import { PassThrough, type Readable } from 'node:stream';

/**
 * `source`'s bytes (a tus PATCH body), ending rather than failing when `source` fails or is destroyed:
 * a request cut mid-way (the client's connection dropped) leaves the store every byte that arrived, so
 * the offset a HEAD reports, and the resume, continue right after them.
 */
export function keepWhatArrived(source: Readable): Readable {
  const kept = new PassThrough();
  source.pipe(kept);
  const end = () => {
    if (!kept.writableEnded) kept.end();
  };
  source.once('error', end);
  source.once('close', end);
  return kept;
}
