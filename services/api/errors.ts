import { unwrapResolverError } from '@apollo/server/errors';
import { STATUS_CODES } from 'node:http';
import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { ZodError } from 'zod';
import { ErrorCode, FramelogError } from '../domain/errors.js';
import { isConnectionError } from '../eventstore/pgErrors.js';
import type { Logger } from '../logger.js';

/** Codes Apollo itself assigns to client mistakes; they pass through unchanged. */
const CLIENT_CODES = new Set(['GRAPHQL_PARSE_FAILED', 'GRAPHQL_VALIDATION_FAILED', 'BAD_USER_INPUT', 'BAD_REQUEST', 'PERSISTED_QUERY_NOT_FOUND', 'OPERATION_RESOLUTION_FAILURE']);

/** The typed error an arbitrary failure stands for, as far as a client should know. */
export function toFramelogError(error: unknown): FramelogError {
  if (error instanceof FramelogError) return error;
  if (error instanceof ZodError) {
    return new FramelogError(ErrorCode.BAD_USER_INPUT, error.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; '));
  }
  if (isConnectionError(error)) {
    return new FramelogError(ErrorCode.DATABASE_UNAVAILABLE, 'The database is unavailable; try again shortly.', { retryable: true, cause: error });
  }
  // The multipart parser (graphql-upload-minimal) fails an upload with an http-errors style error whose
  // message is meant for the client: the file part is missing, or the client went away mid-file.
  const status = clientErrorStatus(error);
  if (status === 499) {
    return new FramelogError(ErrorCode.UPLOAD_FAILED, 'The upload stopped before the whole file arrived; send it again.', { retryable: true, cause: error });
  }
  if (status !== undefined && (error as { expose?: unknown }).expose === true && error instanceof Error) {
    return new FramelogError(ErrorCode.BAD_USER_INPUT, error.message, { cause: error });
  }
  return new FramelogError(ErrorCode.INTERNAL, 'Internal server error.', { cause: error });
}

/** Maps every error once to a stable `extensions.code`; internal details never reach the client. */
export function createFormatError(log: Logger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const code = formatted.extensions?.code;
    // A scalar refusing a literal in the query (a DateTime out of range) says why with its own code.
    const scalarRefusal = code === 'GRAPHQL_VALIDATION_FAILED' && error instanceof GraphQLError ? error.originalError : undefined;
    if (scalarRefusal instanceof FramelogError) return { ...formatted, extensions: { ...formatted.extensions, code: scalarRefusal.code } };
    if (typeof code === 'string' && CLIENT_CODES.has(code)) return formatted;
    const cause = unwrapResolverError(error);
    // Plugins (the role gate) reject with a GraphQLError wrapping the typed error.
    const typed = toFramelogError(cause instanceof GraphQLError && cause.originalError instanceof FramelogError ? cause.originalError : cause);
    if (typed.code === ErrorCode.INTERNAL) log.error({ err: cause }, 'internal error in resolver');
    return {
      message: typed.message,
      ...(formatted.locations ? { locations: formatted.locations } : {}),
      ...(formatted.path ? { path: formatted.path } : {}),
      extensions: { code: typed.code, retryable: typed.retryable, ...publicDetails(typed) },
    };
  };
}

function publicDetails(error: FramelogError): Record<string, unknown> {
  return error.code === ErrorCode.INTERNAL ? {} : error.details;
}

/** Answers a request refused before GraphQL runs, in the shape of a GraphQL error response. */
export function respondWithError(res: Response, status: number, error: FramelogError): void {
  res.status(status).json({ errors: [{ message: error.message, extensions: { code: error.code, retryable: error.retryable } }] });
}

/** The 4xx status of an http-errors style error (body-parser, send, the multipart parser), if it has one. */
export function clientErrorStatus(error: unknown): number | undefined {
  const { status } = (error ?? {}) as { status?: unknown };
  return typeof status === 'number' && status >= 400 && status < 500 ? status : undefined;
}

/**
 * The last Express middleware: what fails outside GraphQL (a body that is not JSON or too large, a
 * missing or refused media file) is answered in the GraphQL error shape with a stable code, never with
 * Express's HTML page, which carries a stack trace outside production.
 */
export function httpErrorHandler(log: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, next) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const status = clientErrorStatus(error);
    if (status === undefined) {
      log.error({ err: error }, 'request failed outside GraphQL');
      respondWithError(res, 500, new FramelogError(ErrorCode.INTERNAL, 'Internal server error.'));
      return;
    }
    respondWithError(res, status, status === 404 ? notFound(req) : new FramelogError(ErrorCode.BAD_USER_INPUT, clientMessage(error, status)));
  };
}

/** After every route: what nothing answered (and a media file that is not there) is NOT_FOUND. */
export const notFoundHandler: RequestHandler = (req, res) => {
  respondWithError(res, 404, notFound(req));
};

const notFound = (req: Request) => new FramelogError(ErrorCode.NOT_FOUND, `Nothing at ${req.method} ${req.baseUrl}${req.path}.`);

function clientMessage(error: unknown, status: number): string {
  const { type, expose, message, limit } = (error ?? {}) as { type?: unknown; expose?: unknown; message?: unknown; limit?: unknown };
  if (type === 'entity.parse.failed') return 'The request body is not a valid JSON object.';
  if (type === 'entity.too.large') return `The request body is larger than the limit of ${String(limit)} bytes.`;
  return expose === true && typeof message === 'string' ? message : (STATUS_CODES[status] ?? 'Bad request');
}
