import { unwrapResolverError } from '@apollo/server/errors';
import type { Response } from 'express';
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
  const { status, expose } = (error ?? {}) as { status?: unknown; expose?: unknown };
  if (status === 499) {
    return new FramelogError(ErrorCode.UPLOAD_FAILED, 'The upload stopped before the whole file arrived; send it again.', { retryable: true, cause: error });
  }
  if (expose === true && typeof status === 'number' && status >= 400 && status < 500 && error instanceof Error) {
    return new FramelogError(ErrorCode.BAD_USER_INPUT, error.message, { cause: error });
  }
  return new FramelogError(ErrorCode.INTERNAL, 'Internal server error.', { cause: error });
}

/** Maps every error once to a stable `extensions.code`; internal details never reach the client. */
export function createFormatError(log: Logger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const code = formatted.extensions?.code;
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
