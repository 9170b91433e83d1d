/**
 * The error a media attempt throws when its AbortSignal fires (worker shutdown). Its name is 'AbortError',
 * like DOM and Node aborts, so callers tell "stopped on purpose" (requeue, count nothing) from failure.
 */
export function abortError(signal?: AbortSignal): Error {
  const error = new Error('The media job was aborted before it finished.', { cause: signal?.reason });
  error.name = 'AbortError';
  return error;
}

export const isAbortError = (error: unknown): boolean => error instanceof Error && error.name === 'AbortError';
