/**
 * Typed errors with stable codes. Codes are part of the API: clients match on them
 * (GraphQL `extensions.code`, event data `code`), so never rename one.
 */
export const ErrorCode = {
  // event log
  CONCURRENCY_CONFLICT: 'CONCURRENCY_CONFLICT',
  DUPLICATE_OUTCOME: 'DUPLICATE_OUTCOME',
  ILLEGAL_TRANSITION: 'ILLEGAL_TRANSITION',
  INVALID_EVENT: 'INVALID_EVENT',
  VIDEO_NOT_FOUND: 'VIDEO_NOT_FOUND',
  RETRY_NOT_ALLOWED: 'RETRY_NOT_ALLOWED',
  /** Another projection rebuild holds the database, or the swap could not get its lock in time. */
  REBUILD_IN_PROGRESS: 'REBUILD_IN_PROGRESS',
  // access
  /** No bearer token, or one that is unknown or revoked. */
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  /** The token's role does not allow the operation. */
  FORBIDDEN: 'FORBIDDEN',
  // client input
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  UPLOAD_TOO_LARGE: 'UPLOAD_TOO_LARGE',
  UPLOAD_EMPTY: 'UPLOAD_EMPTY',
  UPLOAD_FAILED: 'UPLOAD_FAILED',
  /** A resumable upload not finished within UPLOAD_EXPIRY_HOURS, or a tus request for one that expired. */
  UPLOAD_EXPIRED: 'UPLOAD_EXPIRED',
  /** A resumable upload its owner ended (tus DELETE). */
  UPLOAD_CANCELLED: 'UPLOAD_CANCELLED',
  /** A tus request for an upload that is already complete, cancelled, or of a size other than declared. */
  UPLOAD_CONFLICT: 'UPLOAD_CONFLICT',
  /** No such route or media file. */
  NOT_FOUND: 'NOT_FOUND',
  /** One more subscription would pass MAX_SUBSCRIPTIONS_PER_SOCKET or MAX_SUBSCRIPTIONS_PER_TOKEN. */
  TOO_MANY_SUBSCRIPTIONS: 'TOO_MANY_SUBSCRIPTIONS',
  // media
  NOT_A_VIDEO: 'NOT_A_VIDEO',
  UNSUPPORTED_FORMAT: 'UNSUPPORTED_FORMAT',
  NO_VIDEO_STREAM: 'NO_VIDEO_STREAM',
  MEDIA_CORRUPT: 'MEDIA_CORRUPT',
  /** The video stream's codec is one the system ffmpeg cannot decode (named in the message and details). */
  UNSUPPORTED_CODEC: 'UNSUPPORTED_CODEC',
  DURATION_LIMIT: 'DURATION_LIMIT',
  DIMENSION_LIMIT: 'DIMENSION_LIMIT',
  TOO_MANY_STREAMS: 'TOO_MANY_STREAMS',
  TRANSCODE_FAILED: 'TRANSCODE_FAILED',
  JOB_TIMEOUT: 'JOB_TIMEOUT',
  /** A range of a split video (DESIGN §11) kept failing or could not be encoded; the message names the range. */
  SEGMENT_FAILED: 'SEGMENT_FAILED',
  SOURCE_MISSING: 'SOURCE_MISSING',
  // messaging
  INVALID_MESSAGE: 'INVALID_MESSAGE',
  REDELIVERY_LIMIT: 'REDELIVERY_LIMIT',
  MAX_ATTEMPTS: 'MAX_ATTEMPTS',
  /** The broker dead-lettered the task's message on its own (e.g. its delivery limit) before any outcome. */
  DEAD_LETTERED: 'DEAD_LETTERED',
  /** A worker was stopped mid-attempt; the task was requeued without counting the attempt. */
  WORKER_SHUTDOWN: 'WORKER_SHUTDOWN',
  // infrastructure
  DATABASE_UNAVAILABLE: 'DATABASE_UNAVAILABLE',
  BROKER_UNAVAILABLE: 'BROKER_UNAVAILABLE',
  CONFIG_INVALID: 'CONFIG_INVALID',
  INTERNAL: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface FramelogErrorOptions {
  /** Whether trying the same work again may succeed (drives worker retries). */
  retryable?: boolean;
  details?: Record<string, unknown>;
  cause?: unknown;
}

export class FramelogError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: FramelogErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details ?? {};
  }
}

/** An append stated a version the stream no longer has: reload and decide again. */
export class ConcurrencyError extends FramelogError {
  constructor(
    readonly streamId: string,
    readonly expectedVersion: number,
    options: FramelogErrorOptions = {},
  ) {
    super(
      ErrorCode.CONCURRENCY_CONFLICT,
      `Stream ${streamId} is no longer at version ${expectedVersion}; reload it and try again.`,
      { ...options, retryable: true, details: { streamId, expectedVersion } },
    );
  }
}

/** The database refused a second terminal event for one task. */
export class DuplicateOutcomeError extends FramelogError {
  constructor(readonly streamId: string, readonly taskId: string, options: FramelogErrorOptions = {}) {
    super(ErrorCode.DUPLICATE_OUTCOME, `Task ${taskId} of video ${streamId} already has an outcome.`, {
      ...options,
      details: { streamId, taskId },
    });
  }
}

export class IllegalTransitionError extends FramelogError {
  constructor(readonly status: string | null, readonly eventType: string, reason: string) {
    super(ErrorCode.ILLEGAL_TRANSITION, `${eventType} cannot follow status ${status ?? '(new stream)'}: ${reason}`, {
      details: { status, eventType },
    });
  }
}

export class NotFoundError extends FramelogError {
  constructor(readonly videoId: string) {
    super(ErrorCode.VIDEO_NOT_FOUND, `No video with id ${videoId}.`, { details: { videoId } });
  }
}


/** The message of anything thrown, for logs and wrapped errors. */
export const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));
