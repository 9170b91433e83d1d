/** PostgreSQL errors are matched by SQLSTATE (and constraint name), never by message text. */
export const SqlState = {
  UNIQUE_VIOLATION: '23505',
  /** lock_timeout expired. */
  LOCK_NOT_AVAILABLE: '55P03',
  /** Raised by the events chain trigger: the stated version does not follow the stream's last one. */
  STREAM_VERSION_GAP: 'FL001',
  /** Raised by the append-only trigger on UPDATE, DELETE or TRUNCATE of events. */
  APPEND_ONLY: 'FL002',
  /** Raised by framelog_append (migrations/0004) when asked to append no event. */
  EMPTY_APPEND: 'FL003',
} as const;

export interface PgError {
  code: string;
  constraint?: string;
}

export function isPgError(error: unknown): error is PgError {
  return typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string';
}

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '57P01', '57P02', '57P03', '08000', '08003', '08006', '08001', '08004']);

/** True when the failure is PostgreSQL being unreachable rather than the statement being wrong. */
export function isConnectionError(error: unknown): boolean {
  if (isPgError(error) && CONNECTION_CODES.has(error.code)) return true;
  const message = error instanceof Error ? error.message : '';
  // pg reports these without a code.
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(message);
}
