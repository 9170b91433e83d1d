import type http from 'node:http';
import { handOver, releaseStored } from '../../media/storage/releasableChunks.js';

/**
 * Most bytes held from a request before it is paused. The socket delivers ~64 KiB at a time, and every
 * chunk costs a turn through each stage after it (the web stream and @tus/server's node adapter of it, its
 * proxy and StreamLimiter, the hash, the write-back count, the file or part write); when those stages fall
 * behind, what has arrived meanwhile goes on as one chunk of up to this size.
 */
const HELD_BYTES = 1024 * 1024;

/** A node request's body as a web stream, and the way to let go of the request once it has been answered. */
export interface RequestBody {
  stream: ReadableStream<Uint8Array>;
  /** Stops holding the request: whatever of the body nobody read is read and dropped (as node does). */
  release(): void;
}

/**
 * `req`'s body as a web stream that answers each read with everything that arrived since the last one
 * (waiting for the first byte when nothing has): while the stages after it keep up, chunks stay the
 * socket's; when they fall behind, they get fewer and larger, up to about HELD_BYTES, and the request is
 * paused. The request is only read once the stream is. A request cut short ends the stream with the bytes
 * that arrived instead of failing it, as @tus/server's node entry does (it ends the stream when the request
 * errors), so the store keeps them and a resume continues after them. Every chunk it hands on is handed
 * over (releasableChunks): the store frees it once its bytes are stored.
 */
export function requestBody(req: http.IncomingMessage): RequestBody {
  let parts: Buffer[] = [];
  let size = 0;
  let ended = false;
  let listening = false;
  let wake: (() => void) | undefined;
  const notify = () => {
    const woken = wake;
    wake = undefined;
    woken?.();
  };
  const onData = (chunk: Buffer) => {
    parts.push(handOver(chunk));
    size += chunk.length;
    if (size >= HELD_BYTES) req.pause();
    notify();
  };
  const onEnd = () => {
    ended = true;
    notify();
  };
  const listen = () => {
    listening = true;
    req.on('data', onData).once('end', onEnd).once('error', onEnd).once('close', onEnd);
  };
  const release = () => {
    if (!listening) return;
    req.off('data', onData).off('end', onEnd).off('error', onEnd).off('close', onEnd);
    listening = false;
    parts = [];
    size = 0;
    if (!req.readableEnded) req.resume();
  };
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (!listening && !ended) listen();
        if (size === 0 && !ended) await new Promise<void>((resolve) => (wake = resolve));
        if (size > 0) {
          controller.enqueue(parts.length === 1 ? parts[0]! : joined(parts, size));
          parts = [];
          size = 0;
          req.resume();
        } else if (ended) controller.close();
      },
      cancel: release,
    },
    // Read only when asked, so nothing is held for a reader that is not there.
    { highWaterMark: 0 },
  );
  return { stream, release };
}

/** `parts` as one chunk for the store to free once stored; their own memory is freed at once (releasableChunks). */
function joined(parts: Buffer[], size: number): Buffer {
  const whole = handOver(Buffer.concat(parts, size));
  for (const part of parts) releaseStored(part);
  return whole;
}

/**
 * The web Request for @tus/server's `handleWeb` of a node request: its method, URL (http, on the Host
 * header: the server only reads upload ids from it, as uploads are created by createUpload, never by a tus
 * POST), headers, and (except GET and HEAD) `body`.
 */
export function webRequestOf(req: http.IncomingMessage, body: ReadableStream<Uint8Array>): Request {
  const method = req.method ?? 'GET';
  const headers = new Headers();
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
  const url = new URL(req.url ?? '/', `http://${req.headers.host ?? 'localhost'}`);
  return new Request(url, { method, headers, duplex: 'half', ...(method === 'GET' || method === 'HEAD' ? {} : { body }) });
}

/** Writes a web Response (a tus answer: status, headers and a short text body) to a node response. */
export async function sendWebResponse(res: http.ServerResponse, response: Response): Promise<void> {
  const body = response.body === null ? '' : await response.text();
  res.writeHead(response.status, Object.fromEntries(response.headers));
  res.end(body);
}
