import type { Readable } from 'node:stream';
import type { Request, RequestHandler } from 'express';
import { processRequest, type FileUpload } from 'graphql-upload-minimal';
import { ErrorCode, FramelogError, messageOf } from '../domain/errors.js';
import { handOver } from '../media/storage/releasableChunks.js';
import { clientErrorStatus, respondWithError } from './errors.js';

export interface MultipartOptions {
  maxFiles: number;
  /** Largest `operations` or `map` field, in bytes. */
  maxFieldSize: number;
}

/**
 * Express middleware for GraphQL multipart requests (operations, map, then the files), through
 * graphql-upload-minimal: it stores nothing, and an Upload's `createReadStream()` is the live file part
 * of the request body, so `uploadVideo` writes the file once, straight into storage, with the request
 * paused whenever storage is slower than the client.
 *
 * No `maxFileSize` is given to the parser: on its limit graphql-upload-minimal unpipes the file stream,
 * which leaves a consumer waiting forever; storage enforces `MAX_UPLOAD_BYTES` itself as bytes arrive.
 */
export function graphqlMultipart(options: MultipartOptions): RequestHandler {
  return (req, res, next) => {
    if (!req.is('multipart/form-data')) {
      next();
      return;
    }
    // The parser does not read ahead of the resolver, so a response sent before the file was read to its
    // end (a query refused at validation, a bad title, a file over the limit) would leave a client that
    // keeps sending (curl does) stuck until node resets the connection after its 5 s keep-alive timeout:
    // discard the rest instead, so the request completes and the connection stays usable.
    res.once('finish', () => discardRest(req));
    keepListeningForParserErrors(req);
    processRequest(req, res, { maxFiles: options.maxFiles, maxFieldSize: options.maxFieldSize }).then(
      (operations) => {
        req.body = operations;
        next();
      },
      (error: unknown) => {
        // Whatever stops the parser before the operation exists is the request's fault (misordered or
        // malformed fields, too many files, a cut-off body); its status and message are meant for clients.
        const status = clientErrorStatus(error) ?? 400;
        const message = error instanceof Error ? error.message : 'The multipart request could not be read.';
        if (!res.headersSent && !res.destroyed) respondWithError(res, status, new FramelogError(ErrorCode.BAD_USER_INPUT, message, { cause: error }));
        discardRest(req);
      },
    );
  };
}

/**
 * graphql-upload-minimal (1.6.4, the latest) stops listening for the parser's errors after the first
 * one and then destroys the parser, and busboy may emit a second error on destroy ("Malformed part
 * header" is followed by "Unexpected end of form"). Nobody would be listening, and the process would
 * crash on one malformed request. The library pipes the request into the parser; this gives the parser
 * a listener for its whole life. The first error still reaches the library's own listener.
 */
function keepListeningForParserErrors(req: Request): void {
  const pipe = req.pipe.bind(req);
  req.pipe = <T extends NodeJS.WritableStream>(destination: T, options?: { end?: boolean }): T => {
    destination.on('error', () => undefined);
    return pipe(destination, options);
  };
}

function discardRest(req: Request): void {
  if (req.readableEnded || req.destroyed) return;
  req.unpipe();
  req.resume();
}

/** Files already handed to a resolver: the parser gives each file part out once. */
const opened = new WeakSet<FileUpload>();

/** The file of an `Upload` argument as the live request stream; a file part can be read once. */
export async function openUpload(file: Promise<FileUpload>): Promise<{ stream: Readable; filename: string; mimetype: string }> {
  const upload = await file.catch((error: unknown) => {
    throw requestBodyError(error);
  });
  if (opened.has(upload)) {
    throw new FramelogError(ErrorCode.BAD_USER_INPUT, 'This file was already read by another field of the request; send one file per uploadVideo.');
  }
  opened.add(upload);
  let stream: Readable;
  try {
    // Throws what already ended the file part, if anything did before the resolver got to it.
    stream = upload.createReadStream();
  } catch (error) {
    throw requestBodyError(error);
  }
  handOverPushedChunks(stream);
  return { stream, filename: upload.filename, mimetype: upload.mimetype };
}

/**
 * Marks each chunk the multipart parser pushes into the file part from now on as handed over
 * (releasableChunks), so storage frees it once its bytes are stored instead of leaving it to V8's next
 * full collection (`upload` and `upload-s3` in the README's benchmarks). Sound because busboy (1.6)
 * pushes a file's bytes either copied out of its look-behind buffer or as a view of the request chunk
 * they arrived in, and keeps neither; a view of only part of a chunk (a boundary was in it) is never
 * marked (handOver).
 */
function handOverPushedChunks(stream: Readable): void {
  const push = stream.push.bind(stream);
  stream.push = (chunk: unknown, encoding?: BufferEncoding) => push(chunk instanceof Uint8Array ? handOver(chunk) : chunk, encoding);
}

/**
 * What the multipart parser failed with, as the client's error. Its own errors (a missing file, a
 * client gone) carry an HTTP status that toFramelogError reads; busboy's (a malformed part header, a
 * body that ends mid-form) are plain Errors about the request body.
 */
function requestBodyError(error: unknown): unknown {
  if (clientErrorStatus(error) !== undefined || error instanceof FramelogError) return error;
  return new FramelogError(ErrorCode.BAD_USER_INPUT, `The multipart request body is malformed: ${messageOf(error)}.`, { cause: error });
}
