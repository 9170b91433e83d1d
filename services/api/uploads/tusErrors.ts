import { ErrorCode, FramelogError } from '../../domain/errors.js';
import { toFramelogError } from '../errors.js';

const STATUS: Partial<Record<ErrorCode, number>> = {
  [ErrorCode.BAD_USER_INPUT]: 400,
  [ErrorCode.UNAUTHENTICATED]: 401,
  [ErrorCode.FORBIDDEN]: 403,
  [ErrorCode.NOT_FOUND]: 404,
  [ErrorCode.VIDEO_NOT_FOUND]: 404,
  [ErrorCode.UPLOAD_CONFLICT]: 409,
  [ErrorCode.UPLOAD_EXPIRED]: 410,
  [ErrorCode.UPLOAD_CANCELLED]: 410,
  [ErrorCode.UPLOAD_TOO_LARGE]: 413,
  [ErrorCode.DATABASE_UNAVAILABLE]: 503,
};

/** What tus's own refusals (status and plain-text body) stand for, so they get a stable code too. */
const TUS_STATUS_CODES: Record<number, ErrorCode> = {
  400: ErrorCode.BAD_USER_INPUT,
  403: ErrorCode.BAD_USER_INPUT,
  404: ErrorCode.NOT_FOUND,
  409: ErrorCode.UPLOAD_CONFLICT,
  410: ErrorCode.UPLOAD_EXPIRED,
  412: ErrorCode.BAD_USER_INPUT,
  413: ErrorCode.UPLOAD_TOO_LARGE,
  415: ErrorCode.BAD_USER_INPUT,
};

/** The response tus sends for an error thrown from a hook: `{ status_code, body }`. */
export class TusRefusal extends Error {
  constructor(
    readonly status_code: number,
    readonly body: string,
    readonly error: FramelogError,
  ) {
    super(error.message);
  }
}

const bodyOf = (error: FramelogError) => JSON.stringify({ errors: [{ message: error.message, extensions: { code: error.code, retryable: error.retryable } }] });

/** A typed error as a tus response, in the same shape as every other error of the API. */
export function tusRefusal(error: unknown): TusRefusal {
  if (error instanceof TusRefusal) return error;
  const typed = toFramelogError(error);
  return new TusRefusal(STATUS[typed.code] ?? 500, bodyOf(typed), typed);
}

/**
 * onResponseError: our refusals pass as they are; tus's own (an offset conflict, a body larger than the
 * upload, a missing header) get the code their status stands for and keep tus's message.
 */
export function mapTusError(error: Error | { status_code: number; body: string }): TusRefusal {
  if (error instanceof TusRefusal) return error;
  if (!(error instanceof Error) && typeof error.status_code === 'number' && error.status_code < 500) {
    const code = TUS_STATUS_CODES[error.status_code] ?? ErrorCode.BAD_USER_INPUT;
    const typed = new FramelogError(code, error.body.trim());
    return new TusRefusal(error.status_code, bodyOf(typed), typed);
  }
  return tusRefusal(error);
}
