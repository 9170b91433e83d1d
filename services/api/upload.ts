import type { Readable } from 'node:stream';
import type { Request, RequestHandler } from 'express';
import { processRequest, type FileUpload } from 'graphql-upload-minimal';
import { ErrorCode, FramelogError } from '../domain/errors.js';
import { respondWithError } from './errors.js';

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
    processRequest(req, res, { maxFiles: options.maxFiles, maxFieldSize: options.maxFieldSize }).then(
      (operations) => {
        req.body = operations;
        next();
      },
      (error: unknown) => {
        // Whatever stops the parser before the operation exists is the request's fault (misordered or
        // malformed fields, too many files, a cut-off body); its status and message are meant for clients.
        const status = statusOf(error) ?? 400;
        const message = error instanceof Error ? error.message : 'The multipart request could not be read.';
        if (!res.headersSent && !res.destroyed) respondWithError(res, status, new FramelogError(ErrorCode.BAD_USER_INPUT, message, { cause: error }));
        discardRest(req);
      },
    );
  };
}

function discardRest(req: Request): void {
  if (req.readableEnded || req.destroyed) return;
  req.unpipe();
  req.resume();
}

const statusOf = (error: unknown): number | undefined => {
  const status = (error as { status?: unknown } | null)?.status;
  return typeof status === 'number' && status >= 400 && status < 500 ? status : undefined;
};

/** Files already handed to a resolver: the parser gives each file part out once. */
const opened = new WeakSet<FileUpload>();

/** The file of an `Upload` argument as the live request stream; a file part can be read once. */
export async function openUpload(file: Promise<FileUpload>): Promise<{ stream: Readable; filename: string; mimetype: string }> {
  const upload = await file;
  if (opened.has(upload)) {
    throw new FramelogError(ErrorCode.BAD_USER_INPUT, 'This file was already read by another field of the request; send one file per uploadVideo.');
  }
  opened.add(upload);
  return { stream: upload.createReadStream(), filename: upload.filename, mimetype: upload.mimetype };
}
