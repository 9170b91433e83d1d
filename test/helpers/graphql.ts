import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import path from 'node:path';
import { waitFor } from './processes.js';

export interface GraphQLResponse<T> {
  data?: T;
  errors?: { message: string; extensions?: { code?: string; [key: string]: unknown } }[];
}

/** A plain GraphQL POST, as any client would send it. */
export async function gql<T = Record<string, unknown>>(baseUrl: string, query: string, variables: Record<string, unknown> = {}, headers: Record<string, string> = {}): Promise<GraphQLResponse<T>> {
  const response = await fetch(`${baseUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as GraphQLResponse<T>;
}

export const UPLOAD_MUTATION = `mutation Upload($file: Upload!, $title: String) {
  uploadVideo(file: $file, title: $title) { id status title originalFilename sizeBytes sha256 version }
}`;

export interface UploadOptions {
  title?: string;
  filename?: string;
  /** Sent as-is; the default carries Apollo's CSRF preflight header. */
  headers?: Record<string, string>;
  /** Header lines of the file part (default: its Content-Disposition and Content-Type), for malformed bodies. */
  filePartHeader?: readonly string[];
  /** What follows the file's bytes (default: the closing boundary), for malformed bodies. */
  tail?: (boundary: string) => string;
}

/** An upload following the GraphQL multipart request spec (operations, map, then the file). */
export async function uploadFile(baseUrl: string, filePath: string, options: UploadOptions = {}): Promise<{ status: number; body: GraphQLResponse<{ uploadVideo: { id: string; status: string; sha256: string; sizeBytes: number; version: number } }> }> {
  const form = new FormData();
  form.append('operations', JSON.stringify({ query: UPLOAD_MUTATION, variables: { file: null, title: options.title ?? null } }));
  form.append('map', JSON.stringify({ 0: ['variables.file'] }));
  form.append('0', new Blob([await readFile(filePath)]), options.filename ?? path.basename(filePath));
  const response = await fetch(`${baseUrl}/graphql`, {
    method: 'POST',
    headers: options.headers ?? { 'apollo-require-preflight': 'true' },
    body: form,
  });
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text) as Awaited<ReturnType<typeof uploadFile>>['body'];
  } catch {
    body = { errors: [{ message: text }] };
  }
  return { status: response.status, body };
}

export interface StreamedUploadOptions {
  /** The GraphQL request; its `variables.file` is mapped to the file part. Default: UPLOAD_MUTATION. */
  operations?: { query: string; variables: Record<string, unknown>; operationName?: string };
  /** The file's bytes, sent as they come: exactly `bytes` of them. */
  file: AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  bytes: number;
  /** Sent as-is; the default carries Apollo's CSRF preflight header. */
  headers?: Record<string, string>;
  /** Header lines of the file part (default: its Content-Disposition and Content-Type), for malformed bodies. */
  filePartHeader?: readonly string[];
  /** What follows the file's bytes (default: the closing boundary), for malformed bodies. */
  tail?: (boundary: string) => string;
}

export interface HttpAnswer {
  status: number;
  body: string;
}

export interface StreamedUpload {
  /** The upload's answer, which may come before the whole request body was sent. */
  response: Promise<HttpAnswer>;
  /**
   * The answer to a `GET /healthz` sent on the same connection right after the upload's body: it only
   * comes once the server has read the upload's body to its end.
   */
  next: Promise<HttpAnswer>;
  /** Destroys the connection mid-body, as a client that goes away. */
  abort(): void;
}

/**
 * Streams a GraphQL multipart request (operations, map, then the file) with a known length over a plain
 * socket, so neither side buffers it, then asks `GET /healthz` on the same connection. The socket keeps
 * sending after an early answer, as curl does: node's own clients stop, which would hide a server that
 * never reads the rest of a refused body.
 */
export function streamUpload(url: string, options: StreamedUploadOptions): StreamedUpload {
  const target = new URL(url);
  const boundary = `----framelogtest${randomBytes(8).toString('hex')}`;
  const operations = options.operations ?? { query: UPLOAD_MUTATION, variables: { file: null, title: null } };
  const head = Buffer.from(
    [
      `--${boundary}`,
      'Content-Disposition: form-data; name="operations"',
      '',
      JSON.stringify(operations),
      `--${boundary}`,
      'Content-Disposition: form-data; name="map"',
      '',
      JSON.stringify({ 0: ['variables.file'] }),
      `--${boundary}`,
      ...(options.filePartHeader ?? ['Content-Disposition: form-data; name="0"; filename="upload.bin"', 'Content-Type: application/octet-stream']),
      '',
      '',
    ].join('\r\n'),
  );
  const tail = Buffer.from(options.tail?.(boundary) ?? `\r\n--${boundary}--\r\n`);
  const headers = {
    host: target.host,
    'content-type': `multipart/form-data; boundary=${boundary}`,
    'content-length': String(head.length + options.bytes + tail.length),
    ...(options.headers ?? { 'apollo-require-preflight': 'true' }),
  };
  const requestHead = `POST ${target.pathname} HTTP/1.1\r\n${Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('')}\r\n`;
  const probe = `GET /healthz HTTP/1.1\r\nhost: ${target.host}\r\nconnection: close\r\n\r\n`;

  const socket = connect(Number(target.port), target.hostname);
  let first!: (answer: HttpAnswer) => void;
  const response = new Promise<HttpAnswer>((resolve) => (first = resolve));
  const answers = readAnswers(socket, first);
  const send = async () => {
    const write = async (chunk: Uint8Array | string) => {
      if (!socket.write(chunk)) await once(socket, 'drain');
    };
    await write(requestHead);
    await write(head);
    for await (const chunk of options.file) await write(chunk);
    await write(tail);
    await write(probe);
  };
  send().catch((error: unknown) => socket.destroy(error instanceof Error ? error : new Error(String(error))));
  const next = answers.then(([, second]) => second);
  // Whoever awaits only one of them must not see the other's rejection as unhandled.
  next.catch(() => undefined);
  return { response: Promise.race([response, answers.then(([answer]) => answer)]), next, abort: () => socket.destroy() };
}

/** The two answers on a connection, each read as soon as it is whole. */
async function readAnswers(socket: Socket, onFirst: (answer: HttpAnswer) => void): Promise<[HttpAnswer, HttpAnswer]> {
  let buffer = Buffer.alloc(0);
  const answers: HttpAnswer[] = [];
  for await (const chunk of socket as AsyncIterable<Buffer>) {
    buffer = Buffer.concat([buffer, chunk]);
    for (let answer = parseAnswer(buffer); answer; answer = parseAnswer(buffer)) {
      buffer = buffer.subarray(answer.consumed);
      answers.push(answer);
      if (answers.length === 1) onFirst(answer);
      else return [answers[0]!, answer];
    }
  }
  throw new Error(`The connection closed after ${answers.length} of 2 answers.`);
}

/** One HTTP/1.1 answer at the start of `buffer` (content-length or chunked body), or null if not all there yet. */
function parseAnswer(buffer: Buffer): (HttpAnswer & { consumed: number }) | null {
  const headEnd = buffer.indexOf('\r\n\r\n');
  if (headEnd < 0) return null;
  const [statusLine = '', ...fields] = buffer.subarray(0, headEnd).toString('latin1').split('\r\n');
  const status = Number(statusLine.split(' ')[1]);
  const header = (name: string) => fields.find((field) => field.toLowerCase().startsWith(`${name}:`))?.slice(name.length + 1).trim();
  let at = headEnd + 4;
  if (header('transfer-encoding')?.toLowerCase() !== 'chunked') {
    const length = Number(header('content-length') ?? 0);
    return buffer.length < at + length ? null : { status, body: buffer.subarray(at, at + length).toString(), consumed: at + length };
  }
  const parts: Buffer[] = [];
  for (;;) {
    const lineEnd = buffer.indexOf('\r\n', at);
    if (lineEnd < 0) return null;
    const size = Number.parseInt(buffer.subarray(at, lineEnd).toString('latin1'), 16);
    if (buffer.length < lineEnd + 2 + size + 2) return null;
    if (size === 0) return { status, body: Buffer.concat(parts).toString(), consumed: lineEnd + 4 };
    parts.push(buffer.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
}

export const VIDEO_QUERY = `query Video($id: ID!) {
  video(id: $id) {
    id status attempts version title
    lastError { code message retryable attempt }
    media { durationSeconds width height videoCodec audioCodec frameRate rotation }
    renditions { label width height sizeBytes url }
    posterUrl
    history { position version type data metadata recordedAt hash }
  }
}`;

/** The video as VIDEO_QUERY reads it, typed as the caller reads it; a GraphQL error throws. */
export async function videoById<T>(baseUrl: string, id: string): Promise<T> {
  const response = await gql<{ video: T }>(baseUrl, VIDEO_QUERY, { id });
  if (response.errors) throw new Error(`video(${id}) answered errors: ${JSON.stringify(response.errors)}`);
  return response.data!.video;
}

/** Polls videoById until the video is PROCESSED or FAILED, and returns it. */
export function waitForTerminal<T extends { status: string }>(baseUrl: string, id: string, timeoutMs = 240_000): Promise<T> {
  return waitFor(
    async () => {
      const video = await videoById<T>(baseUrl, id);
      return video.status === 'PROCESSED' || video.status === 'FAILED' ? video : null;
    },
    { timeoutMs, intervalMs: 250, message: `video ${id} to reach a terminal state` },
  );
}

