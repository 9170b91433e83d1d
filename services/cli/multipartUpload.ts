import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface MultipartUploadInput {
  /** The GraphQL endpoint, e.g. http://127.0.0.1:4000/graphql. */
  endpoint: string;
  filePath: string;
  query: string;
  variables: Record<string, unknown>;
  /** Which variable the file is (GraphQL multipart request spec `map`). */
  fileVariable: string;
  headers?: Record<string, string>;
  onProgress?: (sentBytes: number, totalBytes: number) => void;
}

/**
 * One request under the GraphQL multipart request spec (operations, map, then the file), with the
 * file streamed from disk: memory stays flat whatever its size. The length is computed up front so
 * the server sees a plain Content-Length request.
 */
export async function multipartUpload(input: MultipartUploadInput): Promise<{ status: number; body: string }> {
  const { size } = await stat(input.filePath);
  const boundary = `----framelog${randomBytes(12).toString('hex')}`;
  const field = (name: string, value: string) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  const filename = path.basename(input.filePath).replace(/["\r\n]/g, '_');
  const head = Buffer.from(
    field('operations', JSON.stringify({ query: input.query, variables: { ...input.variables, [input.fileVariable]: null } })) +
      field('map', JSON.stringify({ 0: [`variables.${input.fileVariable}`] })) +
      `--${boundary}\r\nContent-Disposition: form-data; name="0"; filename="${filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);

  const url = new URL(input.endpoint);
  const request = (url.protocol === 'https:' ? https : http).request(url, {
    method: 'POST',
    headers: {
      ...input.headers,
      // Apollo's CSRF prevention refuses multipart without it.
      'apollo-require-preflight': 'true',
      'content-type': `multipart/form-data; boundary=${boundary}`,
      'content-length': String(head.length + size + tail.length),
    },
  });
  const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
    request.once('error', reject);
    request.once('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.once('error', reject);
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
  });

  let sent = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      sent += chunk.length;
      input.onProgress?.(sent, size);
      done(null, chunk);
    },
  });
  request.write(head);
  // The server may answer (and refuse) before the whole file is sent; its answer is what counts.
  const sending = pipeline(createReadStream(input.filePath), counter, async function* (source: AsyncIterable<Buffer>) {
    for await (const chunk of source) yield chunk;
    yield tail;
  }, request).catch(() => undefined);
  const result = await response;
  await sending;
  return result;
}
